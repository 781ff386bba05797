package phi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/phi"
)

func TestRedaction(t *testing.T) {
	const secret = "Alice Smith 555-0100"
	v := phi.New(secret)
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	logger.Info("msg", "name", v, "any", any(v))
	jsonBytes, err := json.Marshal(struct{ Name phi.String }{v})
	if err != nil {
		t.Fatal(err)
	}
	renderings := map[string]string{
		"%v":    fmt.Sprintf("%v", v),
		"%+v":   fmt.Sprintf("%+v", struct{ N phi.String }{v}),
		"%#v":   fmt.Sprintf("%#v", v),
		"%s":    fmt.Sprintf("%s", v),
		"%q":    fmt.Sprintf("%q", v),
		"%x":    fmt.Sprintf("%x", v),
		"error": fmt.Errorf("wrapped: %v", v).Error(),
		"join":  errors.Join(fmt.Errorf("%s", v)).Error(),
		"slog":  logBuf.String(),
		"json":  string(jsonBytes),
	}
	for name, got := range renderings {
		// The whole phone number: "555" alone also turns up in slog's
		// timestamps (…:37.555938512Z), which made this test flaky.
		if strings.Contains(got, "Alice") || strings.Contains(got, "555-0100") {
			t.Errorf("%s rendering leaks PHI: %s", name, got)
		}
		if !strings.Contains(got, phi.Redacted) {
			t.Errorf("%s rendering = %q, want it to show %s", name, got, phi.Redacted)
		}
	}
	if v.Reveal() != secret {
		t.Errorf("Reveal() = %q, want %q", v.Reveal(), secret)
	}
}

func TestJSONAndSQLRoundTrip(t *testing.T) {
	var got struct{ Name phi.String }
	if err := json.Unmarshal([]byte(`{"Name":"Bob"}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name.Reveal() != "Bob" {
		t.Fatalf("decoded %q, want Bob", got.Name.Reveal())
	}
	dv, err := got.Name.Value()
	if err != nil || dv != "Bob" {
		t.Fatalf("Value() = %v, %v; want Bob", dv, err)
	}
	var s phi.String
	for _, src := range []any{"Carol", []byte("Carol")} {
		if err := s.Scan(src); err != nil || s.Reveal() != "Carol" {
			t.Fatalf("Scan(%T) = %q, %v", src, s.Reveal(), err)
		}
	}
	if err := s.Scan(nil); err != nil || !s.IsZero() {
		t.Fatalf("Scan(nil) = %q, %v; want empty", s.Reveal(), err)
	}
	if err := s.Scan(42); err == nil {
		t.Fatal("Scan(int) succeeded, want an error")
	}
}
