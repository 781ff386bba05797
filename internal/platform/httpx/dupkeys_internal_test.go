package httpx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// duplicateKeysByTokens is the reference for duplicateKey: encoding/json's
// own tokenizer, one set of folded keys per open object.
func duplicateKeysByTokens(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object  bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if k, ok := tok.(string); ok {
				f := strings.ToLower(k)
				if top.keys[f] {
					return true
				}
				top.keys[f] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object wants its next key.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
		if len(stack) == 0 {
			return false
		}
	}
}

// FuzzDuplicateKey compares the byte scanner with the tokenizer on valid
// JSON, keys compared with ASCII case folding on both sides.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":2}`, `{"a":1,"A":2}`, `{"a":{"b":1},"c":{"b":2}}`, `[{"x":1},{"x":1,"y":[1,{"x":2,"X":3}]}]`,
		`{"s":"{\"a\":1,\"a\":2}"}`, `{"a\u0062":1,"ab":2}`, `{"\\":1,"\"":2,"\\\"":3}`, `"just a string"`, `[]`, `{}`,
		`{"a":[],"b":{},"c":"","a ":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data := []byte(s)
		if !json.Valid(data) || !isASCII(data) {
			return // the scanner's input is valid JSON; folding beyond ASCII is not compared here
		}
		_, got := duplicateKey(data, false)
		if want := duplicateKeysByTokens(data); got != want {
			t.Fatalf("duplicateKey(%s) = %v, tokenizer says %v", s, got, want)
		}
	})
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return !bytes.Contains(b, []byte(`\u`)) // escapes may name non-ASCII runes
}

// BenchmarkDuplicateKey scans a 500-event batch body, the largest body
// the API decodes often.
func BenchmarkDuplicateKey(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"events":[`)
	for i := 0; i < 500; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"patientId":"0190c0de-0000-7000-8000-%012d","planId":"0190c0de-0000-7000-8000-%012d","kind":"taken","occurredAt":"2026-12-02T08:00:00Z","source":"app","clientEventId":"c-%d","deviceId":"cap-1"}`, i, i, i)
	}
	sb.WriteString(`]}`)
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, dup := duplicateKey(data, false); dup {
			b.Fatal("dup")
		}
	}
}

// TestDuplicateKeyTopOnlyNested: with topOnly the keys of nested objects
// are not compared, but a value nested two objects deep must still be
// scanned (an earlier version panicked with index out of range [-1], and a
// batch with such an item answered 500 instead of one 400 for the item).
func TestDuplicateKeyTopOnlyNested(t *testing.T) {
	for _, tc := range []struct {
		in   string
		path string
		dup  bool
	}{
		{`{"events":[{"a":{"b":1}}]}`, "", false},
		{`{"events":[{"a":{"b":1},"A":{"c":[{"d":{}}]}}]}`, "", false},
		{`{"a":{"b":{"c":1}},"x":2}`, "", false},
		{`{"events":[{"a":{"b":1}}],"Events":[]}`, "Events", true},
	} {
		path, dup := duplicateKey([]byte(tc.in), true)
		if path != tc.path || dup != tc.dup {
			t.Errorf("duplicateKey(%s, true) = %q, %v; want %q, %v", tc.in, path, dup, tc.path, tc.dup)
		}
	}
}

// TestFoldKeyIsEqualFold: two keys have the same folded form exactly when
// bytes.EqualFold finds them equal, beyond ASCII too (the Kelvin sign and
// K, the long s and S, the three sigmas, ß and ẞ, a byte that is not
// UTF-8 and U+FFFD), so that an object of many keys, compared through
// their folded forms, refuses the same duplicates as a small one.
func TestFoldKeyIsEqualFold(t *testing.T) {
	keys := []string{"k", "K", "\u212a", "s", "S", "\u017f", "σ", "ς", "Σ", "ß", "\u1e9e", "ss", "İ", "i", "ı", "I",
		"\xff", "\xfe", "\ufffd", "patientId", "PATIENTID", "patient\u212ad", "patientid ", "", "é", "É", "e\u0301", "ǅ", "ǆ", "Ǆ"}
	for _, a := range keys {
		for _, b := range keys {
			if got, want := foldKey([]byte(a)) == foldKey([]byte(b)), bytes.EqualFold([]byte(a), []byte(b)); got != want {
				t.Errorf("%q and %q: same folded form %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}

// TestDuplicateKeyManyKeys: objects of more keys than are compared one
// by one still have their duplicates found, at their path, and only
// within one object (two sibling objects of the same many keys are not
// duplicates of each other).
func TestDuplicateKeyManyKeys(t *testing.T) {
	object := func(n int, extra string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"key%d":%d,`, i, i)
		}
		b.WriteString(extra + "}")
		return b.String()
	}
	for _, tc := range []struct {
		in   string
		path string
		dup  bool
	}{
		{object(200, `"last":1`), "", false},
		{object(200, `"KEY150":1`), "KEY150", true},
		{object(200, `"key\u212a":1,"keyk":2`), "keyk", true},
		// A repeat that is no identifier is named by its first spelling
		// when that one is: the path shows identifiers only.
		{`{"kind":"taken","\u212aind":"taken"}`, "kind", true},
		{object(100, `"kind":"x","\u212aIND":"y"`), "kind", true},
		{`{"\u212aind":1,"kind":2}`, "kind", true},
		{object(linearKeys, `"Key0":1`), "Key0", true},
		{object(linearKeys-1, `"Key0":1`), "Key0", true},
		{`[` + object(100, `"z":1`) + `,` + object(100, `"z":1`) + `]`, "", false},
		{`{"a":` + object(100, `"x":1`) + `,"b":` + object(100, `"X":1,"x":2`) + `}`, "b.x", true},
		{`{"outer":[` + object(50, `"in":`+object(60, `"KEY59":0`)) + `]}`, "outer[0].in.KEY59", true},
	} {
		path, dup := duplicateKey([]byte(tc.in), false)
		if path != tc.path || dup != tc.dup {
			t.Errorf("duplicateKey(%.60s…) = %q, %v; want %q, %v", tc.in, path, dup, tc.path, tc.dup)
		}
		if want := duplicateKeysByTokens([]byte(tc.in)); dup != want {
			t.Errorf("duplicateKey(%.60s…) = %v, the tokenizer says %v", tc.in, dup, want)
		}
	}
}

// BenchmarkDuplicateKeyManyKeys scans one object of 90,000 keys, a body
// just under the 1 MiB limit: linear time (it was 11 s of CPU when each
// key was compared with every earlier one).
func BenchmarkDuplicateKeyManyKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 90000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"k%d":1`, i)
	}
	sb.WriteString("}")
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, dup := duplicateKey(data, false); dup {
			b.Fatal("dup")
		}
	}
}
