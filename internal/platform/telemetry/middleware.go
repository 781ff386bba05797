package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// RequestIDHeader is the header that carries the request id in both
// directions.
const RequestIDHeader = "X-Request-Id"

// UnmatchedRoute is the route reported for requests no pattern matched.
const UnmatchedRoute = "unmatched"

// validRequestID is what an incoming request id must look like to be kept.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// MiddlewareDeps are the dependencies of Middleware.
type MiddlewareDeps struct {
	// Logger receives the access lines and recovered panics. Build it with
	// NewLogger so that every line carries request_id and the trace ids.
	// Nil discards the lines.
	Logger *slog.Logger
	// Metrics records request counts and durations. Nil records nothing.
	Metrics *HTTPMetrics
	// OnPanic writes the response after a handler panicked before writing
	// its headers; the product writes its problem+json 500 here. Nil writes
	// a plain-text 500.
	OnPanic func(http.ResponseWriter, *http.Request)
	// Now is the clock used to measure durations. Nil means time.Now.
	Now func() time.Time
	// AdoptRequestID keeps a well-formed incoming X-Request-Id as the
	// request's id, so a caller can follow its request through the logs.
	// Off, every request gets an id of the server's own: adherence's
	// audit trail records the id and joins an audit record to the events
	// of its request by it, and a client could otherwise give two
	// principals' requests one id, or write what it likes (a patient's
	// name) into the logs.
	AdoptRequestID bool
}

// Middleware wraps next (normally the product's *http.ServeMux) so that each
// request:
//
//   - gets a request id: with deps.AdoptRequestID, the incoming
//     X-Request-Id header when it matches ^[A-Za-z0-9._-]{1,64}$;
//     otherwise 16 random bytes in hex. The id is
//     stored in the request context (see RequestID) and echoed in the
//     X-Request-Id response header;
//   - has its panics recovered: the panic value and stack are logged (never
//     the request body) and deps.OnPanic writes the 500. When the handler
//     had already started its response, the connection is aborted instead
//     (the client must not take a truncated body for a complete one);
//     http.ErrAbortHandler is passed through untouched;
//   - is logged in one access line: method, route, status, bytes,
//     duration_ms, request_id and remote_addr — never the raw path nor the
//     query string;
//   - is counted in the metrics of deps.Metrics under its route.
//
// See the package documentation for how the route is found.
func Middleware(next http.Handler, deps MiddlewareDeps) http.Handler {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	onPanic := deps.OnPanic
	if onPanic == nil {
		onPanic = func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()

		id := r.Header.Get(RequestIDHeader)
		if !deps.AdoptRequestID || !validRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)

		ctx, slot := withRouteSlot(r.Context())
		ctx = WithRequestID(ctx, id)
		inner := r.WithContext(ctx)
		defer func() {
			// net/http removes the temporary files of a parsed multipart
			// form through the request it created; hand the form back.
			if inner.MultipartForm != nil {
				r.MultipartForm = inner.MultipartForm
			}
		}()

		rec := &responseRecorder{ResponseWriter: w}
		abort := serveRecovering(rec, inner, next, logger, onPanic, slot)

		route := routeOf(inner, slot)
		slot.set(route)
		status := rec.statusCode()
		method := normalizeMethod(r.Method)
		elapsed := now().Sub(start)

		deps.Metrics.observe(method, route, status, elapsed)
		logger.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String(KeyRequestID, id),
			slog.String("remote_addr", r.RemoteAddr),
		)
		if abort {
			panic(http.ErrAbortHandler)
		}
	})
}

// serveRecovering calls next and recovers a panic from it. It reports
// whether the connection must be aborted, which is the case for
// http.ErrAbortHandler and for panics after the response was started.
func serveRecovering(rec *responseRecorder, r *http.Request, next http.Handler, logger *slog.Logger, onPanic func(http.ResponseWriter, *http.Request), slot *routeSlot) (abort bool) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			abort = true
			return
		}
		logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
			slog.String("panic", fmt.Sprint(v)),
			slog.String("stack", string(debug.Stack())),
			slog.String("method", normalizeMethod(r.Method)),
			slog.String("route", routeOf(r, slot)),
		)
		if rec.wroteHeader {
			abort = true
			return
		}
		onPanic(rec, r)
	}()
	next.ServeHTTP(rec, r)
	return false
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error; it crashes the program
	// when the system's random source fails.
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// knownMethods are the methods reported as they are; any other method is
// reported as "OTHER" so clients cannot create label values at will.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
	http.MethodConnect: true, http.MethodOptions: true, http.MethodTrace: true,
}

func normalizeMethod(m string) string {
	if knownMethods[m] {
		return m
	}
	return "OTHER"
}

// routeSlot carries the matched route from inside the mux out to
// Middleware and HTTPHandler.
type routeSlot struct {
	mu    sync.Mutex
	route string
}

func (s *routeSlot) set(route string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route = route
}

func (s *routeSlot) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.route
}

type routeSlotKey struct{}

// withRouteSlot returns ctx with a route slot, reusing one already there so
// that HTTPHandler and Middleware share it.
func withRouteSlot(ctx context.Context) (context.Context, *routeSlot) {
	if s, ok := ctx.Value(routeSlotKey{}).(*routeSlot); ok {
		return ctx, s
	}
	s := &routeSlot{}
	return context.WithValue(ctx, routeSlotKey{}, s), s
}

// RecordRoute wraps a handler registered on a ServeMux so that the pattern
// the mux matched reaches Middleware and HTTPHandler even when a handler
// between them and the mux replaced the request. It is not needed when
// Middleware wraps the mux directly. See the package documentation.
func RecordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok && r.Pattern != "" {
			s.set(routeFromPattern(r.Method, r.Pattern))
		}
		next.ServeHTTP(w, r)
	})
}

// routeOf returns the route of a served request: the slot when RecordRoute
// filled it, otherwise the pattern the mux recorded in r, otherwise
// UnmatchedRoute.
func routeOf(r *http.Request, slot *routeSlot) string {
	if route := slot.get(); route != "" {
		return route
	}
	if route := routeFromPattern(r.Method, r.Pattern); route != "" {
		return route
	}
	return UnmatchedRoute
}

// routeFromPattern turns a ServeMux pattern ("GET example.com/v1/x/{id}")
// into the route reported in logs, labels and span names: the path part
// ("/v1/x/{id}"), without the method (which is reported on its own) and the
// host. For CONNECT requests the mux may report a request path as the
// pattern, so they are never given a route.
func routeFromPattern(method, pattern string) string {
	if method == http.MethodConnect {
		return ""
	}
	i := strings.IndexByte(pattern, '/')
	if i < 0 {
		return ""
	}
	return pattern[i:]
}

// responseRecorder remembers the status and size of a response.
type responseRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
}

func (w *responseRecorder) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		// 1xx responses are informational; the final status comes later.
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets handlers that type-assert http.Flusher stream through the
// recorder.
func (w *responseRecorder) Flush() {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer
// (deadlines, hijacking, full duplex).
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusCode returns the status sent, or 200 when the handler wrote nothing.
func (w *responseRecorder) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
