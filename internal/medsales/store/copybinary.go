package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// PostgreSQL's binary COPY format: a header, then per row a 16-bit field
// count and per field a 32-bit length (-1 for NULL) and the value in the
// type's binary form, then a trailer (field count -1). See the COPY
// reference, "Binary Format".

// pgCopyHeader is the signature, the flags field (no OIDs) and an empty
// header extension.
var pgCopyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// pgKind is a column type the binary writer encodes.
type pgKind uint8

const (
	kindText pgKind = iota
	kindInt2
	kindInt4
	kindInt8
	kindFloat4
	kindFloat8
	kindBool
	kindDate
	kindTimestamp // timestamp and timestamptz: microseconds since 2000-01-01 UTC
)

// binaryKinds maps information_schema udt_names to kinds; ok is false when
// a column has a type the binary writer does not encode (numeric, …): that
// table is copied in text format.
func binaryKinds(types []string) (kinds []pgKind, ok bool) {
	kinds = make([]pgKind, len(types))
	for i, t := range types {
		switch t {
		case "text", "varchar", "bpchar":
			kinds[i] = kindText
		case "int2":
			kinds[i] = kindInt2
		case "int4":
			kinds[i] = kindInt4
		case "int8":
			kinds[i] = kindInt8
		case "float4":
			kinds[i] = kindFloat4
		case "float8":
			kinds[i] = kindFloat8
		case "bool":
			kinds[i] = kindBool
		case "date":
			kinds[i] = kindDate
		case "timestamp", "timestamptz":
			kinds[i] = kindTimestamp
		default:
			return nil, false
		}
	}
	return kinds, true
}

// pgEpoch is PostgreSQL's date and timestamp origin, 2000-01-01 UTC.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func appendBinaryNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, math.MaxUint32) }

// appendBinaryText appends s for a column of kind k: as is for text, else
// parsed as the text form of that type.
func appendBinaryText(b []byte, k pgKind, s string) ([]byte, error) {
	switch k {
	case kindText:
		if len(s) > math.MaxInt32 {
			return b, fmt.Errorf("value of %d bytes is too long", len(s))
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...), nil
	case kindInt2, kindInt4, kindInt8:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return b, fmt.Errorf("%q is not an integer", s)
		}
		return appendBinaryValue(b, k, v)
	case kindFloat4, kindFloat8:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return b, fmt.Errorf("%q is not a number", s)
		}
		return appendBinaryValue(b, k, v)
	case kindBool:
		switch strings.ToLower(s) {
		case "t", "true", "1", "y", "yes":
			return appendBinaryValue(b, k, true)
		case "f", "false", "0", "n", "no":
			return appendBinaryValue(b, k, false)
		}
		return b, fmt.Errorf("%q is not a boolean", s)
	case kindDate:
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return b, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
		}
		return appendBinaryValue(b, k, t)
	case kindTimestamp:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return b, fmt.Errorf("%q is not an RFC 3339 timestamp", s)
		}
		return appendBinaryValue(b, k, t)
	}
	return b, fmt.Errorf("unknown column kind %d", k)
}

// appendBinaryValue appends v for a column of kind k. It accepts what
// appendCopyValue accepts, converting where the text format would have.
func appendBinaryValue(b []byte, k pgKind, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return appendBinaryNull(b), nil
	case string:
		return appendBinaryText(b, k, v)
	case []byte:
		if v == nil {
			return appendBinaryNull(b), nil
		}
		return appendBinaryText(b, k, unsafe.String(unsafe.SliceData(v), len(v)))
	case int:
		return appendBinaryInt(b, k, int64(v))
	case int16:
		return appendBinaryInt(b, k, int64(v))
	case int32:
		return appendBinaryInt(b, k, int64(v))
	case int64:
		return appendBinaryInt(b, k, v)
	case float32:
		return appendBinaryFloat(b, k, float64(v))
	case float64:
		return appendBinaryFloat(b, k, v)
	case bool:
		switch k {
		case kindBool:
			b = binary.BigEndian.AppendUint32(b, 1)
			if v {
				return append(b, 1), nil
			}
			return append(b, 0), nil
		case kindText:
			if v {
				return appendBinaryText(b, k, "t")
			}
			return appendBinaryText(b, k, "f")
		}
		return b, fmt.Errorf("boolean for a column of kind %d", k)
	case time.Time:
		return appendBinaryTime(b, k, v)
	}
	return b, fmt.Errorf("unsupported value type %T", v)
}

func appendBinaryInt(b []byte, k pgKind, v int64) ([]byte, error) {
	switch k {
	case kindInt2:
		if v < math.MinInt16 || v > math.MaxInt16 {
			return b, fmt.Errorf("%d is out of range for smallint", v)
		}
		b = binary.BigEndian.AppendUint32(b, 2)
		return binary.BigEndian.AppendUint16(b, uint16(int16(v))), nil
	case kindInt4:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return b, fmt.Errorf("%d is out of range for integer", v)
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(v))), nil
	case kindInt8:
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(v)), nil
	case kindFloat4, kindFloat8:
		return appendBinaryFloat(b, k, float64(v))
	case kindText:
		return appendBinaryText(b, k, strconv.FormatInt(v, 10))
	}
	return b, fmt.Errorf("integer for a column of kind %d", k)
}

func appendBinaryFloat(b []byte, k pgKind, v float64) ([]byte, error) {
	switch k {
	case kindFloat8:
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v)), nil
	case kindFloat4:
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, math.Float32bits(float32(v))), nil
	case kindText:
		return appendBinaryText(b, k, string(appendFloat(nil, v)))
	}
	return b, fmt.Errorf("number for a column of kind %d", k)
}

// appendBinaryTime appends t as a date (its UTC calendar day, as the text
// format's "YYYY-MM-DD hh:mm:ssZ" reads into a date column) or as a
// timestamp (microseconds, truncated like the text format's six digits).
func appendBinaryTime(b []byte, k pgKind, t time.Time) ([]byte, error) {
	t = t.UTC()
	switch k {
	case kindDate:
		y, m, d := t.Date()
		days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()/86400 - pgEpoch.Unix()/86400
		if days < math.MinInt32 || days > math.MaxInt32 {
			return b, fmt.Errorf("date %s is out of range", t.Format(time.DateOnly))
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(days))), nil
	case kindTimestamp:
		us := (t.Unix()-pgEpoch.Unix())*1_000_000 + int64(t.Nanosecond()/1000)
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(us)), nil
	case kindText:
		return appendBinaryText(b, k, string(appendTimestamp(nil, t)))
	}
	return b, fmt.Errorf("time for a column of kind %d", k)
}
