package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys added from the context of a record.
const (
	// KeyRequestID is the key of the request id.
	KeyRequestID = "request_id"
	// KeyTraceID is the key of the W3C trace id (32 hex digits).
	KeyTraceID = "trace_id"
	// KeySpanID is the key of the span id (16 hex digits).
	KeySpanID = "span_id"
	// KeyXRayTraceID is the key of the trace id in AWS X-Ray format
	// (1-<8 hex>-<24 hex>), so CloudWatch Logs lines can be found from an
	// X-Ray trace and the other way round.
	KeyXRayTraceID = "xray_trace_id"
)

// NewLogger returns a logger writing JSON lines to w at level and above.
//
// Every record logged with a context (logger.InfoContext(ctx, …)) gets the
// request id stored by WithRequestID and, when the context carries a valid
// OpenTelemetry span context, trace_id, span_id and xray_trace_id. Records
// logged under a group (logger.WithGroup) get these attributes inside that
// group.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(NewContextHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// NewContextHandler wraps next so that records logged with a context get the
// request id and trace ids described at NewLogger. Use it to add the same
// correlation to a handler other than the JSON one NewLogger builds.
func NewContextHandler(next slog.Handler) slog.Handler {
	return contextHandler{next: next}
}

// contextHandler adds correlation attributes from the context of a record.
type contextHandler struct {
	next slog.Handler
}

func (h contextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	var attrs []slog.Attr
	if id := RequestID(ctx); id != "" && !hasAttr(r, KeyRequestID) {
		attrs = append(attrs, slog.String(KeyRequestID, id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		traceID := sc.TraceID().String()
		attrs = append(attrs,
			slog.String(KeyTraceID, traceID),
			slog.String(KeySpanID, sc.SpanID().String()),
			slog.String(KeyXRayTraceID, XRayTraceID(sc.TraceID())),
		)
	}
	if len(attrs) > 0 {
		// The record may share its attribute storage with other copies;
		// clone it before adding to it.
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.next.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{next: h.next.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{next: h.next.WithGroup(name)}
}

// hasAttr reports whether r already carries a top-level attribute key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = true
			return false
		}
		return true
	})
	return found
}

// XRayTraceID formats a W3C trace id the way AWS X-Ray writes it:
// "1-" followed by the first 8 hex digits, "-", and the remaining 24.
// It returns "" for an invalid trace id.
func XRayTraceID(id trace.TraceID) string {
	if !id.IsValid() {
		return ""
	}
	s := id.String()
	return "1-" + s[:8] + "-" + s[8:]
}

// requestIDKey is the context key of the request id.
type requestIDKey struct{}

// WithRequestID returns a copy of ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id stored in ctx by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ParseLevel parses a log level name: debug, info, warn (or warning) and
// error, case-insensitively, optionally with an offset as slog writes it
// ("INFO+2").
func ParseLevel(s string) (slog.Level, error) {
	name := strings.TrimSpace(s)
	if strings.EqualFold(name, "warning") {
		name = "warn"
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return slog.LevelInfo, fmt.Errorf("parse log level %q: want debug, info, warn or error", s)
	}
	return level, nil
}
