package httpx

import (
	"encoding/json"
	"strconv"
	"strings"
)

// jsonWalk scans valid JSON in one pass, keeping the open objects and
// arrays and the keys of the open objects, so that a visitor of its
// strings (duplicateKey, nulString) can name where each one stands. It
// allocates nothing per object: the keys of the open objects share one
// slice, and a path is built only when asked for.
type jsonWalk struct {
	stack []walkFrame
	keys  [][]byte // the keys of every open object, innermost last
}

// walkFrame is an open object or array.
type walkFrame struct {
	object   bool
	start    int    // the offset of its '{' or '[' in the data
	keyStart int    // where this object's keys start in keys
	index    int    // the array's current element
	at       []byte // the key under which this value sits in its parent object
	atIndex  int    // or its index in its parent array
}

// strings calls visit with every string of data, an object key or a value,
// in order, until visit returns true, and reports whether it did. A key
// arrives unescaped; a value as written between its quotes, with escaped
// set when it holds an escape (unescaping every value would cost the
// requests that never need it). The key is added to the open object after
// visit, so visit compares it with the object's earlier keys.
func (w *jsonWalk) strings(data []byte, visit func(s []byte, key, escaped bool) bool) bool {
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			f := walkFrame{object: data[i] == '{', start: i, keyStart: len(w.keys)}
			if n := len(w.stack); n > 0 {
				if parent := &w.stack[n-1]; parent.object {
					f.at = w.keys[len(w.keys)-1]
				} else {
					f.atIndex = parent.index
				}
			}
			w.stack = append(w.stack, f)
			expectKey = f.object
		case '}', ']':
			w.keys = w.keys[:w.stack[len(w.stack)-1].keyStart]
			w.stack = w.stack[:len(w.stack)-1]
			expectKey = false
		case ',':
			if top := &w.stack[len(w.stack)-1]; top.object {
				expectKey = true
			} else {
				top.index++
			}
		case '"':
			end := i + 1
			escaped := false
			for ; data[end] != '"'; end++ {
				if data[end] == '\\' {
					escaped = true
					end++
				}
			}
			s := data[i+1 : end]
			if expectKey && escaped {
				s = unescape(s)
			}
			if visit(s, expectKey, escaped) {
				return true
			}
			if expectKey {
				w.keys = append(w.keys, s)
			}
			expectKey = false
			i = end
		}
	}
	return false
}

// unescape decodes the escapes of s, a JSON string as written between its
// quotes.
func unescape(s []byte) []byte {
	var v string
	_ = json.Unmarshal(append(append([]byte{'"'}, s...), '"'), &v)
	return []byte(v)
}

// containerPath is the JSON path of the innermost open object or array
// ("" for the top-level value).
func (w *jsonWalk) containerPath() string {
	var b strings.Builder
	for i := 1; i < len(w.stack); i++ { // the top-level value has no name
		if w.stack[i-1].object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(displayKey(w.stack[i].at))
		} else {
			b.WriteString("[" + strconv.Itoa(w.stack[i].atIndex) + "]")
		}
	}
	return b.String()
}

// keyPath is the JSON path of key in the innermost open object.
func (w *jsonWalk) keyPath(key []byte) string {
	if p := w.containerPath(); p != "" {
		return p + "." + displayKey(key)
	}
	return displayKey(key)
}

// elementPath is the JSON path of the value being read in the innermost
// open object (under its last key) or array (at its current index).
func (w *jsonWalk) elementPath() string {
	if len(w.stack) == 0 {
		return ""
	}
	top := w.stack[len(w.stack)-1]
	if !top.object {
		return w.containerPath() + "[" + strconv.Itoa(top.index) + "]"
	}
	return w.keyPath(w.keys[len(w.keys)-1])
}

// displayKey is key as it may be echoed in an error: a key that is not an
// identifier could be anything the client typed, PHI included.
func displayKey(key []byte) string {
	if fieldName.Match(key) {
		return string(key)
	}
	return "(key)"
}
