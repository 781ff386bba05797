package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// TestFailedExportIsAJSONLogLine checks that a span export the collector
// refuses is a warning in the program's JSON log, not a plain-text
// "traces export: …" line OpenTelemetry's global handler prints on the
// process's standard error.
func TestFailedExportIsAJSONLogLine(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer collector.Close()
	var logs bytes.Buffer
	tp, shutdown, err := telemetry.SetupTracing(context.Background(),
		telemetry.TracingConfig{ServiceName: "test", Logger: slog.New(slog.NewJSONHandler(&logs, nil))},
		envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// OpenTelemetry's default handler prints through the log package.
	stderr := os.Stderr
	os.Stderr = w
	log.SetOutput(w)
	_, span := tp.Tracer("test").Start(context.Background(), "op")
	span.End()
	shutdownErr := shutdown(context.Background())
	os.Stderr = stderr
	log.SetOutput(stderr)
	w.Close()
	printed, _ := io.ReadAll(r)
	if shutdownErr != nil {
		t.Errorf("shutdown: %v", shutdownErr)
	}
	if len(printed) > 0 {
		t.Errorf("printed on standard error: %q", printed)
	}
	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &rec); err != nil || rec["level"] != "WARN" ||
		!strings.Contains(rec["msg"].(string), "span export failed") {
		t.Errorf("log = %q, want one JSON warning about the failed export", logs.String())
	}
}
