package telemetry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/medplatform/medplatform/internal/platform/syncbuf"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// envOf turns a map into a getenv function.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSetupTracingOff(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "no endpoint", env: map[string]string{"OTEL_SERVICE_NAME": "x"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}},
		{name: "exporter none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, shutdown, err := telemetry.SetupTracing(context.Background(), telemetry.TracingConfig{ServiceName: "adherence"}, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tp.(tracenoop.TracerProvider); !ok {
				t.Errorf("provider is %T, want the no-op provider", tp)
			}
			_, span := tp.Tracer("t").Start(context.Background(), "op")
			if span.IsRecording() {
				t.Error("no-op provider records spans")
			}
			span.End()
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

func TestSetupTracingInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		secret string
	}{
		{name: "not http", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"}},
		{name: "no host", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}},
		{name: "bad insecure", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "OTEL_EXPORTER_OTLP_INSECURE": "maybe"}},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{name: "bad sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "jaeger_remote"}},
		{name: "ratio above 1", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}},
		{name: "ratio not a number", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER_ARG": "half"}},
		{
			name:   "malformed headers",
			env:    map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=ok,hunter2"},
			secret: "hunter2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := telemetry.SetupTracing(context.Background(), telemetry.TracingConfig{ServiceName: "adherence"}, envOf(tt.env))
			if err == nil {
				t.Fatal("SetupTracing succeeded, want an error")
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error reveals a header value: %v", err)
			}
		})
	}
}

// otlpRequest is one request an OTLP collector stand-in received.
type otlpRequest struct {
	method, path, apiKey, contentType string
	body                              []byte
}

// fakeCollector is an httptest server that records OTLP/HTTP posts.
type fakeCollector struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []otlpRequest
}

func newFakeCollector(t *testing.T) *fakeCollector {
	t.Helper()
	c := &fakeCollector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, otlpRequest{
			method: r.Method, path: r.URL.Path, apiKey: r.Header.Get("X-Api-Key"),
			contentType: r.Header.Get("Content-Type"), body: data,
		})
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *fakeCollector) requests() []otlpRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]otlpRequest(nil), c.reqs...)
}

// patientMux is a mux with one patient route.
func patientMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/patients/{id}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "{}")
	})
	return mux
}

func TestSetupTracingExportsOverOTLP(t *testing.T) {
	const (
		xrayHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
		wantTrace  = "5759e988bd862e3fe1be46a994272793"
	)
	tests := []struct {
		name     string
		env      func(url string) map[string]string
		wantPath string
	}{
		{
			name: "base endpoint",
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": url,
					"OTEL_EXPORTER_OTLP_HEADERS":  "x-api-key=s3cr%3Dt,other=1",
					"OTEL_SERVICE_NAME":           "adherence-test",
				}
			},
			wantPath: "/v1/traces",
		},
		{
			name: "traces endpoint without scheme, insecure",
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": strings.TrimPrefix(url, "http://") + "/custom/traces",
					"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true",
					"OTEL_EXPORTER_OTLP_TRACES_HEADERS":  "x-api-key=s3cr%3Dt",
					"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:1",
					"OTEL_SERVICE_NAME":                  "adherence-test",
					"OTEL_TRACES_SAMPLER":                "parentbased_traceidratio",
					"OTEL_TRACES_SAMPLER_ARG":            "1",
				}
			},
			wantPath: "/custom/traces",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			collector := newFakeCollector(t)
			ctx := context.Background()
			tp, shutdown, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "ignored", ServiceVersion: "1.2.3"}, envOf(tt.env(collector.srv.URL)))
			if err != nil {
				t.Fatal(err)
			}
			logs := &syncbuf.Buffer{}
			h := telemetry.HTTPHandler(
				telemetry.Middleware(patientMux(), telemetry.MiddlewareDeps{Logger: telemetry.NewLogger(logs, slog.LevelInfo)}),
				tp, telemetry.NewPropagator())
			app := httptest.NewServer(h)
			req, err := http.NewRequest(http.MethodGet, app.URL+"/v1/patients/secret-123?name=Alice", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amzn-Trace-Id", xrayHeader)
			resp, err := app.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			app.Close()

			if got := len(collector.requests()); got != 0 {
				t.Logf("%d export(s) before shutdown", got)
			}
			if err := shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			reqs := collector.requests()
			if len(reqs) == 0 {
				t.Fatal("the collector received nothing")
			}
			got := reqs[0]
			if got.method != http.MethodPost || got.path != tt.wantPath {
				t.Errorf("collector got %s %s, want POST %s", got.method, got.path, tt.wantPath)
			}
			if got.apiKey != "s3cr=t" {
				t.Errorf("X-Api-Key = %q, want the decoded header value", got.apiKey)
			}
			if got.contentType != "application/x-protobuf" {
				t.Errorf("Content-Type = %q", got.contentType)
			}
			for _, leak := range []string{"secret-123", "Alice"} {
				if bytes.Contains(got.body, []byte(leak)) {
					t.Errorf("exported spans contain %q", leak)
				}
			}

			var export coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(got.body, &export); err != nil {
				t.Fatal(err)
			}
			if len(export.ResourceSpans) != 1 {
				t.Fatalf("got %d resource spans, want 1", len(export.ResourceSpans))
			}
			rs := export.ResourceSpans[0]
			resAttrs := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				resAttrs[kv.Key] = kv.GetValue().GetStringValue()
			}
			if resAttrs["service.name"] != "adherence-test" || resAttrs["service.version"] != "1.2.3" {
				t.Errorf("resource = %v, want service.name adherence-test and service.version 1.2.3", resAttrs)
			}
			var spans []string
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					spans = append(spans, sp.Name)
					if gotTrace := trace.TraceID(sp.TraceId).String(); gotTrace != wantTrace {
						t.Errorf("span trace id = %s, want the X-Ray root %s", gotTrace, wantTrace)
					}
					if parent := trace.SpanID(sp.ParentSpanId).String(); parent != "53995c3f42cd8ad8" {
						t.Errorf("span parent = %s, want the X-Ray parent", parent)
					}
				}
			}
			if len(spans) != 1 || spans[0] != "GET /v1/patients/{id}" {
				t.Errorf("spans = %q, want one named GET /v1/patients/{id}", spans)
			}

			access := findLine(t, logLines(t, logs.String()), "http request")
			if access["trace_id"] != wantTrace || access["xray_trace_id"] != "1-5759e988-bd862e3fe1be46a994272793" {
				t.Errorf("access log trace ids = %v / %v", access["trace_id"], access["xray_trace_id"])
			}
		})
	}
}

