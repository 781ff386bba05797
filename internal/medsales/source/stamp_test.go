package source_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/platform/blob"
)

// stampOf opens src and returns its stamp and why it has none.
func stampOf(t *testing.T, src string, opts source.Options) (stamp, why string) {
	t.Helper()
	f, err := source.Open(context.Background(), src, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", src, err)
	}
	defer f.Close()
	if (f.Stamp == "") == (f.NoStamp == "") {
		t.Errorf("Open(%s): Stamp %q, NoStamp %q: want exactly one", src, f.Stamp, f.NoStamp)
	}
	return f.Stamp, f.NoStamp
}

// TestLocalStamp: a local file's stamp is its absolute path, size and
// modification time in nanoseconds: the same for the same file opened
// again (by a relative path too), changed by a touch, a rewrite of the
// same size or another file; a zip member's adds the member's name. A
// pipe has none, and says why.
func TestLocalStamp(t *testing.T) {
	dir := t.TempDir()
	csv := csvRows(20)
	p := writeFile(t, dir, "nucc_taxonomy_251.csv", csv)
	mtime := time.Date(2026, 8, 10, 12, 0, 0, 123456789, time.UTC)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	first, _ := stampOf(t, p, source.Options{})
	want := fmt.Sprintf("file:%s size=%d mtime=%d", p, len(csv), mtime.UnixNano())
	if first != want {
		t.Fatalf("stamp = %q, want %q", first, want)
	}
	if again, _ := stampOf(t, p, source.Options{}); again != first {
		t.Errorf("stamp of the same file opened again = %q, want %q", again, first)
	}
	t.Chdir(dir)
	if rel, _ := stampOf(t, "nucc_taxonomy_251.csv", source.Options{}); rel != first {
		t.Errorf("stamp by a relative path = %q, want %q", rel, first)
	}

	touched := mtime.Add(time.Nanosecond)
	if err := os.Chtimes(p, touched, touched); err != nil {
		t.Fatal(err)
	}
	if s, _ := stampOf(t, p, source.Options{}); s == first {
		t.Errorf("stamp after a touch is unchanged: %q", s)
	}
	// Rewritten with other bytes of the same size, its time put back.
	other := []byte(strings.ToUpper(string(csv)))
	if err := os.WriteFile(p, other, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if s, _ := stampOf(t, p, source.Options{}); s != first {
		t.Errorf("stamp of a same-size file with the same time = %q, want %q (the stamp reads no bytes)", s, first)
	}
	if err := os.WriteFile(p, append(other, "x\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if s, _ := stampOf(t, p, source.Options{}); s == first {
		t.Errorf("stamp after the size changed is unchanged: %q", s)
	}

	z := writeFile(t, dir, "NPPES_Data_Dissemination_August_2026_V2.zip", buildZip(t, readme, fileheader, pfile, plpfile))
	s, _ := stampOf(t, z, source.Options{Dataset: medsales.NPPES})
	if !strings.HasPrefix(s, "file:"+z+" size=") || !strings.HasSuffix(s, ` member="`+pfile.name+`"`) {
		t.Errorf("zip member stamp = %q, want the archive's path, size and time, then the member", s)
	}
	if pl, _ := stampOf(t, z, source.Options{Member: plpfile.name}); pl == s || !strings.HasSuffix(pl, ` member="`+plpfile.name+`"`) {
		t.Errorf("stamp of another member = %q, want it to name %s", pl, plpfile.name)
	}

	pipe := writeFIFO(t, "nucc_taxonomy_251.csv", csv)
	f, err := source.Open(context.Background(), pipe, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, f)
	f.Close()
	if f.Stamp != "" || !strings.Contains(f.NoStamp, "pipe") {
		t.Errorf("pipe: Stamp %q, NoStamp %q; want none, saying it is a pipe", f.Stamp, f.NoStamp)
	}
}

// TestHTTPStamp: an http(s) source's stamp is its URL without query, its
// strong ETag, or its Last-Modified when it has none (or only a weak
// one), and its size; a server sending neither gives none, saying why.
func TestHTTPStamp(t *testing.T) {
	csv := csvRows(20)
	var etag, lastModified string
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if lastModified != "" {
			w.Header().Set("Last-Modified", lastModified)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(csv)))
		w.Write(csv)
	}))
	defer ts.Close()
	opts := source.Options{HTTPClient: ts.Client()}
	src := ts.URL + "/nucc/nucc_taxonomy_251.csv"
	const lm = "Mon, 10 Aug 2026 12:00:00 GMT"
	for _, c := range []struct {
		name, etag, lastModified string
		want, why                string
	}{
		{name: "ETag", etag: `"v1"`, lastModified: lm, want: fmt.Sprintf(`%s etag="\"v1\"" size=%d`, src, len(csv))},
		{name: "Last-Modified only", lastModified: lm, want: fmt.Sprintf(`%s last-modified=%q size=%d`, src, lm, len(csv))},
		{name: "weak ETag and Last-Modified", etag: `W/"v1"`, lastModified: lm, want: fmt.Sprintf(`%s last-modified=%q size=%d`, src, lm, len(csv))},
		{name: "weak ETag only", etag: `W/"v1"`, why: "only a weak ETag"},
		{name: "neither", why: "neither an ETag nor a Last-Modified"},
	} {
		t.Run(c.name, func(t *testing.T) {
			etag, lastModified = c.etag, c.lastModified
			stamp, why := stampOf(t, src, opts)
			if stamp != c.want || !strings.Contains(why, c.why) {
				t.Errorf("stamp %q (%q), want %q (%q)", stamp, why, c.want, c.why)
			}
			// A query (a token, a signature) is no part of the version.
			if c.want != "" {
				if q, _ := stampOf(t, src+"?token=abc", opts); q != c.want {
					t.Errorf("stamp with a query = %q, want %q", q, c.want)
				}
			}
		})
	}
	etag = `"v2"`
	if s, _ := stampOf(t, src, opts); !strings.Contains(s, `etag="\"v2\""`) {
		t.Errorf("stamp after the ETag changed = %q", s)
	}
}

