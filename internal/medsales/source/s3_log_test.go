package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/source"
)

// TestS3SDKMessagesAreJSONLogLines checks that the AWS SDK's own messages
// (here: instance metadata refusing a session token, so the credentials
// fall back to IMDSv1) reach the program's JSON log, not plain-text
// "SDK 2026/12/02 … WARN …" lines on the process's standard error.
func TestS3SDKMessagesAreJSONLogLines(t *testing.T) {
	isolateAWS(t)
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	}))
	defer imds.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	s3 := newS3Server(t)

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	var logs bytes.Buffer
	_, openErr := source.Open(context.Background(), "s3://drop/nucc_taxonomy_251.csv",
		source.Options{S3Endpoint: s3.ts.URL, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	os.Stderr = stderr
	w.Close()
	printed, _ := io.ReadAll(r)
	if openErr == nil {
		t.Fatal("Open without credentials succeeded")
	}
	if len(printed) > 0 {
		t.Errorf("the SDK printed on standard error: %q", printed)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err == nil && strings.Contains(rec["msg"].(string), "IMDSv1") {
			found = rec["level"] == "WARN"
		}
	}
	if !found {
		t.Errorf("no JSON warning about the IMDSv1 fallback in the log:\n%s", logs.String())
	}
}
