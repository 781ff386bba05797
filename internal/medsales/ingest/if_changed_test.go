package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/platform/blob"
)

// withMetrics gives e's service the ingest metrics on a registry of its
// own and returns them.
func withMetrics(t *testing.T, e env) *ingest.Metrics {
	t.Helper()
	m, err := ingest.NewMetrics(prometheus.NewRegistry(), e.st)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Metrics = m
	return m
}

// expect runs req and checks whether it was loaded (a new version) or
// skipped as unchanged, returning the result.
func expect(t *testing.T, e env, req ingest.Request, loaded bool) ingest.Result {
	t.Helper()
	before, err := e.st.Versions(context.Background(), req.Dataset, 1000)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Run(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Run(%s): %v", req.Source, err)
	}
	after, err := e.st.Versions(context.Background(), req.Dataset, 1000)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case loaded && (res.Unchanged || res.VersionID == 0 || len(after) != len(before)+1):
		t.Fatalf("Run(%s) = %+v (%d loads recorded before, %d after): want it loaded", req.Source, res, len(before), len(after))
	case !loaded && (!res.Unchanged || res.VersionID != 0 || res.ServedVersionID == 0 || len(after) != len(before)):
		t.Fatalf("Run(%s) = %+v (%d loads recorded before, %d after): want it skipped, nothing recorded", req.Source, res, len(before), len(after))
	}
	return res
}

// TestRunIfChangedLocal: a conditional load of a local file is skipped
// while the file is the one served now (same path, size and modification
// time): no version is written, "ingest skipped" is logged at INFO with
// the dataset and the reason, and medsales_ingest_skipped_total counts
// it. A touch, a rewrite, an unconditional load in between or another
// data year loads it.
func TestRunIfChangedLocal(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		m := withMetrics(t, e)
		file := sample(t, e.dir, "nucc_taxonomy_sample.csv", 5)
		req := ingest.Request{Dataset: medsales.NUCC, Source: file, IfChanged: true}

		first := expect(t, e, req, true) // nothing served yet
		again := expect(t, e, req, false)
		if again.ServedVersionID != first.VersionID || again.File != "nucc_taxonomy_sample.csv" {
			t.Errorf("skip = %+v, want it to name load %d and the file", again, first.VersionID)
		}
		if got := testutil.ToFloat64(m.Skipped.WithLabelValues("nucc")); got != 1 {
			t.Errorf("medsales_ingest_skipped_total{dataset=nucc} = %v, want 1", got)
		}
		want := fmt.Sprintf(`"level":"INFO","msg":"ingest skipped","dataset":"nucc","file":"nucc_taxonomy_sample.csv","mode":"full","reason":"source unchanged: load %d, served now, read the same source version"`, first.VersionID)
		if !strings.Contains(e.log.String(), want) {
			t.Errorf("log:\n%s\nwant the line %s", e.log.String(), want)
		}
		hist, err := e.st.Versions(context.Background(), medsales.NUCC, 10)
		if err != nil || len(hist) != 1 || !strings.HasPrefix(hist[0].SourceStamp, "file:"+file+" size=") {
			t.Fatalf("history %+v (%v): want one load with the file's stamp", hist, err)
		}

		// Without IfChanged the same file loads; the next conditional
		// load compares with that load.
		plain := req
		plain.IfChanged = false
		second := expect(t, e, plain, true)
		if res := expect(t, e, req, false); res.ServedVersionID != second.VersionID {
			t.Errorf("skip after an unconditional load names load %d, want %d", res.ServedVersionID, second.VersionID)
		}

		// Touched: same bytes, a new modification time.
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		touched := st.ModTime().Add(time.Second)
		if err := os.Chtimes(file, touched, touched); err != nil {
			t.Fatal(err)
		}
		expect(t, e, req, true)
		expect(t, e, req, false)
		// Rewritten with a row less.
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		if err := os.WriteFile(file, []byte(strings.Join(lines[:len(lines)-2], "")), 0o600); err != nil {
			t.Fatal(err)
		}
		expect(t, e, req, true)
		expect(t, e, req, false)
		if got := testutil.ToFloat64(m.Skipped.WithLabelValues("nucc")); got != 4 {
			t.Errorf("medsales_ingest_skipped_total{dataset=nucc} = %v, want 4", got)
		}
	})
}

