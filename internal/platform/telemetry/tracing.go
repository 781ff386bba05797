package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// TracingConfig describes the service that emits the traces.
type TracingConfig struct {
	// ServiceName is service.name unless OTEL_SERVICE_NAME is set.
	ServiceName string
	// ServiceVersion is service.version (the build version).
	ServiceVersion string
	// Logger receives the span exports that failed (a collector that is
	// down, …) as warnings; nil discards them.
	Logger *slog.Logger
}

// SetupTracing builds the tracer provider from the standard OTEL_*
// environment variables, read through getenv:
//
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL, used as is) or
//     OTEL_EXPORTER_OTLP_ENDPOINT (a base URL; /v1/traces is appended).
//     When neither is set, or OTEL_SDK_DISABLED=true, or
//     OTEL_TRACES_EXPORTER=none, tracing is off: the provider is a no-op
//     and shutdown does nothing. An endpoint without a scheme
//     ("collector:4318") uses http when OTEL_EXPORTER_OTLP_INSECURE (or
//     OTEL_EXPORTER_OTLP_TRACES_INSECURE) is true, https otherwise.
//   - OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS
//     (key=value pairs separated by commas, values URL-encoded; the
//     traces-specific list wins key by key).
//   - OTEL_EXPORTER_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be
//     unset or http/protobuf: only OTLP over HTTP is built in.
//   - OTEL_SERVICE_NAME overrides cfg.ServiceName.
//   - OTEL_TRACES_SAMPLER (always_on, always_off, traceidratio,
//     parentbased_always_on — the default —, parentbased_always_off,
//     parentbased_traceidratio) with OTEL_TRACES_SAMPLER_ARG, the ratio in
//     [0, 1] (default 1). A ratio given without a sampler selects
//     parentbased_traceidratio.
//
// Spans are exported in batches; shutdown flushes them and must be called
// before the process exits. Settings the variables above do not cover
// (timeouts, compression, TLS files) are left to the exporter, which reads
// them from the process environment.
//
// SetupTracing sets no global OpenTelemetry state: pass the provider and
// NewPropagator() to HTTPHandler.
func SetupTracing(ctx context.Context, cfg TracingConfig, getenv func(string) string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return tracenoop.NewTracerProvider(), noop, nil
	}
	endpoint, err := traceEndpoint(getenv)
	if err != nil {
		return nil, nil, err
	}
	if endpoint == "" {
		return tracenoop.NewTracerProvider(), noop, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(name)); p != "" && p != "http/protobuf" {
			return nil, nil, fmt.Errorf("tracing: %s=%q is not supported, only http/protobuf", name, p)
		}
	}
	headers, err := traceHeaders(getenv)
	if err != nil {
		return nil, nil, err
	}
	sampler, err := traceSampler(getenv)
	if err != nil {
		return nil, nil, err
	}

	name := strings.TrimSpace(getenv("OTEL_SERVICE_NAME"))
	if name == "" {
		name = cfg.ServiceName
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: build resource: %w", err)
	}

	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if len(headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: create otlp exporter: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(loggedExporter{exp, logger}),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)
	shutdown = func(ctx context.Context) error {
		if err := provider.Shutdown(ctx); err != nil {
			return fmt.Errorf("tracing: shutdown: %w", err)
		}
		return nil
	}
	return provider, shutdown, nil
}

// loggedExporter reports a failed export to the JSON log itself and hides
// it from the batch processor, which would hand it to OpenTelemetry's
// global error handler: that prints plain-text "traces export: …" lines on
// the process's standard error, which log pipelines cannot parse.
type loggedExporter struct {
	sdktrace.SpanExporter
	log *slog.Logger
}

func (e loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.log.WarnContext(ctx, "tracing: span export failed", "spans", len(spans), "error", err.Error())
	}
	return nil
}

// traceEndpoint returns the full URL spans are posted to, or "" when no
// endpoint is configured.
func traceEndpoint(getenv func(string) string) (string, error) {
	name, raw, appendPath := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")), false
	insecureVar := "OTEL_EXPORTER_OTLP_TRACES_INSECURE"
	if raw == "" {
		name, raw, appendPath = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")), true
		insecureVar = "OTEL_EXPORTER_OTLP_INSECURE"
	}
	if raw == "" {
		return "", nil
	}
	if !strings.Contains(raw, "://") {
		insecure, err := envBool(getenv, insecureVar)
		if err != nil {
			return "", err
		}
		if insecure {
			raw = "http://" + raw
		} else {
			raw = "https://" + raw
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed: it may carry credentials.
		return "", fmt.Errorf("tracing: %s is not an http(s) URL", name)
	}
	if appendPath {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		u.RawPath = ""
	}
	return u.String(), nil
}

// envBool parses a boolean variable; unset is false.
func envBool(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("tracing: %s=%q is not a boolean", name, v)
	}
	return b, nil
}

// traceHeaders merges OTEL_EXPORTER_OTLP_HEADERS and
// OTEL_EXPORTER_OTLP_TRACES_HEADERS.
func traceHeaders(getenv func(string) string) (map[string]string, error) {
	headers := map[string]string{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			continue
		}
		for i, pair := range strings.Split(raw, ",") {
			k, v, ok := strings.Cut(pair, "=")
			key, kerr := url.PathUnescape(strings.TrimSpace(k))
			value, verr := url.PathUnescape(strings.TrimSpace(v))
			if !ok || key == "" || kerr != nil || verr != nil {
				// Header values are often secrets: name the entry, not its text.
				return nil, fmt.Errorf("tracing: %s: entry %d is not key=value", name, i+1)
			}
			headers[key] = value
		}
	}
	return headers, nil
}