// TestS3Stamp: an S3 object's stamp is its URL, ETag and size, from the
// GetObject that Open makes anyway; a new object under the same key
// changes it, and a zip's member is named.
func TestS3Stamp(t *testing.T) {
	isolateAWS(t)
	srv := newS3Server(t)
	c, err := blob.NewS3Client(context.Background(), srv.ts.URL,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	opts := source.Options{S3: c}
	csv := csvRows(20)
	srv.put(t, "medsales-raw", "nucc/nucc_taxonomy_251.csv", csv)
	const src = "s3://medsales-raw/nucc/nucc_taxonomy_251.csv"
	first, _ := stampOf(t, src, opts)
	if !strings.HasPrefix(first, src+` etag="`) || !strings.HasSuffix(first, fmt.Sprintf(" size=%d", len(csv))) {
		t.Fatalf("stamp = %q, want the URL, ETag and size", first)
	}
	if again, _ := stampOf(t, src, opts); again != first {
		t.Errorf("stamp of the same object = %q, want %q", again, first)
	}
	srv.put(t, "medsales-raw", "nucc/nucc_taxonomy_251.csv", []byte(strings.ToUpper(string(csv))))
	if s, _ := stampOf(t, src, opts); s == first {
		t.Errorf("stamp of a new object of the same size is unchanged: %q", s)
	}
	srv.put(t, "medsales-raw", "nppes/NPPES_Data_Dissemination_August_2026_V2.zip", buildZip(t, readme, fileheader, pfile, plpfile))
	zopts := opts
	zopts.Dataset = medsales.NPPES
	if s, _ := stampOf(t, "s3://medsales-raw/nppes/NPPES_Data_Dissemination_August_2026_V2.zip", zopts); !strings.HasSuffix(s, ` member="`+pfile.name+`"`) {
		t.Errorf("zip member stamp = %q, want the member named", s)
	}
}

// TestSkipArchiveBeforeDownload: a zip whose server ignores Range
// requests must be downloaded whole before its member, part of the
// stamp, is known; Options.SkipArchive is asked first, with the
// archive's stamp, and saying skip ends Open with ErrSkipped without the
// download (nothing spooled). Saying load downloads it, and the File's stamp is the
// archive's with the member's name. It is not asked of a plain file, an
// archive read by range, or an archive without a stamp.
func TestSkipArchiveBeforeDownload(t *testing.T) {
	big := randomBytes(8<<20, 5)
	z := buildZip(t, member{name: "nucc_taxonomy_251.csv", data: big, store: true})
	etag := `"v1"`
	s := newFileServer(t, map[string][]byte{"nucc.zip": z, "nucc_taxonomy_251.csv": big}, func(s *fileServer) {
		s.noRange = true
		s.etag = func(int) string { return etag }
	})
	// The archive would be spooled to a temporary file here.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var asked []string
	skip := true
	opts := withClient(source.Options{SkipArchive: func(stamp string) (bool, error) {
		asked = append(asked, stamp)
		if n := countFiles(t, tmp); n != 0 {
			t.Errorf("SkipArchive asked with %d files spooled: want it asked before the download", n)
		}
		return skip, nil
	}}, s)

	_, err := source.Open(context.Background(), s.url("nucc.zip"), opts)
	if !errors.Is(err, source.ErrSkipped) {
		t.Fatalf("Open with SkipArchive saying skip = %v, want ErrSkipped", err)
	}
	want := fmt.Sprintf(`%s etag="\"v1\"" size=%d`, s.url("nucc.zip"), len(z))
	if len(asked) != 1 || asked[0] != want {
		t.Errorf("SkipArchive asked %q, want once %q", asked, want)
	}
	if n := countFiles(t, tmp); n != 0 || len(s.requests()) != 1 {
		t.Errorf("skipped archive: %d files spooled, %d requests; want none and one", n, len(s.requests()))
	}

	skip = false
	f, err := source.Open(context.Background(), s.url("nucc.zip"), opts)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if f.Stamp != want+` member="nucc_taxonomy_251.csv"` || len(asked) != 2 {
		t.Errorf("loaded archive: stamp %q after %d questions, want %q after 2", f.Stamp, len(asked), want+` member="nucc_taxonomy_251.csv"`)
	}

	// Not asked: a plain file, an archive without a stamp.
	f, err = source.Open(context.Background(), s.url("nucc_taxonomy_251.csv"), opts)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	etag = ""
	f, err = source.Open(context.Background(), s.url("nucc.zip"), opts)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if len(asked) != 2 {
		t.Errorf("SkipArchive asked %d times, want 2 (not for a plain file nor an archive without a stamp)", len(asked))
	}
}