// TestRunIfChangedDataYear: the same Part D file loaded as another data
// year is another scope: it loads, and each year's load is then skipped
// on its own; reloading one year does not make the other's stale.
func TestRunIfChangedDataYear(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		file := sample(t, e.dir, "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv", 5)
		plain := write(t, e.dir, "partd_prescribers.csv", mustRead(t, file))
		y23 := ingest.Request{Dataset: medsales.PartD, Source: plain, DataYear: 2023, IfChanged: true}
		y24 := ingest.Request{Dataset: medsales.PartD, Source: plain, DataYear: 2024, IfChanged: true}
		expect(t, e, y23, true)
		expect(t, e, y23, false)
		expect(t, e, y24, true) // another year: not served yet
		expect(t, e, y23, false)
		expect(t, e, y24, false)
		// The year read from the file name is the scope too.
		named := ingest.Request{Dataset: medsales.PartD, Source: file, IfChanged: true}
		expect(t, e, named, true)
		expect(t, e, named, false)
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunIfChangedHTTP: an https source is skipped while its ETag (or
// Last-Modified, when the server sends no ETag) and size are those of the
// load served now, loaded when they change, and always loaded when the
// server sends neither, the log saying why.
func TestRunIfChangedHTTP(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		data := mustRead(t, sample(t, e.dir, "nucc_taxonomy_sample.csv", 5))
		var mu sync.Mutex
		var etag, lastModified string
		ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			et, lm := etag, lastModified
			mu.Unlock()
			if et != "" {
				w.Header().Set("ETag", et)
			}
			if lm != "" {
				w.Header().Set("Last-Modified", lm)
			}
			http.ServeContent(w, r, "nucc_taxonomy_251.csv", time.Time{}, bytes.NewReader(data))
		}))
		defer ts.Close()
		set := func(et, lm string) {
			mu.Lock()
			etag, lastModified = et, lm
			mu.Unlock()
		}
		e.svc.Source.HTTPClient = ts.Client()
		req := ingest.Request{Dataset: medsales.NUCC, Source: ts.URL + "/nucc/nucc_taxonomy_251.csv", IfChanged: true}

		set(`"v1"`, "")
		expect(t, e, req, true)
		expect(t, e, req, false)
		set(`"v2"`, "")
		expect(t, e, req, true)
		expect(t, e, req, false)

		set("", "Mon, 10 Aug 2026 12:00:00 GMT")
		expect(t, e, req, true) // the stamp is now a date, not an ETag
		expect(t, e, req, false)
		set("", "Tue, 11 Aug 2026 12:00:00 GMT")
		expect(t, e, req, true)
		expect(t, e, req, false)

		set("", "")
		expect(t, e, req, true)
		expect(t, e, req, true)
		if !strings.Contains(e.log.String(), `"msg":"ingest not conditional: the source has no stamp, so it is loaded","dataset":"nucc","file":"nucc_taxonomy_251.csv","reason":"the server sent neither an ETag nor a Last-Modified header`) {
			t.Errorf("log:\n%s\nwant why a source without ETag or Last-Modified is loaded", e.log.String())
		}
	})
}

// TestRunIfChangedS3: an s3:// object is skipped while its ETag and size
// are those of the load served now, and loaded once a new object is put
// under its key; a zip's member is part of the stamp.
func TestRunIfChangedS3(t *testing.T) {
	backend := s3mem.New()
	ts := httptest.NewUnstartedServer(gofakes3.New(backend).Server())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // a body dropped early
	ts.Start()
	defer ts.Close()
	if err := backend.CreateBucket("medsales-raw"); err != nil {
		t.Fatal(err)
	}
	put := func(t *testing.T, key string, data []byte) {
		t.Helper()
		if _, err := backend.PutObject("medsales-raw", key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
	}
	client, err := blob.NewS3Client(context.Background(), ts.URL,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "secret", "")),
		config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	each(t, func(t *testing.T, e env) {
		data := mustRead(t, sample(t, e.dir, "nucc_taxonomy_sample.csv", 5))
		key := "nucc/" + strings.ReplaceAll(t.Name(), "/", "-") + "/nucc_taxonomy_251.csv"
		put(t, key, data)
		e.svc.Source.S3 = client
		req := ingest.Request{Dataset: medsales.NUCC, Source: "s3://medsales-raw/" + key, IfChanged: true}
		expect(t, e, req, true)
		expect(t, e, req, false)
		lines := strings.SplitAfter(string(data), "\n")
		put(t, key, []byte(strings.Join(lines[:len(lines)-2], "")))
		expect(t, e, req, true)
		expect(t, e, req, false)
	})
}