func TestHTTPHandlerPropagation(t *testing.T) {
	const (
		xrayTrace = "5759e988bd862e3fe1be46a994272793"
		w3cTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	)
	tests := []struct {
		name       string
		headers    map[string]string
		target     string
		wantTrace  string // "" means a new trace
		wantParent string
		wantName   string
		wantRoute  string
	}{
		{
			name:       "X-Ray header continued",
			headers:    map[string]string{"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
			target:     "/v1/patients/secret-123?name=Alice",
			wantTrace:  xrayTrace,
			wantParent: "53995c3f42cd8ad8",
			wantName:   "GET /v1/patients/{id}",
			wantRoute:  "/v1/patients/{id}",
		},
		{
			name:       "traceparent continued",
			headers:    map[string]string{"Traceparent": "00-" + w3cTrace + "-00f067aa0ba902b7-01"},
			target:     "/v1/patients/secret-123",
			wantTrace:  w3cTrace,
			wantParent: "00f067aa0ba902b7",
			wantName:   "GET /v1/patients/{id}",
			wantRoute:  "/v1/patients/{id}",
		},
		{
			name: "traceparent wins over X-Ray",
			headers: map[string]string{
				"Traceparent":     "00-" + w3cTrace + "-00f067aa0ba902b7-01",
				"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
			},
			target:     "/v1/patients/secret-123",
			wantTrace:  w3cTrace,
			wantParent: "00f067aa0ba902b7",
			wantName:   "GET /v1/patients/{id}",
			wantRoute:  "/v1/patients/{id}",
		},
		{
			name:     "X-Ray root without parent starts a new trace",
			headers:  map[string]string{"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"},
			target:   "/v1/patients/secret-123",
			wantName: "GET /v1/patients/{id}", wantRoute: "/v1/patients/{id}",
		},
		{
			name:     "unmatched route",
			target:   "/nope/secret-123",
			wantName: "GET",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			h := telemetry.HTTPHandler(telemetry.Middleware(patientMux(), telemetry.MiddlewareDeps{}), tp, nil)

			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)

			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			span := spans[0]
			traceID := span.SpanContext.TraceID().String()
			if tt.wantTrace != "" && traceID != tt.wantTrace {
				t.Errorf("trace id = %s, want %s", traceID, tt.wantTrace)
			}
			if tt.wantTrace == "" && (traceID == xrayTrace || span.Parent.IsValid()) {
				t.Errorf("trace id = %s (parent %v), want a new root", traceID, span.Parent)
			}
			if got := span.Parent.SpanID(); tt.wantParent != "" && got.String() != tt.wantParent {
				t.Errorf("parent = %s, want %s", got, tt.wantParent)
			}
			if span.Name != tt.wantName {
				t.Errorf("span name = %q, want %q", span.Name, tt.wantName)
			}
			attrs := map[string]string{}
			for _, kv := range span.Attributes {
				attrs[string(kv.Key)] = kv.Value.Emit()
			}
			if attrs["http.route"] != tt.wantRoute {
				t.Errorf("http.route = %q, want %q", attrs["http.route"], tt.wantRoute)
			}
			for k, v := range attrs {
				if strings.Contains(v, "secret-123") || strings.Contains(v, "Alice") {
					t.Errorf("span attribute %s = %q leaks the path or query", k, v)
				}
			}
		})
	}
}

