package source

import (
	"io/fs"
	"net/http"
)

// sourceError is a one-line error about a remote source. It names the
// source without credentials or query string, and matches fs.ErrNotExist
// for HTTP 404 and fs.ErrPermission for 401 and 403, like a local file.
type sourceError struct {
	src    string // the source for people: no user info, no query
	msg    string
	status int // HTTP status, 0 when there was no response
	err    error
}

func (e *sourceError) Error() string {
	return "source " + e.src + ": " + e.msg
}

func (e *sourceError) Unwrap() error { return e.err }

func (e *sourceError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.status == http.StatusNotFound
	case fs.ErrPermission:
		return e.status == http.StatusUnauthorized || e.status == http.StatusForbidden
	}
	return false
}