// TestWorkerIfChangedSkipSucceeds: a River job of a conditional load
// whose source has not changed succeeds (Work returns nil) without a new
// version, as a scheduled load does every interval while the publisher
// has not changed the file.
func TestWorkerIfChangedSkipSucceeds(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		file := sample(t, e.dir, "nucc_taxonomy_sample.csv", 5)
		w := &ingest.Worker{Service: e.svc, Logger: e.svc.Logger}
		job := func(id int64) *river.Job[ingest.JobArgs] {
			return &river.Job[ingest.JobArgs]{
				// As POST /v1/ingestions queues it: the request's id
				// in the metadata (QueuedOpts).
				JobRow: &rivertype.JobRow{ID: id, Kind: ingest.JobArgs{}.Kind(), Metadata: []byte(`{"request_id":"req-` + strconv.FormatInt(id, 10) + `"}`)},
				Args:   ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NUCC, Source: file, IfChanged: true}},
			}
		}
		for id := int64(1); id <= 2; id++ {
			if err := w.Work(context.Background(), job(id)); err != nil {
				t.Fatalf("job %d: %v", id, err)
			}
		}
		hist, err := e.st.Versions(context.Background(), medsales.NUCC, 10)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history %+v (%v): want the first job's load only", hist, err)
		}
		// The job's lines name it and the request that queued it.
		if !strings.Contains(e.log.String(), `"msg":"ingest job done","job":2,"request_id":"req-2","dataset":"nucc","skipped":true`) {
			t.Errorf("log:\n%s\nwant the second job (its id and request id) done as skipped", e.log.String())
		}
		if !strings.Contains(e.log.String(), `"msg":"ingest started","job":1,"request_id":"req-1"`) {
			t.Errorf("log:\n%s\nwant the first job's load started with its job and request ids", e.log.String())
		}
	})
}

// TestRunIfChangedArchiveWithoutRange: a zip from a server that ignores
// Range requests is downloaded whole before its member is known; a
// conditional load of one that has not changed is skipped before that
// download, on the archive's ETag and size, and counted and logged like
// any skip; a new ETag loads it.
func TestRunIfChangedArchiveWithoutRange(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		m := withMetrics(t, e)
		data := mustRead(t, sample(t, e.dir, "nucc_taxonomy_sample.csv", 5))
		// A large member beside the CSV, stored, so that a download of the
		// archive shows in the bytes sent.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, mb := range []struct {
			name string
			data []byte
		}{{"nucc_taxonomy_251.csv", data}, {"nucc_taxonomy_251.pdf", bytes.Repeat([]byte("%PDF padding "), 400_000)}} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: mb.name, Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(mb.data)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		archive := buf.Bytes()
		var mu sync.Mutex
		etag := `"v1"`
		hold := false    // hold the next response back (holdBack)
		var whole []bool // per held-back response: whether the whole archive was sent
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			w.Header().Set("ETag", etag)
			held := hold
			hold = false
			mu.Unlock()
			w.Header().Set("Content-Length", fmt.Sprint(len(archive)))
			if !held {
				w.Write(archive)
				return
			}
			sent := holdBack(w, r, archive)
			mu.Lock()
			whole = append(whole, sent)
			mu.Unlock()
		}))
		defer ts.Close()
		req := ingest.Request{Dataset: medsales.NUCC, Source: ts.URL + "/nucc.zip", IfChanged: true}

		first := expect(t, e, req, true)
		hist, err := e.st.Versions(context.Background(), medsales.NUCC, 1)
		if err != nil || len(hist) != 1 || !strings.HasSuffix(hist[0].SourceStamp, ` member="nucc_taxonomy_251.csv"`) {
			t.Fatalf("history %+v (%v): want the archive's stamp with the member", hist, err)
		}
		mu.Lock()
		hold = true
		mu.Unlock()
		res := expect(t, e, req, false)
		if res.ServedVersionID != first.VersionID || res.File != "nucc.zip" {
			t.Errorf("skip = %+v, want it to name load %d and the archive", res, first.VersionID)
		}
		if got := testutil.ToFloat64(m.Skipped.WithLabelValues("nucc")); got != 1 {
			t.Errorf("medsales_ingest_skipped_total{dataset=nucc} = %v, want 1", got)
		}
		if !strings.Contains(e.log.String(), `"msg":"ingest skipped","dataset":"nucc"`) {
			t.Errorf("log:\n%s\nwant ingest skipped", e.log.String())
		}
		waitFor(t, time.Minute, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(whole) == 1
		})
		if whole[0] {
			t.Errorf("the skipped load downloaded the whole archive")
		}

		mu.Lock()
		etag = `"v2"`
		mu.Unlock()
		expect(t, e, req, true)
		expect(t, e, req, false)
	})
}

// holdBack answers r with data as a server ignoring Range does, but sends
// its first 64 KiB only until the client either closes the connection
// (it has what it wanted: holdBack returns false) or has waited 30
// seconds for the rest, which it is then sent (true): a client that
// stops early is seen to, one that reads the whole body gets it late.
func holdBack(w http.ResponseWriter, r *http.Request, data []byte) bool {
	first := min(len(data), 64<<10)
	w.Write(data[:first])
	w.(http.Flusher).Flush()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-t.C:
	}
	w.Write(data[first:])
	return true
}
