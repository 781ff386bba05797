// Package errs defines the error type every layer returns when the caller,
// not the program, is at fault. An error carries a stable Code that the HTTP
// layer maps to a status (one table, in package httpx) and, for validation
// failures, the name of the offending field.
//
// Messages must never contain PHI: they are returned to clients and logged.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error. The values are part of the public API: they
// appear in problem+json "type" URIs and must not change.
type Code string

// The error codes. Anything that is not an *Error is treated as Internal.
const (
	CodeInvalid      Code = "invalid"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeTooLarge     Code = "too_large"
	CodeRateLimited  Code = "rate_limited"
	CodeUnavailable  Code = "unavailable"
	CodeInternal     Code = "internal"
)

// Error is an error with a code, an optional field path (for example
// "dosageInstruction[0].timing.repeat.timeOfDay[1]") and a message that is
// safe to show to the client.
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error // optional cause, never shown to clients
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error with a formatted message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input in the named field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports that the named kind of resource does not exist (or is not
// visible to the caller: we never reveal records of another organization).
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// Forbidden reports that the caller may not do this.
func Forbidden(format string, args ...any) *Error {
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a state conflict, such as a duplicate or a stale version.
func Conflict(format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

// Unauthorized reports missing or bad credentials.
func Unauthorized(format string, args ...any) *Error {
	return &Error{Code: CodeUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or
// CodeInternal when there is none. A nil error has no code ("").
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return CodeOf(err) == code }

// PrefixField prepends a parent path to the field of every *Error in err's
// chain, so a nested validator can report "repeat.offset" and the caller can
// turn it into "dosageInstruction[0].timing.repeat.offset".
func PrefixField(err error, parent string) error {
	var e *Error
	if !errors.As(err, &e) || parent == "" {
		return err
	}
	cp := *e
	switch {
	case cp.Field == "":
		cp.Field = parent
	case cp.Field[0] == '[':
		cp.Field = parent + cp.Field
	default:
		cp.Field = parent + "." + cp.Field
	}
	return &cp
}
