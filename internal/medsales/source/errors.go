package source

import (
	"errors"
	"io/fs"
	"net/http"
)

// ErrInput is matched (errors.Is) by the errors of Open that another
// attempt would meet again, the source as given being at fault: it names
// nothing to load (no such file or object, HTTP 404, access refused with
// 401 or 403, another 4xx refusal) or nothing loadable (a directory, a
// zip from a pipe, a truncated archive, one without the dataset's file
// or with its files of several data years, a member of an unsupported
// compression), or has no form Open reads. A network failure, an HTTP
// 5xx, 408 or 429, a source changed while being read or a missing AWS
// configuration does not match: a later attempt may pass, or (ErrConfig)
// the fault is the reader's configuration, not the source.
var ErrInput = errors.New("source cannot be loaded as given")

// ErrConfig is matched by the errors of Open for an s3:// source that the
// AWS configuration of the process cannot read: the configuration does not
// load (a profile it does not define, a malformed shared file) or gives no
// credentials (none in the environment or shared files, no container or
// instance role). Every attempt meets it again until the configuration is
// fixed. Throttling by a credentials service, a network failure reaching
// S3 and a cancelled context do not match.
var ErrConfig = errors.New("AWS configuration cannot read s3:// sources")

// ErrSkipped is returned by Open when Options.SkipArchive said to skip an
// archive rather than download it whole.
var ErrSkipped = errors.New("source skipped: its archive has not changed")

// configError marks err as matching ErrConfig; it reads as err.
type configError struct{ err error }

func (e *configError) Error() string        { return e.err.Error() }
func (e *configError) Unwrap() error        { return e.err }
func (e *configError) Is(target error) bool { return target == ErrConfig }

// inputError marks err as matching ErrInput; it reads as err.
type inputError struct{ err error }

func (e *inputError) Error() string        { return e.err.Error() }
func (e *inputError) Unwrap() error        { return e.err }
func (e *inputError) Is(target error) bool { return target == ErrInput }

// badInput returns err marked as matching ErrInput.
func badInput(err error) error { return &inputError{err: err} }

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
	case ErrInput:
		// A refusal of the request, except those a later attempt may
		// not meet: a timeout, a change while reading, a rate limit.
		switch e.status {
		case http.StatusRequestTimeout, http.StatusPreconditionFailed, http.StatusTooEarly, http.StatusTooManyRequests:
			return false
		}
		return e.status >= 400 && e.status < 500
	}
	return false
}