// traceSampler builds the sampler named by OTEL_TRACES_SAMPLER.
func traceSampler(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
	if name == "" {
		name = "parentbased_always_on"
		if arg != "" {
			name = "parentbased_traceidratio"
		}
	}
	ratio := 1.0
	if arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER_ARG=%q is not a ratio in [0, 1]", arg)
		}
		ratio = r
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	default:
		return nil, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER=%q is not supported", name)
	}
}

// NewPropagator returns the propagator for incoming and outgoing requests:
// AWS X-Ray (X-Amzn-Trace-Id, so a trace started by API Gateway or an X-Ray
// SDK client is continued), then W3C tracecontext and baggage. On extract a
// later propagator wins, so a valid traceparent takes precedence over
// X-Amzn-Trace-Id. An X-Amzn-Trace-Id without Parent (as an ALB adds when it
// starts the trace) cannot be continued and starts a new trace.
func NewPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		xray.Propagator{},
		propagation.TraceContext{},
		propagation.Baggage{},
	)
}

// HTTPHandler wraps next with otelhttp so that each request runs in a server
// span of tp, continuing the trace prop extracts from the request headers.
// A nil tp means no tracing (incoming trace ids still reach the logs); a
// nil prop means NewPropagator().
//
// The span is named "<METHOD> <route>" from the route pattern once the
// handler has run (see the package documentation), or "<METHOD>" when no
// pattern matched, and gets http.route. The raw path and the query string
// are hidden from otelhttp, so no url.path attribute carrying patient ids
// is ever recorded. Put HTTPHandler outside Middleware.
func HTTPHandler(next http.Handler, tp trace.TracerProvider, prop propagation.TextMapPropagator) http.Handler {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if prop == nil {
		prop = NewPropagator()
	}
	if _, off := tp.(tracenoop.TracerProvider); off {
		// No tracing: all a request needs is the caller's trace context
		// (the logs print its ids). otelhttp would still build a span, its
		// attributes and metric attributes for nothing: 7% of the
		// server's CPU on the adherence event path.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
		})
	}
	// inner runs inside the otelhttp span: it gives next the real URL back
	// and names the span after the route once next has run.
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := r.WithContext(r.Context())
		if orig, ok := r.Context().Value(origKey{}).(origRequest); ok {
			req.URL, req.Header, req.Host, req.Method = orig.url, orig.header, orig.host, orig.method
		}
		defer func() {
			if req.MultipartForm != nil {
				r.MultipartForm = req.MultipartForm
			}
		}()
		next.ServeHTTP(w, req)

		_, slot := withRouteSlot(r.Context())
		route := routeOf(req, slot)
		span := trace.SpanFromContext(r.Context())
		if route != UnmatchedRoute {
			span.SetName(normalizeMethod(r.Method) + " " + route)
			span.SetAttributes(semconv.HTTPRoute(route))
		}
	})
	traced := otelhttp.NewHandler(inner, "http.server",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(spanName),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := withRouteSlot(r.Context())
		ctx = context.WithValue(ctx, origKey{}, origRequest{url: r.URL, header: r.Header, host: r.Host, method: r.Method})
		hidden := r.WithContext(ctx)
		if r.URL != nil {
			u := *r.URL
			u.Path, u.RawPath, u.RawQuery, u.Fragment = "", "", "", ""
			hidden.URL = &u
		}
		// otelhttp records client.address from X-Forwarded-For's first
		// entry, which the client writes, and user_agent.original and
		// server.address from what the client sent too: any caller
		// could put any text, PHI included, into the trace, and the
		// span named another client than the access log (QA). Behind
		// httpx.TrustedProxies, RemoteAddr is already the client's
		// address as the access log and the audit trail give it.
		// A method net/http accepts but HTTP does not define is any
		// token the client wrote, which otelhttp keeps as
		// http.request.method_original (QA re-test).
		hidden.Host = ""
		if !knownMethods[r.Method] {
			hidden.Method = "_OTHER"
		}
		hidden.Header = r.Header.Clone()
		for _, h := range spanHiddenHeaders {
			hidden.Header.Del(h)
		}
		defer func() {
			if hidden.MultipartForm != nil {
				r.MultipartForm = hidden.MultipartForm
			}
		}()
		traced.ServeHTTP(w, hidden)
	})
}

// origKey is the context key under which HTTPHandler keeps the real URL,
// headers, host and method (an origRequest) while otelhttp sees a request
// without path, query, host, an unknown method's name and the headers it
// would copy into the span.
type origKey struct{}

type origRequest struct {
	url    *url.URL
	header http.Header
	host   string
	method string
}

// spanHiddenHeaders are the request headers otelhttp would turn into span
// attributes: the client chooses their text.
var spanHiddenHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip", "User-Agent"}

// spanName names a server span from the request: "<METHOD> <route>" when
// the request already carries a pattern, "<METHOD>" otherwise.
func spanName(_ string, r *http.Request) string {
	method := normalizeMethod(r.Method)
	if route := routeFromPattern(r.Method, r.Pattern); route != "" {
		return method + " " + route
	}
	return method
}
