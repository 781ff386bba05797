package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// newHTTPClient returns the client used when Options.HTTPClient is nil. It
// bounds connecting, the TLS handshake and the wait for response headers,
// but not the whole exchange: a body may stream for an hour. Stalled bodies
// are caught by the remote reader's watchdog.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			ExpectContinueTimeout: time.Second,
		},
	}
}

// httpSource is an http(s) object read with Range requests.
type httpSource struct {
	client  *http.Client
	url     string
	display string
	size    int64
	etag    string // strong ETag of the first response, sent as If-Match
	// The first response's validators, compared with every later one's:
	// a server that ignores If-Match (or, without a strong ETag,
	// If-Unmodified-Since) would otherwise resume a download with another
	// version's bytes (QA: a file changed mid-download loaded as a mix of
	// both).
	anyETag      string // ETag, strong or weak
	lastModified string
}

// parseHTTP parses an http(s):// source, which must name a host.
func parseHTTP(src string) (*url.URL, error) {
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return nil, badInput(errors.New("source: malformed URL (scheme://host/path expected)"))
	}
	return u, nil
}

func openHTTP(ctx context.Context, src string, opts Options) (*File, error) {
	u, err := parseHTTP(src)
	if err != nil {
		return nil, err
	}
	h := &httpSource{url: src, display: redactURL(u), size: -1}
	if opts.HTTPClient != nil {
		h.client = h.guardRedirects(opts.HTTPClient, opts.CheckRedirect)
		return h.open(ctx, u, opts)
	}
	// A client of our own: its idle connections go with the File.
	own := newHTTPClient()
	h.client = h.guardRedirects(own, opts.CheckRedirect)
	f, err := h.open(ctx, u, opts)
	if err != nil {
		own.CloseIdleConnections()
		return nil, err
	}
	f.closeLast(func() error { own.CloseIdleConnections(); return nil })
	return f, nil
}

// maxRedirects is how many redirects one request follows, as net/http's
// default policy.
const maxRedirects = 10

// guardRedirects returns a copy of c whose redirects are checked before
// they are followed: one from https to plain http is refused, since the
// file (and any cookie or header the server set) would travel
// unencrypted, and check, when set, may refuse any target. A refusal is
// bad input (ErrInput): every attempt would meet it again. c's own policy
// then applies, or net/http's default of at most 10 redirects.
func (h *httpSource) guardRedirects(c *http.Client, check func(*url.URL) error) *http.Client {
	g := *c
	next := c.CheckRedirect
	g.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		// Scheme and host only: the target's user info, path and
		// query may hold credentials or a signature.
		target := strings.ToLower(req.URL.Scheme) + "://" + req.URL.Host
		if prev := via[len(via)-1].URL; strings.EqualFold(prev.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
			return &redirectError{badInput(&sourceError{src: h.display,
				msg: "redirected to " + target + ": a redirect from https to plain http is refused (the file would travel unencrypted)"})}
		}
		if check != nil {
			if err := check(req.URL); err != nil {
				return &redirectError{badInput(&sourceError{src: h.display, msg: "redirected to " + target + ": " + err.Error(), err: err})}
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &g
}

// redirectError is a redirect that guardRedirects refused: do returns its
// error as it is, since it names the source already.
type redirectError struct{ err error }

func (e *redirectError) Error() string { return e.err.Error() }
func (e *redirectError) Unwrap() error { return e.err }

func (h *httpSource) open(ctx context.Context, u *url.URL, opts Options) (*File, error) {
	name, _ := url.PathUnescape(path.Base(u.Path))
	if name == "" || name == "/" || name == "." {
		name = u.Host
	}

	// The first request asks for the whole object as a range: a 206 shows
	// that the server can serve the zip directory and members by range,
	// and the same body streams a plain file.
	w := newWatchdog(ctx, stallTimeout)
	resp, err := h.do(w.ctx, "bytes=0-", "")
	if err == nil && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// An empty object has no byte 0.
		resp.Body.Close()
		resp, err = h.do(w.ctx, "", "")
	}
	if err != nil {
		w.stop()
		return nil, err
	}
	w.timer.Stop()
	body := w.wrap(resp.Body)
	ranged := false
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, _, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || first != 0 {
			body.Close()
			return nil, &sourceError{src: h.display, msg: fmt.Sprintf("bad Content-Range %q in reply to bytes=0-", resp.Header.Get("Content-Range"))}
		}
		h.size = total
		ranged = total >= 0
	case http.StatusOK:
		h.size = resp.ContentLength
	default:
		body.Close()
		return nil, h.statusError(resp)
	}
	h.anyETag, h.lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if et := h.anyETag; et != "" && !strings.HasPrefix(et, "W/") {
		h.etag = et
	}
	version, why := h.stamp(resp.Header)
	f, err := h.openBody(ctx, resp, body, ranged, name, version, opts)
	if err != nil {
		return nil, err
	}
	f.stamp(version, why)
	return f, nil
}

