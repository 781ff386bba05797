package main

import (
	"bufio"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The adherence binary sets the garbage collector's target to
// defaultGCPercent when GOGC is not set, and leaves GOGC to decide when it
// is; the process's /metrics (go_gc_gogc_percent) says which it runs with.
func TestGCPercentDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := adherenceBinary(t)
	for _, tt := range []struct {
		gogc, want string
	}{
		{"", "200"},
		{"50", "50"},
	} {
		var extra []string
		if tt.gogc != "" {
			extra = append(extra, "GOGC="+tt.gogc)
		}
		addr := freeAddr(t)
		cmd := exec.Command(bin, "serve", "--addr", addr)
		cmd.Env = childEnv("sqlite:"+filepath.Join(t.TempDir(), "a.db"), extra...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		got := ""
		for deadline := time.Now().Add(30 * time.Second); got == "" && time.Now().Before(deadline); {
			got = gcPercentMetric("http://" + addr + "/metrics")
			if got == "" {
				time.Sleep(100 * time.Millisecond)
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if got != tt.want {
			t.Errorf("GOGC=%q: go_gc_gogc_percent = %q, want %s", tt.gogc, got, tt.want)
		}
	}
}

// gcPercentMetric returns the value of go_gc_gogc_percent at url, or "".
func gcPercentMetric(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gogc_percent "); ok {
			return v
		}
	}
	return ""
}
