// Package phi holds wrapper types for protected health information. Their
// String, Format, LogValue and MarshalJSON methods all redact, so a value
// that reaches a log line, an error message or a JSON body by accident shows
// "[REDACTED]". Code that is allowed to disclose the value calls Reveal
// explicitly; the API does so only where the caller may read it.
package phi

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what every accidental rendering of PHI shows.
const Redacted = "[REDACTED]"

// String is a PHI text value such as a name, phone number or e-mail address.
type String struct{ v string }

// New wraps a PHI value.
func New(s string) String { return String{v: s} }

// Reveal returns the real value. Call it only where disclosure is intended.
func (s String) Reveal() string { return s.v }

// IsZero reports whether the value is empty.
func (s String) IsZero() bool { return s.v == "" }

// String redacts.
func (s String) String() string { return Redacted }

// GoString redacts (%#v).
func (s String) GoString() string { return Redacted }

// Format redacts under every verb, including %v, %s, %q and %x.
func (s String) Format(f fmt.State, verb rune) { fmt.Fprint(f, Redacted) }

// LogValue redacts in log/slog output.
func (s String) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON redacts; encode s.Reveal() to disclose.
func (s String) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalText redacts, which also covers encoders that prefer text.
func (s String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalJSON accepts the real value from a request body.
func (s *String) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s.v = v
	return nil
}

// Value stores the real value in the database.
func (s String) Value() (driver.Value, error) { return s.v, nil }

// Scan reads the real value from the database; NULL becomes empty.
func (s *String) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		s.v = ""
	case string:
		s.v = v
	case []byte:
		s.v = string(v)
	default:
		return fmt.Errorf("phi.String: cannot scan %T", src)
	}
	return nil
}
