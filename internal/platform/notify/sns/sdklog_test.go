package sns_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/notify/sns"
)

// TestSDKMessagesAreJSONLogLines checks that the AWS SDK's own messages
// (here: instance metadata refusing a session token, so the credentials
// fall back to IMDSv1) reach the program's JSON log, not plain-text
// "SDK 2026/12/02 … WARN …" lines on the process's standard error.
func TestSDKMessagesAreJSONLogLines(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
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
	srv := newServer(t)
	hc := &http.Client{}
	defer hc.CloseIdleConnections()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	var logs bytes.Buffer
	c, err := sns.New(context.Background(), sns.Config{Region: "us-east-1", Endpoint: srv.URL, HTTPClient: hc,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err == nil {
		_, err = c.Send(context.Background(), msg("m-1"))
	}
	os.Stderr = stderr
	w.Close()
	printed, _ := io.ReadAll(r)
	if err == nil {
		t.Fatal("Send without credentials succeeded")
	}
	if len(printed) > 0 {
		t.Errorf("the SDK printed on standard error: %q", printed)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec["msg"].(string), "IMDSv1") {
			found = rec["level"] == "WARN"
		}
	}
	if !found {
		t.Errorf("no JSON warning about the IMDSv1 fallback in the log:\n%s", logs.String())
	}
}
