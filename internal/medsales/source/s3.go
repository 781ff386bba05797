package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/medplatform/medplatform/internal/platform/blob"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// S3Getter is the part of the S3 API that Open uses; *s3.Client implements
// it.
type S3Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// s3Source is an S3 object read with ranged GetObject calls.
type s3Source struct {
	client      S3Getter
	bucket, key string
	display     string
	size        int64
	etag        string // ETag of the first response, sent as If-Match
}

// splitS3 returns the bucket and key of an s3://bucket/key URL; the
// scheme may be in any case (Open matched it so).
//
// An s3:// URL carries no user info (credentials come from the AWS
// configuration), and a query or fragment is no part of a key (a key
// pasted with its presigned signature): such a URL is refused, named
// without them. Read as written, the user info became part of the bucket
// and the query part of the key, and every error repeated both. A key
// holding a "?" or "#" cannot be named; an "@" in a key is fine.
func splitS3(src string) (bucket, key string, err error) {
	authority, _, _ := strings.Cut(src[len("s3://"):], "/")
	if strings.Contains(authority, "@") || strings.ContainsAny(src, "?#") {
		return "", "", badInput(fmt.Errorf("source %s: want s3://bucket/key without user info, query or fragment (credentials come from the AWS configuration)", RedactURL(src)))
	}
	bucket, key, ok := strings.Cut(src[len("s3://"):], "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		// Named redacted: a malformed source may still carry user info or
		// a query (a key pasted with its presigned signature).
		return "", "", badInput(fmt.Errorf("source %s: want s3://bucket/key", RedactURL(src)))
	}
	return bucket, key, nil
}

func openS3(ctx context.Context, src string, opts Options) (*File, error) {
	bucket, key, err := splitS3(src)
	if err != nil {
		return nil, err
	}
	s := &s3Source{client: opts.S3, bucket: bucket, key: key, display: "s3://" + bucket + "/" + key}
	if s.client != nil {
		return s.open(ctx, opts)
	}
	// The SDK's own HTTP client, which honours AWS_CA_BUNDLE and the
	// other SDK settings; a stalled body is caught by the watchdog.
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := blob.NewS3Client(ctx, opts.S3Endpoint, config.WithLogger(telemetry.AWSLogger(logger)))
	if err != nil {
		return nil, &configError{err: &sourceError{src: s.display, msg: err.Error(), err: err}}
	}
	// The credentials are resolved before the first GetObject (which
	// reuses them from the client's cache), so that a configuration giving
	// none fails as such: inside GetObject the failure read as one of the
	// request, and an instance metadata service answering 404 for a
	// missing role as S3's own 404.
	if cp := c.Options().Credentials; cp != nil {
		if _, err := cp.Retrieve(ctx); err != nil {
			e := &sourceError{src: s.display, msg: "no AWS credentials: " + err.Error(), err: err}
			if ctx.Err() != nil || retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
				return nil, e
			}
			return nil, &configError{err: e}
		}
	}
	s.client = c
	return s.open(ctx, opts)
}

func (s *s3Source) open(ctx context.Context, opts Options) (*File, error) {
	name := path.Base(s.key)

	w := newWatchdog(ctx, stallTimeout)
	out, err := s.client.GetObject(w.ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &s.key}, quiet)
	if err != nil {
		w.stop()
		return nil, s.error(err)
	}
	w.timer.Stop()
	body := w.wrap(out.Body)
	s.size = aws.ToInt64(out.ContentLength)
	if out.ContentLength == nil {
		s.size = -1
	}
	s.etag = aws.ToString(out.ETag)
	version, why := fmt.Sprintf("%s etag=%s size=%d", s.display, strconv.Quote(s.etag), s.size), ""
	if s.etag == "" {
		version, why = "", "the S3 response carried no ETag, which tells the object's version"
	}
	f, err := s.openBody(ctx, body, name, version, opts)
	if err != nil {
		return nil, err
	}
	f.stamp(version, why)
	return f, nil
}