// TestHTTPHandlerSpanLeavesOutClientText: the server span takes no text the
// client chose: not X-Forwarded-For (otelhttp made its first entry
// client.address, which the access log did not believe), User-Agent or
// Host. client.address is the peer, which httpx.TrustedProxies has made
// the client's address when a trusted proxy sent the request. The handler
// still sees the request as it came.
func TestHTTPHandlerSpanLeavesOutClientText(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var seen *http.Request
	h := telemetry.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }), tp, nil)

	req := httptest.NewRequest(http.MethodGet, "/v1/patients/x", nil)
	req.RemoteAddr = "192.0.2.7:41000"
	req.Host = "alice-diaz.example"
	req.Header.Set("X-Forwarded-For", "Alice Diaz, 198.51.100.1")
	req.Header.Set("Forwarded", "for=alice")
	req.Header.Set("X-Real-Ip", "alice")
	req.Header.Set("User-Agent", "Alice's phone")
	h.ServeHTTP(httptest.NewRecorder(), req)

	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
		if v := strings.ToLower(kv.Value.Emit()); strings.Contains(v, "alice") || strings.Contains(v, "198.51.100.1") {
			t.Errorf("span attribute %s = %q: text the client chose", kv.Key, kv.Value.Emit())
		}
	}
	if got := attrs["client.address"]; got != "192.0.2.7" {
		t.Errorf("client.address = %q, want the peer 192.0.2.7", got)
	}
	if seen == nil || seen.Host != "alice-diaz.example" || seen.Header.Get("User-Agent") != "Alice's phone" ||
		seen.Header.Get("X-Forwarded-For") != "Alice Diaz, 198.51.100.1" || seen.URL.Path != "/v1/patients/x" {
		t.Errorf("the handler saw %+v, want the request as it came", seen)
	}
	if req.Header.Get("User-Agent") != "Alice's phone" {
		t.Error("the caller's request headers were changed")
	}

	// A method HTTP does not define is the client's text too (QA re-test:
	// http.request.method_original held it); the handler still sees it.
	exp.Reset()
	odd := httptest.NewRequest("ALICE-DIAZ-1970", "/v1/patients/x", nil)
	h.ServeHTTP(httptest.NewRecorder(), odd)
	spans = exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	for _, kv := range spans[0].Attributes {
		if strings.Contains(strings.ToLower(kv.Value.Emit()), "alice") {
			t.Errorf("span attribute %s = %q: the client's method name", kv.Key, kv.Value.Emit())
		}
	}
	if spans[0].Name != "OTHER" || seen.Method != "ALICE-DIAZ-1970" {
		t.Errorf("span %q, handler saw method %q; want OTHER and the method as sent", spans[0].Name, seen.Method)
	}
}

func TestHTTPHandlerWithoutProviderStillCorrelatesLogs(t *testing.T) {
	logs := &syncbuf.Buffer{}
	h := telemetry.HTTPHandler(
		telemetry.Middleware(patientMux(), telemetry.MiddlewareDeps{Logger: telemetry.NewLogger(logs, slog.LevelInfo)}),
		nil, nil)
	req := httptest.NewRequest(http.MethodGet, "/v1/patients/9", nil)
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "{}" {
		t.Fatalf("response = %d %q", rec.Code, rec.Body.String())
	}
	access := findLine(t, logLines(t, logs.String()), "http request")
	if access["trace_id"] != "5759e988bd862e3fe1be46a994272793" {
		t.Errorf("access log trace_id = %v, want the incoming trace", access["trace_id"])
	}
	if access["route"] != "/v1/patients/{id}" {
		t.Errorf("access log route = %v", access["route"])
	}
}
