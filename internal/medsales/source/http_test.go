package source_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
)

// served is one request a fileServer answered.
type served struct {
	rng    string // Range header
	status int
	bytes  int64 // body bytes written
}

// fileServer is an HTTPS server of in-memory files. By default it serves
// them with http.ServeContent: ranges, Content-Range, ETag and If-Match as a
// real web server does. Its hooks make it misbehave in the ways servers do.
type fileServer struct {
	ts    *httptest.Server
	files map[string][]byte

	// noRange answers every request with 200 and the whole file.
	noRange bool
	// rangeOnce serves ranges to the first request only, 200 after.
	rangeOnce bool
	// etag returns the ETag of the n-th request (from 0); nil = none.
	etag func(n int) string
	// cut returns after how many body bytes the n-th response, asked for
	// range rng, breaks off (the connection closes short of
	// Content-Length); -1 = never. It is called with the server locked.
	cut func(n int, rng string) int64
	// version returns which version of a file the n-th request gets:
	// from 1 on, the file with each byte inverted (the same size); nil =
	// always 0. modified returns its Last-Modified (zero: none).
	version  func(n int) int
	modified func(n int) time.Time
	// ignorePreconditions drops If-Match and If-Unmodified-Since, as a
	// server that does not implement them does.
	ignorePreconditions bool

	mu   sync.Mutex
	reqs []served
}

func newFileServer(t *testing.T, files map[string][]byte, configure func(*fileServer)) *fileServer {
	t.Helper()
	s := &fileServer{files: files}
	if configure != nil {
		configure(s)
	}
	s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	return s
}

func (s *fileServer) url(name string) string { return s.ts.URL + "/" + name }

func (s *fileServer) requests() []served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]served(nil), s.reqs...)
}

func (s *fileServer) serve(w http.ResponseWriter, r *http.Request) {
	cw := &countingWriter{ResponseWriter: w, limit: -1}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, served{rng: r.Header.Get("Range")})
	if s.cut != nil {
		cw.limit = s.cut(n, r.Header.Get("Range"))
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.reqs[n].status, s.reqs[n].bytes = cw.status, cw.n
		s.mu.Unlock()
	}()

	name := strings.TrimPrefix(r.URL.Path, "/")
	if strings.HasPrefix(name, "forbidden/") {
		http.Error(cw, "Forbidden", http.StatusForbidden)
		return
	}
	data, ok := s.files[name]
	if !ok {
		http.NotFound(cw, r)
		return
	}
	if s.etag != nil {
		cw.Header().Set("ETag", s.etag(n))
	}
	if s.version != nil && s.version(n) > 0 {
		other := make([]byte, len(data))
		for i, b := range data {
			other[i] = ^b
		}
		data = other
	}
	var modified time.Time
	if s.modified != nil {
		modified = s.modified(n)
	}
	if s.ignorePreconditions {
		r.Header.Del("If-Match")
		r.Header.Del("If-Unmodified-Since")
	}
	if s.noRange || (s.rangeOnce && n > 0) {
		cw.Header().Set("Content-Length", fmt.Sprint(len(data)))
		cw.WriteHeader(http.StatusOK)
		cw.Write(data)
		return
	}
	http.ServeContent(cw, r, name, modified, bytes.NewReader(data))
}

// countingWriter counts the body bytes written and fails writes past limit.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	limit  int64
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.limit >= 0 && c.n+int64(len(p)) > c.limit {
		k, _ := c.ResponseWriter.Write(p[:c.limit-c.n])
		c.n += int64(k)
		return k, errors.New("cut")
	}
	k, err := c.ResponseWriter.Write(p)
	c.n += int64(k)
	return k, err
}

