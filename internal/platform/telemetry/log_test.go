package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

func TestLoggerAddsCorrelation(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	spanCtx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	sc := span.SpanContext()
	traceHex := sc.TraceID().String()
	wantXRay := "1-" + traceHex[:8] + "-" + traceHex[8:]

	tests := []struct {
		name      string
		ctx       context.Context
		log       func(l *slog.Logger, ctx context.Context)
		wantReqID string
		wantTrace bool
	}{
		{
			name: "no context",
			ctx:  context.Background(),
			log:  func(l *slog.Logger, _ context.Context) { l.Info("hello") },
		},
		{
			name:      "request id only",
			ctx:       telemetry.WithRequestID(context.Background(), "req-1"),
			log:       func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
			wantReqID: "req-1",
		},
		{
			name:      "request id and span",
			ctx:       telemetry.WithRequestID(spanCtx, "req-2"),
			log:       func(l *slog.Logger, ctx context.Context) { l.WarnContext(ctx, "hello", "k", "v") },
			wantReqID: "req-2",
			wantTrace: true,
		},
		{
			name:      "span through With",
			ctx:       spanCtx,
			log:       func(l *slog.Logger, ctx context.Context) { l.With("component", "x").ErrorContext(ctx, "hello") },
			wantTrace: true,
		},
		{
			name: "invalid span context",
			ctx:  trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}),
			log:  func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
		},
		{
			name: "context without logging context",
			ctx:  telemetry.WithRequestID(spanCtx, "req-3"),
			log:  func(l *slog.Logger, _ context.Context) { l.Info("hello") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(telemetry.NewLogger(&buf, slog.LevelInfo), tt.ctx)
			lines := logLines(t, buf.String())
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1: %s", len(lines), buf.String())
			}
			line := lines[0]
			if got, _ := line["request_id"].(string); got != tt.wantReqID {
				t.Errorf("request_id = %q, want %q", got, tt.wantReqID)
			}
			wantTrace, wantSpan, wantX := "", "", ""
			if tt.wantTrace {
				wantTrace, wantSpan, wantX = traceHex, sc.SpanID().String(), wantXRay
			}
			for key, want := range map[string]string{"trace_id": wantTrace, "span_id": wantSpan, "xray_trace_id": wantX} {
				if got, _ := line[key].(string); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
		})
	}
}

func TestLoggerLevelAndDuplicateRequestID(t *testing.T) {
	var buf bytes.Buffer
	l := telemetry.NewLogger(&buf, slog.LevelWarn)
	ctx := telemetry.WithRequestID(context.Background(), "req-9")
	l.InfoContext(ctx, "dropped")
	l.WarnContext(ctx, "kept", "request_id", "req-9")
	lines := logLines(t, buf.String())
	if len(lines) != 1 || lines[0]["msg"] != "kept" {
		t.Fatalf("lines = %v, want only the warning", lines)
	}
	if n := bytes.Count(buf.Bytes(), []byte(`"request_id"`)); n != 1 {
		t.Errorf("request_id appears %d times, want 1: %s", n, buf.String())
	}
}

func TestXRayTraceID(t *testing.T) {
	id, err := trace.TraceIDFromHex("5759e988bd862e3fe1be46a994272793")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := telemetry.XRayTraceID(id), "1-5759e988-bd862e3fe1be46a994272793"; got != want {
		t.Errorf("XRayTraceID = %q, want %q", got, want)
	}
	if got := telemetry.XRayTraceID(trace.TraceID{}); got != "" {
		t.Errorf("XRayTraceID(invalid) = %q, want empty", got)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "INFO", want: slog.LevelInfo},
		{in: " warn ", want: slog.LevelWarn},
		{in: "Warning", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: "info+2", want: slog.LevelInfo + 2},
		{in: "", wantErr: true},
		{in: "verbose", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := telemetry.ParseLevel(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLevel(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
