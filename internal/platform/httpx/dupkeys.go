package httpx

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// dupFrame is an open object or array while duplicateKey scans.
type dupFrame struct {
	object   bool
	keyStart int    // where this object's keys start in the shared key slice
	index    int    // the array's current element
	at       []byte // the key under which this value sits in its parent object
	atIndex  int    // or its index in its parent array
}

// duplicateKey returns the JSON path ("items[3].patientId") of the first
// object key that repeats a key of the same object, compared without
// regard to case, in data, which must be valid JSON. encoding/json keeps
// the last of them (and matches field names without regard to case), so
// {"patientId":"a","PatientID":"b"} would mean b to us and a to a proxy,
// a log filter or a signature check that reads the first: such a request
// is refused rather than guessed at. With topOnly, only the keys of the
// top-level object are compared.
//
// It makes one pass over the bytes and allocates nothing per object: the
// keys of the open objects share one slice, and the path is built only
// for the answer.
func duplicateKey(data []byte, topOnly bool) (path string, found bool) {
	var stack []dupFrame
	var keys [][]byte // the keys of every open object, innermost last
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			f := dupFrame{object: data[i] == '{', keyStart: len(keys)}
			if n := len(stack); n > 0 {
				if parent := &stack[n-1]; parent.object {
					f.at = keys[len(keys)-1]
				} else {
					f.atIndex = parent.index
				}
			}
			stack = append(stack, f)
			expectKey = f.object
		case '}', ']':
			keys = keys[:stack[len(stack)-1].keyStart]
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			if top := &stack[len(stack)-1]; top.object {
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
			if expectKey {
				key := data[i+1 : end]
				if escaped {
					var s string
					_ = json.Unmarshal(data[i:end+1], &s)
					key = []byte(s)
				}
				if !topOnly || len(stack) == 1 {
					for _, k := range keys[stack[len(stack)-1].keyStart:] {
						if bytes.EqualFold(k, key) {
							return dupPath(stack, key), true
						}
					}
				}
				// Kept even when not compared: a nested value's path
				// names it.
				keys = append(keys, key)
			}
			expectKey = false
			i = end
		}
	}
	return "", false
}

// dupPath is the JSON path of key in the innermost object of stack.
func dupPath(stack []dupFrame, key []byte) string {
	var b strings.Builder
	for i := 1; i < len(stack); i++ { // the top-level value has no name
		if stack[i-1].object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(displayKey(stack[i].at))
		} else {
			b.WriteString("[" + strconv.Itoa(stack[i].atIndex) + "]")
		}
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(displayKey(key))
	return b.String()
}

// displayKey is key as it may be echoed in an error: a key that is not an
// identifier could be anything the client typed, PHI included.
func displayKey(key []byte) string {
	if fieldName.Match(key) {
		return string(key)
	}
	return "(key)"
}
