package schedule

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Clock is a wall time of day in minutes since midnight, 0 (00:00) to 1439
// (23:59). It is written as "HH:MM" in text and JSON.
type Clock int

// ParseClock reads "HH:MM" (two digits each, 00:00 to 23:59).
func ParseClock(s string) (Clock, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, errs.Invalid("", "must be a time of day HH:MM")
	}
	h, ok1 := twoDigits(s[0:2])
	m, ok2 := twoDigits(s[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, errs.Invalid("", "must be a time of day HH:MM between 00:00 and 23:59")
	}
	return Clock(h*60 + m), nil
}

// Valid reports whether c is between 00:00 and 23:59.
func (c Clock) Valid() bool { return c >= 0 && c < 24*60 }

// String formats c as "HH:MM". An invalid Clock formats as "invalid".
func (c Clock) String() string {
	if !c.Valid() {
		return "invalid"
	}
	b := [5]byte{byte('0' + c/600), byte('0' + c/60%10), ':', byte('0' + c%60/10), byte('0' + c%10)}
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler, so JSON holds "HH:MM".
func (c Clock) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, errs.Invalid("", "clock out of range")
	}
	return []byte(c.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Clock) UnmarshalText(b []byte) error {
	v, err := ParseClock(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// Anchors are a patient's daily routine, to which event-linked times
// (repeat.when) and the default-times policy are mapped. The zero Anchors
// stands for DefaultAnchors in Expand.
type Anchors struct {
	Wake      Clock `json:"wake"`
	Breakfast Clock `json:"breakfast"`
	Lunch     Clock `json:"lunch"`
	Dinner    Clock `json:"dinner"`
	Bed       Clock `json:"bed"`
}

// DefaultAnchors returns wake 07:00, breakfast 07:30, lunch 12:00, dinner
// 18:00 and bed 22:00.
func DefaultAnchors() Anchors {
	return Anchors{Wake: 7 * 60, Breakfast: 7*60 + 30, Lunch: 12 * 60, Dinner: 18 * 60, Bed: 22 * 60}
}

// anchorNames lists the anchor keys in the order of the struct fields.
var anchorNames = [5]string{"wake", "breakfast", "lunch", "dinner", "bed"}

func (a *Anchors) field(name string) *Clock {
	switch name {
	case "wake":
		return &a.Wake
	case "breakfast":
		return &a.Breakfast
	case "lunch":
		return &a.Lunch
	case "dinner":
		return &a.Dinner
	case "bed":
		return &a.Bed
	}
	return nil
}

// Validate checks that every anchor is a time between 00:00 and 23:59. The
// error names the anchor, e.g. "wake".
func (a Anchors) Validate() error {
	for _, name := range anchorNames {
		if !a.field(name).Valid() {
			return errs.Invalid(name, "must be a time of day between 00:00 and 23:59")
		}
	}
	return nil
}

// ParseAnchors reads a comma-separated list such as
// "wake=06:30,breakfast=07:00,bed=23:00" (the CLI --anchors flag). Omitted
// keys keep their DefaultAnchors values; an unknown key or a bad time is an
// *errs.Error whose Field is the key.
func ParseAnchors(s string) (Anchors, error) {
	a := DefaultAnchors()
	if strings.TrimSpace(s) == "" {
		return a, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		key = strings.TrimSpace(key)
		if !ok {
			return a, errs.Invalid(key, "anchor must be written key=HH:MM")
		}
		c := a.field(key)
		if c == nil {
			return a, errs.Invalid(key, "unknown anchor; want wake, breakfast, lunch, dinner or bed")
		}
		if seen[key] {
			return a, errs.Invalid(key, "anchor given twice")
		}
		seen[key] = true
		v, err := ParseClock(strings.TrimSpace(val))
		if err != nil {
			return a, errs.PrefixField(err, key)
		}
		*c = v
	}
	return a, nil
}

// UnmarshalJSON decodes {"wake":"07:00",…}. Omitted keys keep their
// DefaultAnchors values and unknown keys are rejected.
func (a *Anchors) UnmarshalJSON(data []byte) error {
	type plain Anchors // no methods, so no recursion
	v := plain(DefaultAnchors())
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*a = Anchors(v)
	return nil
}