// stamp returns what identifies the version of the object from the
// headers of the first response: its URL without user info, query or
// fragment (a presigned URL's signature changes at every download), its
// strong ETag or else its Last-Modified, and its size. A weak ETag
// ("W/…") only says two versions mean the same, not that their bytes
// are, so it does not count. Without either header it returns "" and
// why.
func (h *httpSource) stamp(hdr http.Header) (version, why string) {
	var v string
	switch lm := hdr.Get("Last-Modified"); {
	case h.etag != "":
		v = "etag=" + strconv.Quote(h.etag)
	case lm != "":
		v = "last-modified=" + strconv.Quote(lm)
	case hdr.Get("ETag") != "":
		return "", "the server sent only a weak ETag and no Last-Modified header, which do not tell the file's version"
	default:
		return "", "the server sent neither an ETag nor a Last-Modified header, which tell the file's version"
	}
	return fmt.Sprintf("%s %s size=%d", RedactURL(h.url), v, h.size), ""
}

// openBody returns the File reading the object whose first response is
// resp, with body its (watched) body; version is its stamp, or "".
func (h *httpSource) openBody(ctx context.Context, resp *http.Response, body io.ReadCloser, ranged bool, name, version string, opts Options) (*File, error) {

	br := bufio.NewReaderSize(body, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		body.Close()
		return nil, &sourceError{src: h.display, msg: "read: " + err.Error(), err: err}
	}
	zipped := isZip(head, name)
	switch {
	case !zipped && ranged:
		rr := newRemoteReader(ctx, h.size, h.fetch)
		rr.adopt(struct {
			io.Reader
			io.Closer
		}{br, body})
		return newFile(name, "", h.size, rr.stream(), h.display, rr.Close), nil
	case !zipped:
		return newFile(name, "", h.size, br, h.display, body.Close), nil
	case ranged:
		body.Close()
		rr := newRemoteReader(ctx, h.size, h.fetch)
		f, err := openZip(rr, h.size, h.display, name, opts)
		if err != nil {
			rr.Close()
			return nil, err
		}
		f.closeLast(rr.Close)
		return f, nil
	default:
		// The server ignores Range: the archive's directory, at its end,
		// can only be reached by keeping a copy.
		defer body.Close()
		if err := skipArchive(opts, version, h.display); err != nil {
			return nil, err
		}
		return spoolZip(br, h.size, h.display, name, opts)
	}
}

// skipArchive asks opts.SkipArchive, when set and the archive has a stamp
// (version), whether to download the archive display names whole, and
// returns ErrSkipped when not, or the error it returned.
func skipArchive(opts Options, version, display string) error {
	if opts.SkipArchive == nil || version == "" {
		return nil
	}
	skip, err := opts.SkipArchive(version)
	switch {
	case err != nil:
		return fmt.Errorf("source %s: %w", display, err)
	case skip:
		return fmt.Errorf("source %s: %w", display, ErrSkipped)
	}
	return nil
}

// spoolZip copies an archive that cannot be read by range into a temporary
// file, removed on Close, and opens it there. want is the expected size, or
// -1 when unknown.
func spoolZip(r io.Reader, want int64, display, name string, opts Options) (*File, error) {
	tmp, err := os.CreateTemp("", "medsales-source-*.zip")
	if err != nil {
		return nil, fmt.Errorf("source %s: server does not support Range requests, and no temporary file for the archive: %w", display, err)
	}
	cleanup := func() error {
		cerr := tmp.Close()
		if rerr := os.Remove(tmp.Name()); rerr != nil {
			return rerr
		}
		return cerr
	}
	n, err := io.Copy(tmp, r)
	if err == nil && want >= 0 && n != want {
		err = fmt.Errorf("got %d of %d bytes: %w", n, want, io.ErrUnexpectedEOF)
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("source %s: download (server does not support Range requests): %w", display, err)
	}
	f, err := openZip(tmp, n, display, name, opts)
	if err != nil {
		cleanup()
		return nil, err
	}
	f.closeLast(cleanup)
	return f, nil
}

