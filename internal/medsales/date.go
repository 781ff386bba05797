package medsales

import (
	"fmt"
	"time"
)

// DateLayout is how the API writes calendar dates: "2021-04-06".
const DateLayout = time.DateOnly

// Date is a calendar date of the public datasets (an NPI's enumeration,
// last update or deactivation date, a payment date, a release date): a
// time at midnight UTC that JSON encodes as "YYYY-MM-DD", with no time of
// day or zone.
type Date struct{ time.Time }

// DateOf returns the calendar date of t (its year, month and day in t's
// location) as a Date.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// DatePtr returns &DateOf(t), or nil for the zero time.
func DatePtr(t time.Time) *Date {
	if t.IsZero() {
		return nil
	}
	d := DateOf(t)
	return &d
}

// String returns the date as "YYYY-MM-DD".
func (d Date) String() string { return d.Format(DateLayout) }

// MarshalJSON encodes the date as "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(DateLayout)+2)
	b = append(b, '"')
	b = d.AppendFormat(b, DateLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON decodes "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("date: %s is not a JSON string", b)
	}
	t, err := time.Parse(DateLayout, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("date: %w", err)
	}
	d.Time = t
	return nil
}