func TestOpenHTTP(t *testing.T) {
	csv := csvRows(3000)
	nppes := buildZip(t, readme, fileheader, pfile, plpfile)
	files := map[string][]byte{
		"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv":                  csv,
		"NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip": nppes,
		"dir/nucc taxonomy.csv":                                csv, // asked for as nucc%20taxonomy.csv
	}
	weekly := "NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip"
	tests := []struct {
		name      string
		configure func(*fileServer)
		file      string
		opts      source.Options
		want      member
		archive   string
		size      int64
		ranged    bool // every request after the first must be a bounded Range request
		spooled   bool // a temporary file must exist until Close
	}{
		{name: "plain, server with ranges", file: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv",
			want: member{name: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", data: csv}, size: int64(len(csv)), ranged: true},
		{name: "plain, server without ranges", configure: func(s *fileServer) { s.noRange = true },
			file: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv",
			want: member{name: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", data: csv}, size: int64(len(csv))},
		{name: "plain, escaped path", file: "dir/nucc%20taxonomy.csv",
			want: member{name: "nucc taxonomy.csv", data: csv}, size: int64(len(csv)), ranged: true},
		{name: "zip read by range, member by dataset", file: weekly, opts: source.Options{Dataset: medsales.NPPES},
			want: pfile, archive: weekly, size: int64(len(pfile.data)), ranged: true},
		{name: "zip read by range, with strong ETags", configure: func(s *fileServer) { s.etag = func(int) string { return `"v1"` } },
			file: weekly, opts: source.Options{Member: plpfile.name},
			want: plpfile, archive: weekly, size: int64(len(plpfile.data)), ranged: true},
		{name: "zip from a server without ranges: spooled", configure: func(s *fileServer) { s.noRange = true },
			file: weekly, opts: source.Options{Dataset: medsales.NPPES},
			want: pfile, archive: weekly, size: int64(len(pfile.data)), spooled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			srv := newFileServer(t, files, tt.configure)
			f, err := source.Open(context.Background(), srv.url(tt.file), withClient(tt.opts, srv))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			if got := countFiles(t, tmp); got != btoi(tt.spooled) {
				t.Errorf("%d temporary files while open, want %d", got, btoi(tt.spooled))
			}
			checkFile(t, f, tt.want.name, tt.archive, tt.size, tt.want.data)
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if got := countFiles(t, tmp); got != 0 {
				t.Errorf("%d temporary files left after Close", got)
			}
			reqs := srv.requests()
			if reqs[0].rng != "bytes=0-" {
				t.Errorf("first request Range = %q, want bytes=0-", reqs[0].rng)
			}
			if tt.ranged {
				for i, r := range reqs[1:] {
					if r.status != http.StatusPartialContent || !strings.HasPrefix(r.rng, "bytes=") || strings.HasSuffix(r.rng, "-") {
						t.Errorf("request %d: Range %q, status %d; want a bounded range answered with 206", i+1, r.rng, r.status)
					}
				}
			} else if len(reqs) != 1 {
				t.Errorf("%d requests, want 1: %+v", len(reqs), reqs)
			}
		})
	}
}

// withClient sets the test server's client, which trusts its certificate.
func withClient(o source.Options, s *fileServer) source.Options {
	o.HTTPClient = s.ts.Client()
	return o
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOpenHTTPZipReadsOnlyTheMember checks that a member is read by range,
// not by downloading the archive: the requests after the first (which is
// dropped once its first bytes show a zip) fetch about the member's size.
func TestOpenHTTPZipReadsOnlyTheMember(t *testing.T) {
	big := member{name: "other.bin", data: randomBytes(24<<20, 1), store: true}
	small := member{name: "data.csv", data: csvRows(1000)}
	z := buildZip(t, big, small)
	srv := newFileServer(t, map[string][]byte{"a.zip": z}, nil)
	f, err := source.Open(context.Background(), srv.url("a.zip"), withClient(source.Options{Member: "data.csv"}, srv))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkFile(t, f, "data.csv", "a.zip", int64(len(small.data)), small.data)
	var after int64
	reqs := srv.requests()
	for _, r := range reqs[1:] {
		after += r.bytes
	}
	if limit := int64(3 << 20); after > limit {
		t.Errorf("requests after the first served %d bytes of a %d-byte archive for a %d-byte member; want at most %d: %+v",
			after, len(z), len(small.data), limit, reqs)
	}
}

func TestOpenHTTPErrors(t *testing.T) {
	nppes := buildZip(t, pfile, plpfile)
	files := map[string][]byte{"n.zip": nppes, "cut.zip": nppes[:len(nppes)-10], "x.csv": []byte("a,b\n")}
	tests := []struct {
		name      string
		configure func(*fileServer)
		path      string // appended to the server URL
		closed    bool   // the server is closed before Open
		is        error
		says      []string // the message must contain these (and the redacted URL)
	}{
		{name: "404", path: "/missing.csv", is: fs.ErrNotExist, says: []string{"HTTP 404"}},
		{name: "403", path: "/forbidden/x.csv", is: fs.ErrPermission, says: []string{"HTTP 403"}},
		{name: "unreachable", path: "/x.csv", closed: true, says: []string{"connect"}},
		{name: "truncated zip", path: "/cut.zip", says: []string{"not a valid zip file"}},
		{name: "zip changed between requests", configure: func(s *fileServer) {
			s.etag = func(n int) string { return fmt.Sprintf(`"v%d"`, min(n, 1)) }
		}, path: "/n.zip", says: []string{"changed on the server"}},
		{name: "server stops honouring ranges", configure: func(s *fileServer) { s.rangeOnce = true },
			path: "/n.zip", says: []string{"ignored the Range request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFileServer(t, files, tt.configure)
			if tt.closed {
				srv.ts.Close()
			}
			// Credentials in the user info and a signed query must not
			// reach the message.
			u := strings.Replace(srv.ts.URL, "https://", "https://user:s3cret-pass@", 1) + tt.path + "?X-Amz-Signature=s3cret-sig"
			f, err := source.Open(context.Background(), u, withClient(source.Options{}, srv))
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			for _, s := range append([]string{srv.ts.URL + tt.path}, tt.says...) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
				t.Errorf("error %q leaks credentials or spans lines", msg)
			}
		})
	}
}

// TestOpenHTTPResumes checks that a body that breaks off is requested again
// from where it stopped, and the bytes and digest come out whole.
func TestOpenHTTPResumes(t *testing.T) {
	csv := csvRows(20000) // about 600 KB
	memberData := randomBytes(300<<10, 2)
	z := buildZip(t, member{name: "npidata_pfile_20050523-20260810.csv", data: memberData, store: true})
	const cutAt = 50 << 10
	tests := []struct {
		name    string
		file    string
		cuts    int // how many responses to break off
		first   bool
		want    []byte
		wantN   string
		archive string
	}{
		{name: "plain stream breaks", file: "x.csv", cuts: 1, first: true, want: csv, wantN: "x.csv"},
		{name: "zip member read breaks twice", file: "n.zip", cuts: 2, want: memberData,
			wantN: "npidata_pfile_20050523-20260810.csv", archive: "n.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cut := 0
			srv := newFileServer(t, map[string][]byte{"x.csv": csv, "n.zip": z}, func(s *fileServer) {
				s.cut = func(n int, rng string) int64 {
					// The zip's first request only detects the
					// format; its directory is in the last 2 KiB.
					if cut < tt.cuts && (tt.first || n > 0) && rangeStart(rng) < int64(len(z)-2048) {
						cut++
						return cutAt
					}
					return -1
				}
			})
			f, err := source.Open(context.Background(), srv.url(tt.file), withClient(source.Options{}, srv))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkFile(t, f, tt.wantN, tt.archive, int64(len(tt.want)), tt.want)
			reqs := srv.requests()
			var broken int
			for i, r := range reqs {
				if r.bytes != cutAt {
					continue
				}
				broken++
				if i+1 >= len(reqs) || rangeStart(reqs[i+1].rng) != rangeStart(r.rng)+cutAt {
					t.Errorf("request %d (%s) broke at %d bytes; the next request does not resume there: %+v", i, r.rng, cutAt, reqs)
				}
			}
			if broken != tt.cuts {
				t.Errorf("%d broken responses, want %d: %+v", broken, tt.cuts, reqs)
			}
		})
	}
}

// TestOpenHTTPResumeRefusesAnotherVersion breaks a download off and has
// the server answer the resumed range from another version of the file,
// of the same size: the read fails saying the file changed, whether the
// server honours the preconditions sent (412) or ignores them (its
// validators differ), with a strong ETag, a weak one and a Last-Modified,
// or a Last-Modified alone. A mix of both versions was loaded (QA).
func TestOpenHTTPResumeRefusesAnotherVersion(t *testing.T) {
	csv := csvRows(20000)
	t0 := time.Date(2026, 8, 10, 12, 0, 0, 0, time.UTC)
	laterOn := func(n int) time.Time {
		if n > 0 {
			return t0.Add(time.Hour)
		}
		return t0
	}
	tag := func(weak bool) func(n int) string {
		return func(n int) string {
			v := fmt.Sprintf(`"v%d"`, min(n, 1))
			if weak {
				v = "W/" + v
			}
			return v
		}
	}
	tests := []struct {
		name      string
		configure func(*fileServer)
		says      string
	}{
		{name: "strong ETag, preconditions ignored", configure: func(s *fileServer) {
			s.etag, s.ignorePreconditions = tag(false), true
		}, says: "the ETag of bytes"},
		{name: "weak ETag and Last-Modified, preconditions ignored", configure: func(s *fileServer) {
			s.etag, s.modified, s.ignorePreconditions = tag(true), laterOn, true
		}, says: "the ETag of bytes"},
		{name: "Last-Modified only, preconditions ignored", configure: func(s *fileServer) {
			s.modified, s.ignorePreconditions = laterOn, true
		}, says: "the Last-Modified of bytes"},
		{name: "Last-Modified only, If-Unmodified-Since honoured", configure: func(s *fileServer) {
			s.modified = laterOn
		}, says: "no longer matches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFileServer(t, map[string][]byte{"x.csv": csv}, func(s *fileServer) {
				s.cut = func(n int, _ string) int64 {
					if n == 0 {
						return 50 << 10
					}
					return -1
				}
				s.version = func(n int) int { return min(n, 1) }
				tt.configure(s)
			})
			f, err := source.Open(context.Background(), srv.url("x.csv"), withClient(source.Options{}, srv))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err == nil || !strings.Contains(err.Error(), "changed on the server while being read") || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("read %d bytes, error %v; want the read to fail saying the file changed (%s)", len(got), err, tt.says)
			}
			if len(srv.requests()) < 2 {
				t.Fatalf("requests %+v: the download was not resumed", srv.requests())
			}
		})
	}
}

