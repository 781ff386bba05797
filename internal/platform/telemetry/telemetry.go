// Package telemetry is the observability backbone both products share:
// JSON logs that carry the request id and the trace ids of the request they
// belong to, an HTTP middleware that assigns request ids, recovers panics,
// writes one access line per request and records Prometheus metrics, a
// Prometheus registry and /metrics handler, and OpenTelemetry tracing that
// exports over OTLP/HTTP to an ADOT collector (and from there to X-Ray).
//
// The package keeps no global state: it never touches the default Prometheus
// registry nor the global OpenTelemetry provider and propagator. Everything
// is built by the caller and passed where it is used.
//
// # Wiring
//
// A product's NewServer wraps its mux like this (outermost last):
//
//	mux := http.NewServeMux() // routes.go registers every route here
//	var h http.Handler = mux
//	h = telemetry.Middleware(h, telemetry.MiddlewareDeps{Logger: log, Metrics: m, OnPanic: writeProblem500})
//	h = telemetry.HTTPHandler(h, tp, prop)
//
// HTTPHandler goes outside Middleware so that the span exists when
// Middleware logs (the access line then carries trace_id) and so that a
// recovered panic still ends the span with status 500.
//
// # Routes, not paths
//
// Paths contain patient and provider ids, so logs, metric labels and span
// names use the route pattern the ServeMux matched ("/v1/patients/{id}"),
// never the raw path, and never the query string. Requests no pattern
// matched are reported as "unmatched".
//
// The ServeMux records the matched pattern in the Pattern field of the
// *http.Request it was given, before calling the route's handler.
// Middleware reads that field, after the handler returned, from the request
// it passed on; this works when the next handler is the *http.ServeMux (or
// a type embedding one, such as httpx.Mux). When something between
// Middleware and the mux replaces the request (r.WithContext,
// http.StripPrefix, http.TimeoutHandler), wrap the route handlers with
// RecordRoute: Middleware puts a small route slot in the request context,
// and RecordRoute, running inside the mux, fills it from r.Pattern. The same
// slot tells HTTPHandler the route so it can rename the span.
package telemetry