// openBody returns the File reading the object whose first GetObject's
// (watched) body is body; version is its stamp, or "".
func (s *s3Source) openBody(ctx context.Context, body io.ReadCloser, name, version string, opts Options) (*File, error) {
	br := bufio.NewReaderSize(body, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		body.Close()
		return nil, &sourceError{src: s.display, msg: "read: " + err.Error(), err: err}
	}
	switch {
	case !isZip(head, name) && s.size >= 0:
		rr := newRemoteReader(ctx, s.size, s.fetch)
		rr.adopt(struct {
			io.Reader
			io.Closer
		}{br, body})
		return newFile(name, "", s.size, rr.stream(), s.display, rr.Close), nil
	case !isZip(head, name):
		return newFile(name, "", -1, br, s.display, body.Close), nil
	case s.size < 0:
		defer body.Close()
		if err := skipArchive(opts, version, s.display); err != nil {
			return nil, err
		}
		return spoolZip(br, -1, s.display, name, opts)
	default:
		body.Close()
		rr := newRemoteReader(ctx, s.size, s.fetch)
		f, err := openZip(rr, s.size, s.display, name, opts)
		if err == nil {
			f.closeLast(rr.Close)
			return f, nil
		}
		rr.Close()
		if !errors.Is(err, errRangeIgnored) {
			return nil, err
		}
		// An S3-compatible endpoint (a gateway, a proxy) that answers
		// a ranged GET with the whole object: the archive's directory,
		// at its end, can only be reached by keeping a copy, as from an
		// https server without ranges.
		return s.spool(ctx, name, version, opts)
	}
}

// errRangeIgnored is the error of a ranged GetObject answered with the
// whole object.
var errRangeIgnored = errors.New("the endpoint ignored the Range request and sent the whole object")

// spool downloads the archive whole into a temporary file and opens it
// there (see spoolZip), the version read first (If-Match its ETag).
func (s *s3Source) spool(ctx context.Context, name, version string, opts Options) (*File, error) {
	if err := skipArchive(opts, version, s.display); err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &s.key}
	if s.etag != "" {
		in.IfMatch = &s.etag
	}
	w := newWatchdog(ctx, stallTimeout)
	out, err := s.client.GetObject(w.ctx, in, quiet)
	if err != nil {
		w.stop()
		return nil, s.error(err)
	}
	w.timer.Stop()
	body := w.wrap(out.Body)
	defer body.Close()
	return spoolZip(body, s.size, s.display, name, opts)
}

// quiet stops the SDK from logging, for every ranged GetObject, that the
// response carries no checksum to validate: S3 sends none for ranges.
func quiet(o *s3.Options) {
	o.DisableLogOutputChecksumValidationSkipped = true
}

// fetch implements fetchFunc with a ranged GetObject.
func (s *s3Source) fetch(ctx context.Context, off, end int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{
		Bucket: &s.bucket,
		Key:    &s.key,
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, end-1)),
	}
	if s.etag != "" {
		in.IfMatch = &s.etag
	}
	out, err := s.client.GetObject(ctx, in, quiet)
	if err != nil {
		return nil, s.error(err)
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		first, _, total, ok := parseContentRange(cr)
		if !ok || first != off || (total >= 0 && total != s.size) {
			out.Body.Close()
			return nil, &sourceError{src: s.display, msg: fmt.Sprintf("bad Content-Range %q in reply to bytes=%d-%d", cr, off, end-1)}
		}
	} else if out.ContentLength != nil && *out.ContentLength != end-off {
		out.Body.Close()
		if *out.ContentLength == s.size {
			return nil, &sourceError{src: s.display, msg: fmt.Sprintf("%v (bytes=%d-%d asked)", errRangeIgnored, off, end-1), err: errRangeIgnored}
		}
		return nil, &sourceError{src: s.display, msg: fmt.Sprintf("got %d bytes in reply to bytes=%d-%d", *out.ContentLength, off, end-1)}
	}
	// An S3-compatible endpoint that ignores If-Match would resume with
	// another version's bytes: its ETag says so.
	if et := aws.ToString(out.ETag); et != "" && s.etag != "" && et != s.etag {
		out.Body.Close()
		return nil, &sourceError{src: s.display, msg: fmt.Sprintf("changed in S3 while being read (the ETag of bytes %d-%d differs from the first response's)", off, end-1)}
	}
	return out.Body, nil
}

// error turns an SDK error into a one-line error naming the object: the
// HTTP status and the S3 error code and message when S3 answered, else the
// SDK's own description (which never contains credentials).
func (s *s3Source) error(err error) error {
	e := &sourceError{src: s.display, err: err}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		e.status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	switch {
	case e.status == 412:
		e.msg = "changed in S3 while being read (ETag no longer matches)"
	case errors.As(err, &ae) && e.status != 0:
		e.msg = fmt.Sprintf("GetObject: HTTP %d %s", e.status, ae.ErrorCode())
		if m := ae.ErrorMessage(); m != "" {
			e.msg += ": " + m
		}
	case e.status != 0:
		e.msg = fmt.Sprintf("GetObject: HTTP %d", e.status)
	default:
		e.msg = err.Error()
	}
	return e
}