// rangeStart returns the first byte of a "bytes=a-b" header, 0 without one.
func rangeStart(rng string) int64 {
	var a int64
	fmt.Sscanf(rng, "bytes=%d-", &a)
	return a
}

// TestLargeMemberConstantMemory reads a 64 MiB member, locally and over
// HTTP by range, and checks that reading it allocates a fraction of its
// size: nothing holds the member in memory.
func TestLargeMemberConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 128 MiB")
	}
	const size = 64 << 20
	p := bigZip(t, size)
	z, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := newFileServer(t, map[string][]byte{"big.zip": z}, nil)
	zeros := sha(make([]byte, size))
	for _, src := range []string{p, srv.url("big.zip")} {
		t.Run(src, func(t *testing.T) {
			f, err := source.Open(context.Background(), src, source.Options{HTTPClient: srv.ts.Client()})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var n int64
			alloc := allocatedWhile(func() {
				n, err = io.Copy(io.Discard, f)
			})
			if err != nil || n != size {
				t.Fatalf("read %d bytes, %v; want %d", n, err, size)
			}
			if f.Size != size || f.SHA256() != zeros {
				t.Errorf("Size %d, SHA256 %s; want %d, %s", f.Size, f.SHA256(), size, zeros)
			}
			t.Logf("allocated %d bytes reading %d", alloc, n)
			// The in-process server's allocations count too, and the
			// race detector adds its own: the bound only shows that
			// the member is not held in memory.
			if limit := uint64(size / 4); alloc > limit {
				t.Errorf("reading allocated %d bytes for a %d-byte member, want at most %d", alloc, size, limit)
			}
		})
	}
}

// TestOpenHTTPDefaultClientReleases opens plain and zipped sources with the
// default client (nil Options.HTTPClient) and checks that Close leaves no
// goroutine behind: no idle connection, no watchdog.
func TestOpenHTTPDefaultClientReleases(t *testing.T) {
	csv := csvRows(500)
	files := map[string][]byte{
		"x.csv": csv,
		"n.zip": buildZip(t, member{name: "x.csv", data: csv}),
	}
	for _, name := range []string{"x.csv", "n.zip"} {
		t.Run(name, func(t *testing.T) {
			// Plain HTTP: the default client does not trust a test
			// certificate.
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(files[r.URL.Path[1:]]))
			}))
			defer ts.Close()
			// The server's own goroutines are running now; a connection
			// left open would add two on each side.
			before := goleak.IgnoreCurrent()
			f, err := source.Open(context.Background(), ts.URL+"/"+name, source.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, csv) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			goleak.VerifyNone(t, before)
		})
	}
}
