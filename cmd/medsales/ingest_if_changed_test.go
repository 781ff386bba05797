package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestIngestIfChangedBinary runs the real binary: `medsales ingest
// --if-changed nucc FILE` (the flag before DATASET, which the flag
// reordering used to take as the flag's value) loads the file, then
// skips it while it is unchanged, printing one line and exiting 0 with
// "ingest skipped" logged at INFO with the dataset and the reason; a
// touched file, or the same load without --if-changed, loads again.
func TestIngestIfChangedBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := medsalesBinary(t)
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			url := eng.url(t)
			ingest := func(args ...string) (stdout, stderr string) {
				t.Helper()
				c := exec.Command(bin, append([]string{"ingest", "--progress", "none"}, args...)...)
				c.Env = []string{"DATABASE_URL=" + url, "LOG_LEVEL=info", "REJECTS_DIR=" + filepath.Join(dir, "rejects")}
				var out, errOut bytes.Buffer
				c.Stdout, c.Stderr = &out, &errOut
				if err := c.Run(); err != nil {
					t.Fatalf("medsales ingest %q: %v\n%s%s", args, err, out.String(), errOut.String())
				}
				return out.String(), errOut.String()
			}
			loaded := regexp.MustCompile(`^nucc: loaded \d+ rows, rejected 0 \(.*\) in .* as version (\d+)\n$`)
			out, _ := ingest("--if-changed", "nucc", files.NUCC)
			m := loaded.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("first load printed %q", out)
			}
			out, errOut := ingest("--if-changed", "nucc", files.NUCC)
			want := "nucc: skipped: " + filepath.Base(files.NUCC) + " has not changed since version " + m[1] +
				", which is served now; nothing loaded (run without --if-changed to load it anyway)\n"
			if out != want {
				t.Errorf("unchanged file printed %q, want %q", out, want)
			}
			if !strings.Contains(errOut, `"level":"INFO","msg":"ingest skipped","dataset":"nucc"`) || !strings.Contains(errOut, `"reason":"source unchanged: load `+m[1]) {
				t.Errorf("log of the skipped load:\n%s\nwant ingest skipped at INFO with the dataset and the reason", errOut)
			}
			// The flag after the arguments, as operators type it too.
			if out, _ := ingest("nucc", files.NUCC, "--if-changed"); !strings.HasPrefix(out, "nucc: skipped: ") {
				t.Errorf("--if-changed after the arguments printed %q, want the skip", out)
			}
			if out, _ := ingest("nucc", files.NUCC); !loaded.MatchString(out) {
				t.Errorf("without --if-changed printed %q, want a load", out)
			}
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(files.NUCC, later, later); err != nil {
				t.Fatal(err)
			}
			if out, _ := ingest("--if-changed", "nucc", files.NUCC); !loaded.MatchString(out) {
				t.Errorf("touched file printed %q, want a load", out)
			}
		})
	}
}
