package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// engines are the two database shapes every end-to-end test runs on.
var engines = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "medsales.db") }},
	{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEndToEnd writes sample files, loads every dataset with `medsales
// ingest` (the NPPES file from a zip), serves them through run() and reads
// a provider profile, the dataset history and /health; then it enqueues a
// load through POST /v1/ingestions and waits for the worker to finish it.
func TestEndToEnd(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{
				"DATABASE_URL": eng.url(t), "SHUTDOWN_DRAIN": "100ms", "LOG_LEVEL": "warn",
				"INGEST_API_TOKEN": "test-token", "REJECTS_DIR": filepath.Join(dir, "rejects"),
				"INGEST_ALLOWED_SOURCES": "s3://medsales-drop/," + filepath.Join(dir, "sample") + "/",
			}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 300, Seed: 7, Weekly: true})
			if err != nil {
				t.Fatal(err)
			}
			// The monthly NPPES file arrives zipped with its header file.
			nppesZip := zipFiles(t, filepath.Join(dir, "NPPES_Data_Dissemination_August_2026_V2.zip"), map[string]string{
				"npidata_pfile_20050523-20260810_fileheader.csv": "",
				sample.NPPESFile: files.NPPES,
			})
			loads := []struct{ dataset, src string }{
				{"zcta", files.Gazetteer}, {"nucc", files.NUCC}, {"nppes", nppesZip},
				{"nppes-locations", files.Locations}, {"nppes-othernames", files.OtherNames}, {"nppes-endpoints", files.Endpoints},
				{"partb", files.PartB}, {"partd", files.PartD}, {"openpayments", files.OpenPayments},
			}
			for _, l := range loads {
				var out, errOut bytes.Buffer
				if err := run(context.Background(), []string{"ingest", "--progress", "none", l.dataset, l.src}, getenv, nil, &out, &errOut); err != nil {
					t.Fatalf("ingest %s: %v\n%s", l.dataset, err, errOut.String())
				}
				if !strings.Contains(out.String(), "loaded") || strings.Contains(out.String(), "loaded 0 rows") {
					t.Fatalf("ingest %s printed %q", l.dataset, out.String())
				}
			}
			// The weekly increment is recognised from its name and upserts.
			var out bytes.Buffer
			if err := run(context.Background(), []string{"ingest", "--progress", "none", "nppes", files.NPPESWeekly}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("weekly: %v", err)
			}
			if !strings.Contains(out.String(), "increment") {
				t.Fatalf("weekly load was not an increment: %q", out.String())
			}

			// The workers also run scheduled loads, the first at start:
			// conditional by default (the gazetteer, unchanged since its
			// load above, is skipped), every time with "always".
			env["INGEST_SCHEDULE"] = "openpayments " + files.OpenPayments + " 24h always; zcta " + files.Gazetteer + " 24h"
			addr := freeAddr(t)
			base := "http://" + addr
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var serverLog bytes.Buffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"serve", "--addr", addr}, getenv, nil, io.Discard, &serverLog) }()
			waitReady(t, base+"/readyz", done)

			npi := firstActiveNPI(t, files.PartD)
			prof := get(t, base+"/v1/providers/"+npi, 200)
			if prof["npi"] != npi {
				t.Fatalf("profile npi = %v", prof["npi"])
			}
			if taxes, _ := prof["taxonomies"].([]any); len(taxes) == 0 {
				t.Errorf("profile has no taxonomies: %v", prof)
			} else if name, _ := taxes[0].(map[string]any)["classification"].(string); name == "" {
				t.Errorf("taxonomy without its NUCC name: %v", taxes[0])
			}
			if drugs, _ := prof["topDrugs"].([]any); len(drugs) == 0 {
				t.Errorf("profile of a Part D prescriber has no drugs")
			}
			if prof["coordSource"] != "zcta" || prof["practiceLat"] == nil {
				t.Errorf("profile coordinates: %v %v", prof["coordSource"], prof["practiceLat"])
			}
			get(t, base+"/v1/providers/1234567890", 400) // bad check digit
			get(t, base+"/v1/providers/"+unknownNPI, 404)

			ds := get(t, base+"/v1/datasets", 200)
			cur := ds["current"].(map[string]any)
			for _, l := range loads {
				if _, ok := cur[l.dataset]; !ok {
					t.Errorf("/v1/datasets has no current %s", l.dataset)
				}
			}
			if src := cur["nppes"].(map[string]any)["sourceFile"]; src != sample.NPPESWeeklyFile {
				t.Errorf("current nppes source = %v, want the weekly file", src)
			}
			health := get(t, base+"/health", 200)
			fresh := health["components"].(map[string]any)["dataFreshness"].(map[string]any)
			if fresh["status"] != "UP" {
				t.Errorf("dataFreshness = %v", fresh)
			}
			nppes := fresh["details"].(map[string]any)["partd"].(map[string]any)
			for _, k := range []string{"lastIngested", "recordCount", "dataYear", "sourceFile"} {
				if _, ok := nppes[k]; !ok {
					t.Errorf("dataFreshness.partd has no %s: %v", k, nppes)
				}
			}

			// A load through the API: refused without the token, run by the
			// in-process worker with it.
			body := `{"dataset":"nucc","source":"` + files.NUCC + `"}`
			post(t, base+"/v1/ingestions", "", body, 401)
			post(t, base+"/v1/ingestions", "test-token", `{"dataset":"nope","source":"x"}`, 400)
			// The scheme is case-insensitive (RFC 9110): past the token
			// check, the request is refused for its dataset, not with 401.
			lower, err := http.NewRequest("POST", base+"/v1/ingestions", strings.NewReader(`{"dataset":"nope","source":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			lower.Header.Set("Authorization", "bearer test-token")
			lower.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(lower); err != nil {
				t.Fatal(err)
			} else if resp.Body.Close(); resp.StatusCode != 400 {
				t.Fatalf("lower-case bearer scheme: %d, want 400", resp.StatusCode)
			}
			post(t, base+"/v1/ingestions", "test-token", `{"dataset":"nucc","source":"/etc/passwd"}`, 403)
			post(t, base+"/v1/ingestions", "test-token", `{"dataset":"nucc","source":"`+filepath.Join(dir, "sample", "..", "x.csv")+`"}`, 403)
			job := post(t, base+"/v1/ingestions", "test-token", body, 202)
			if job["jobId"] == nil {
				t.Fatalf("no job id: %v", job)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				h := get(t, base+"/v1/datasets?dataset=nucc", 200)["history"].([]any)
				if len(h) >= 2 && h[0].(map[string]any)["status"] == "succeeded" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the queued nucc load did not finish: %v\n%s", h, serverLog.String())
				}
				time.Sleep(100 * time.Millisecond)
			}

			// The scheduled Open Payments load ran once at start.
			deadline = time.Now().Add(30 * time.Second)
			for {
				h := get(t, base+"/v1/datasets?dataset=openpayments", 200)["history"].([]any)
				if len(h) >= 2 && h[0].(map[string]any)["status"] == "succeeded" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the scheduled openpayments load did not run: %v\n%s", h, serverLog.String())
				}
				time.Sleep(100 * time.Millisecond)
			}

			// The scheduled gazetteer load was skipped: counted, with
			// no load recorded.
			deadline = time.Now().Add(30 * time.Second)
			for !strings.Contains(metricsText(t, base), `medsales_ingest_skipped_total{dataset="zcta"} 1`) {
				if time.Now().After(deadline) {
					t.Fatalf("the scheduled zcta load was not skipped:\n%s", serverLog.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if h := get(t, base+"/v1/datasets?dataset=zcta", 200)["history"].([]any); len(h) != 1 {
				t.Errorf("zcta history %v, want the one load of medsales ingest", h)
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}

// metricsText returns the text of GET /metrics of the server at base.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unknownNPI has a valid check digit and is not in any sample.
const unknownNPI = "1999999992"

// TestBadInput runs `medsales ingest` on bad sources: each fails with one
// line naming the file and the problem, and the live data stays as it was.
func TestBadInput(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 50, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), []string{"ingest", "--progress", "none", "partd", files.PartD}, getenv, nil, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			before := datasetsJSON(t, getenv)

			// A file of no dataset medsales knows.
			unknown := filepath.Join(dir, "prices.csv")
			if err := os.WriteFile(unknown, []byte("sku,price\nA1,3.50\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			nonUTF8 := filepath.Join(dir, "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv")
			data, _ := os.ReadFile(files.PartD)
			lines := strings.SplitAfter(string(data), "\n")
			for i := 1; i < len(lines) && i < 12; i++ {
				lines[i] = strings.Replace(lines[i], ",", ",\xff\xfe", 1)
			}
			os.WriteFile(nonUTF8, []byte(strings.Join(lines, "")), 0o600)
			noCSV := zipFiles(t, filepath.Join(dir, "empty.zip"), map[string]string{"readme.pdf": files.NUCC})
			truncated := filepath.Join(dir, "NPPES_Data_Dissemination_August_2026_V2.zip")
			z, _ := os.ReadFile(zipFiles(t, filepath.Join(dir, "full.zip"), map[string]string{sample.NPPESFile: files.NPPES}))
			os.WriteFile(truncated, z[:len(z)/2], 0o600)
			srv := httptest.NewServer(http.NotFoundHandler())
			defer srv.Close()

			cases := []struct {
				name, dataset, src string
				want               []string // substrings of the one-line error
			}{
				{"unknown dataset", "nppes2", files.NPPES, []string{"unknown dataset", "nppes2"}},
				{"missing file", "nucc", filepath.Join(dir, "nope.csv"), []string{"nope.csv"}},
				{"wrong file for the dataset", "partb", files.PartD, []string{filepath.Base(files.PartD), "(dataset partd), not a Part B file"}},
				{"missing columns", "nucc", unknown, []string{"prices.csv", `missing required columns "Code"`}},
				{"non-UTF-8 bytes", "partd", nonUTF8, []string{filepath.Base(nonUTF8)}},
				{"zip with no CSV", "nppes", noCSV, []string{"empty.zip", "readme.pdf"}},
				{"truncated zip", "nppes", truncated, []string{filepath.Base(truncated)}},
				{"unreachable URL", "nucc", srv.URL + "/nucc_taxonomy_251.csv", []string{"nucc_taxonomy_251.csv", "404"}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					var out, errOut bytes.Buffer
					err := run(context.Background(), []string{"ingest", "--progress", "none", c.dataset, c.src}, getenv, nil, &out, &errOut)
					if err == nil {
						t.Fatalf("ingest succeeded: %s", out.String())
					}
					msg := err.Error()
					if strings.Contains(msg, "\n") {
						t.Errorf("error is not one line: %q", msg)
					}
					for _, w := range c.want {
						if !strings.Contains(msg, w) {
							t.Errorf("error %q does not mention %q", msg, w)
						}
					}
				})
			}
			if after := datasetsJSON(t, getenv); !sameCurrent(before, after) {
				t.Errorf("live data changed after failed loads:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// datasetsJSON is `medsales datasets --json`.
func datasetsJSON(t *testing.T, getenv func(string) string) map[string]any {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"datasets", "--json"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func sameCurrent(a, b map[string]any) bool {
	x, _ := json.Marshal(a["current"])
	y, _ := json.Marshal(b["current"])
	return bytes.Equal(x, y)
}

// firstActiveNPI returns the NPI of the first data row of a CMS file.
func firstActiveNPI(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(data), "\n", 3)
	return strings.Trim(strings.SplitN(lines[1], ",", 2)[0], `"`)
}

// zipFiles writes a zip holding the given members (name → path of the
// content, "" for an empty member) and returns its path.
func zipFiles(t *testing.T, path string, members map[string]string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for name, src := range members {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if src == "" {
			continue
		}
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitReady(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("server exited before ready: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

func get(t *testing.T, url string, want int) map[string]any {
	t.Helper()
	return do(t, "GET", url, "", "", want)
}

func post(t *testing.T, url, token, body string, want int) map[string]any {
	t.Helper()
	return do(t, "POST", url, token, body, want)
}

func do(t *testing.T, method, url, token, body string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, resp.StatusCode, want, data)
	}
	var v map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
	return v
}