// do sends a GET with the given Range and If-Match headers (each omitted
// when empty), and, without If-Match, If-Unmodified-Since the first
// response's Last-Modified once there was one. Transport errors come back
// as one-line errors naming the source without its query string.
func (h *httpSource) do(ctx context.Context, rng, ifMatch string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, &sourceError{src: h.display, msg: "bad request", err: err}
	}
	// The source's own bytes, never a transparently decoded encoding.
	req.Header.Set("Accept-Encoding", "identity")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	} else if h.lastModified != "" {
		req.Header.Set("If-Unmodified-Since", h.lastModified)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			return nil, re.err
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error repeats the URL, query string and all.
			err = ue.Err
		}
		return nil, &sourceError{src: h.display, msg: "GET: " + err.Error(), err: err}
	}
	return resp, nil
}

// fetch implements fetchFunc with a Range request.
func (h *httpSource) fetch(ctx context.Context, off, end int64) (io.ReadCloser, error) {
	resp, err := h.do(ctx, fmt.Sprintf("bytes=%d-%d", off, end-1), h.etag)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, _, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || first != off || (total >= 0 && total != h.size) {
			resp.Body.Close()
			return nil, &sourceError{src: h.display, msg: fmt.Sprintf("bad Content-Range %q in reply to bytes=%d-%d", resp.Header.Get("Content-Range"), off, end-1)}
		}
		if v := h.changedValidator(resp.Header); v != "" {
			resp.Body.Close()
			return nil, &sourceError{src: h.display, msg: fmt.Sprintf("changed on the server while being read (the %s of bytes %d-%d differs from the first response's)", v, off, end-1)}
		}
		return resp.Body, nil
	case http.StatusPreconditionFailed:
		resp.Body.Close()
		return nil, &sourceError{src: h.display, status: resp.StatusCode, msg: "changed on the server while being read (its ETag or Last-Modified no longer matches)"}
	case http.StatusOK:
		resp.Body.Close()
		return nil, &sourceError{src: h.display, status: resp.StatusCode, msg: fmt.Sprintf("server ignored the Range request for bytes %d-%d", off, end-1)}
	default:
		resp.Body.Close()
		return nil, h.statusError(resp)
	}
}

// changedValidator names the validator (ETag, Last-Modified) of hdr, a
// later response, that differs from the first response's, or "": a
// response that leaves one out says nothing of it.
func (h *httpSource) changedValidator(hdr http.Header) string {
	if et := hdr.Get("ETag"); et != "" && h.anyETag != "" && et != h.anyETag {
		return "ETag"
	}
	if lm := hdr.Get("Last-Modified"); lm != "" && h.lastModified != "" && lm != h.lastModified {
		return "Last-Modified"
	}
	return ""
}

func (h *httpSource) statusError(resp *http.Response) error {
	return &sourceError{src: h.display, status: resp.StatusCode, msg: "HTTP " + resp.Status}
}

// RedactURL returns src, an s3://, http:// or https:// URL, as it may be
// shown in a message or recorded in the load history: its scheme, host
// and path only, never its user info, query or fragment, which may hold a
// password, a token or a presigned URL's signature. A URL that does not
// parse (an s3 key with a stray "%") or has no host is cut before
// anything that may be a query or fragment, and its user info (up to the
// authority's last "@") dropped.
func RedactURL(src string) string {
	if u, err := url.Parse(src); err == nil && u.Host != "" {
		return (&url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, Path: u.Path}).String()
	}
	if i := strings.IndexAny(src, "?#"); i >= 0 {
		src = src[:i]
	}
	if scheme, rest, ok := strings.Cut(src, "://"); ok {
		authority, _, _ := strings.Cut(rest, "/")
		if i := strings.LastIndex(authority, "@"); i >= 0 {
			src = scheme + "://" + rest[i+1:]
		}
	}
	return src
}

// redactURL returns u for messages: without user info, query or fragment,
// which may carry credentials or signatures.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	q := c.RawQuery != "" || c.ForceQuery
	c.RawQuery, c.ForceQuery = "", false
	s := c.String()
	if q {
		s += "?…"
	}
	return s
}
