package store

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The binary COPY encodings, byte for byte (PostgreSQL's send functions
// of each type), and the values a column refuses.
func TestAppendBinaryValue(t *testing.T) {
	day := time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		kind pgKind
		v    any
		hex  string
	}{
		{kindText, "ab", "00000002" + "6162"},
		{kindText, []byte(nil), "ffffffff"},
		{kindText, nil, "ffffffff"},
		{kindText, int64(42), "00000002" + "3432"},
		{kindInt2, int64(-2), "00000002" + "fffe"},
		{kindInt2, "7", "00000002" + "0007"},
		{kindInt4, 70000, "00000004" + "00011170"},
		{kindInt8, int64(1) << 40, "00000008" + "0000010000000000"},
		{kindFloat8, 1.5, "00000008" + "3ff8000000000000"},
		{kindFloat8, int64(2), "00000008" + "4000000000000000"},
		{kindBool, true, "00000001" + "01"},
		{kindBool, "f", "00000001" + "00"},
		{kindDate, day, "00000004" + "00000001"},
		{kindDate, time.Date(1999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -3600)), "00000004" + "00000000"}, // 2000-01-01 00:00 UTC: day 0
		{kindDate, "1999-12-31", "00000004" + "ffffffff"},
		{kindTimestamp, day.Add(1500 * time.Microsecond), "00000008" + "000000141dd765dc" /* 86,400,001,500 µs */},
	} {
		got, err := appendBinaryValue(nil, c.kind, c.v)
		if err != nil {
			t.Errorf("kind %d, %v: %v", c.kind, c.v, err)
			continue
		}
		want, _ := hex.DecodeString(c.hex)
		if !bytes.Equal(got, want) {
			t.Errorf("kind %d, %#v: got %x, want %x", c.kind, c.v, got, want)
		}
	}
	for _, c := range []struct {
		kind pgKind
		v    any
		want string
	}{
		{kindInt2, int64(40000), "out of range for smallint"},
		{kindInt4, "12x", "is not an integer"},
		{kindDate, "02/01/2000", "is not a date"},
		{kindBool, 1.5, "number for a column"},
		{kindInt8, struct{}{}, "unsupported value type"},
	} {
		if _, err := appendBinaryValue(nil, c.kind, c.v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kind %d, %#v: error %v, want one containing %q", c.kind, c.v, err, c.want)
		}
	}
	if _, ok := binaryKinds([]string{"text", "numeric"}); ok {
		t.Error("a table with a numeric column was given binary kinds")
	}
}
