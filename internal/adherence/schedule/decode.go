package schedule

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// DecodeTiming decodes FHIR JSON into a Timing, strictly: one JSON object,
// no unknown or repeated fields (names are case-sensitive, as in FHIR), no
// nulls, integers where FHIR wants integers. Errors are *errs.Error naming
// the field (e.g. "repeat.timeOfDay[1]") or, for malformed JSON, the byte
// offset, line and column. It does not Validate.
func DecodeTiming(data []byte) (Timing, error) {
	var t Timing
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkValue(dec, data, reflect.TypeFor[Timing](), ""); err != nil {
		return t, err
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		// Where the extra data starts: past the white space after the object.
		off := end + int64(len(data[end:])-len(bytes.TrimLeft(data[end:], " \t\r\n")))
		line, col := position(data, off)
		return t, errs.Invalid("", "malformed JSON: unexpected data after the Timing object at byte offset %d (line %d, column %d)", off, line, col)
	}
	if err := json.Unmarshal(data, &t); err != nil {
		// checkValue has already verified names and types.
		return t, errs.Invalid("", "cannot decode Timing: %v", err)
	}
	return t, nil
}

// checkValue reads the next JSON value from dec and checks it against typ:
// field names, repetition and JSON kinds. path names the value in errors.
func checkValue(dec *json.Decoder, data []byte, typ reflect.Type, path string) error {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(dec, data, err)
	}
	if tok == nil {
		return errs.Invalid(path, "null is not allowed in FHIR JSON; omit the field")
	}
	if typ == rawMessage {
		// FHIR extensions, kept as given: an array of objects.
		if tok != json.Delim('[') {
			return wrongType(path, tok, "array")
		}
		return skipValue(dec, data, path)
	}
	switch typ.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return wrongType(path, tok, "object")
		}
		var seen uint64
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return syntaxError(dec, data, err)
			}
			key, _ := kt.(string)
			fpath := joinPath(path, key)
			i := fieldByJSONName(typ, key)
			if i < 0 {
				if msg := unsupported(typ, key); msg != "" {
					return errs.Invalid(fpath, "%s", msg)
				}
				return errs.Invalid(fpath, "unknown field")
			}
			if seen&(1<<i) != 0 {
				return errs.Invalid(fpath, "field appears twice")
			}
			seen |= 1 << i
			if err := checkValue(dec, data, typ.Field(i).Type, fpath); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return syntaxError(dec, data, err)
		}
	case reflect.Slice:
		if tok != json.Delim('[') {
			return wrongType(path, tok, "array")
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, data, typ.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return syntaxError(dec, data, err)
		}
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return wrongType(path, tok, "string")
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return wrongType(path, tok, "boolean")
		}
	case reflect.Int:
		n, ok := tok.(json.Number)
		if !ok {
			return wrongType(path, tok, "integer")
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			if !errors.Is(err, strconv.ErrRange) {
				return errs.Invalid(path, "must be an integer, in digits (no fraction nor exponent)")
			}
			// Not the field's own range, which its validation says for a
			// value that decodes: this one is far outside any.
			if strings.HasPrefix(string(n), "-") {
				return errs.Invalid(path, "is far below the smallest value this field takes")
			}
			return errs.Invalid(path, "is far above the largest value this field takes")
		}
	case reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrongType(path, tok, "number")
		}
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return errs.Invalid(path, "number out of range")
		}
	default:
		return errs.Invalid(path, "unsupported field type %s", typ)
	}
	return nil
}

// unsupported returns why the FHIR R4 element key of a struct of type typ,
// valid there but not modelled, is refused, or "" when key is not such an
// element (a misspelling, an element FHIR does not have there). A Timing
// bounded by boundsDuration or boundsRange would lose its bounds if read as
// ongoing: the other two choices of repeat.bounds[x] are refused with a
// message naming the one this package reads.
func unsupported(typ reflect.Type, key string) string {
	if typ == reflect.TypeFor[Repeat]() && (key == "boundsDuration" || key == "boundsRange") {
		return "is not supported: bound the schedule with boundsPeriod (a start and an end) instead"
	}
	return ""
}

// rawMessage is the type of the elements kept as given (extensions).
var rawMessage = reflect.TypeFor[json.RawMessage]()

// skipValue reads the rest of an array or object whose opening token was
// read, refusing nulls as checkValue does.
func skipValue(dec *json.Decoder, data []byte, path string) error {
	for depth := 1; depth > 0; {
		t, err := dec.Token()
		if err != nil {
			return syntaxError(dec, data, err)
		}
		switch t {
		case nil:
			return errs.Invalid(path, "null is not allowed in FHIR JSON; omit the field")
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
	return nil
}

// fieldByJSONName returns the index of the field of struct type typ whose
// JSON name is exactly name, or -1.
func fieldByJSONName(typ reflect.Type, name string) int {
	for i := range typ.NumField() {
		tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if tag == name && tag != "" && tag != "-" {
			return i
		}
	}
	return -1
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func wrongType(path string, tok json.Token, want string) error {
	got := "number"
	switch v := tok.(type) {
	case json.Delim:
		got = "object"
		if v == '[' {
			got = "array"
		}
	case string:
		got = "string"
	case bool:
		got = "boolean"
	}
	return errs.Invalid(path, "wrong type: got JSON %s, want %s", got, want)
}

// syntaxError turns a tokenizer error into an *errs.Error with the position
// of the problem.
func syntaxError(dec *json.Decoder, data []byte, err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		// The tokenizer's offset is the bad byte or the one before it.
		line, col := position(data, syn.Offset)
		return errs.Invalid("", "malformed JSON near byte offset %d (line %d, column %d): %s", syn.Offset, line, col, syn.Error())
	case errors.Is(err, io.EOF) && dec.InputOffset() == 0 && len(bytes.TrimSpace(data)) == 0:
		return errs.Invalid("", "empty input; a JSON object is required")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, int64(len(data)))
		return errs.Invalid("", "malformed JSON: unexpected end of input at byte offset %d (line %d, column %d)", len(data), line, col)
	}
	return errs.Invalid("", "malformed JSON: %v", err)
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// Preview decodes timingJSON strictly, validates it (with p.AsNeeded),
// expands it over [p.From, p.To) and writes one RFC 3339 timestamp with the
// patient's UTC offset per dose, e.g. "2026-03-08T08:00:00-04:00". It backs
// the CLI command "adherence schedule preview".
func Preview(w io.Writer, timingJSON []byte, p Params) error {
	t, err := DecodeTiming(timingJSON)
	if err != nil {
		return fmt.Errorf("decode timing: %w", err)
	}
	if err := t.Validate(p.AsNeeded); err != nil {
		return fmt.Errorf("validate timing: %w", err)
	}
	doses, err := Expand(t, p)
	if err != nil {
		return fmt.Errorf("expand timing: %w", err)
	}
	bw := bufio.NewWriter(w)
	var buf []byte
	for _, d := range doses {
		buf = d.Due.In(p.Location).AppendFormat(buf[:0], time.RFC3339)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write preview: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write preview: %w", err)
	}
	return nil
}
