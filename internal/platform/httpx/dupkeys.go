package httpx

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// duplicateKey returns the JSON path ("items[3].patientId") of the first
// object key that repeats a key of the same object, compared without
// regard to case, in data, which must be valid JSON. encoding/json keeps
// the last of them (and matches field names without regard to case), so
// {"patientId":"a","PatientID":"b"} would mean b to us and a to a proxy,
// a log filter or a signature check that reads the first: such a request
// is refused rather than guessed at. With topOnly, only the keys of the
// top-level object are compared.
func duplicateKey(data []byte, topOnly bool) (path string, found bool) {
	type frame struct {
		object bool
		keys   [][]byte // the object's keys so far (unescaped)
		index  int      // the array's current element
		seg    string   // this value's own path segment in its parent
	}
	var stack []frame
	pathOf := func(last string) string {
		var b strings.Builder
		for _, f := range stack {
			b.WriteString(f.seg)
		}
		b.WriteString(last)
		return strings.TrimPrefix(b.String(), ".")
	}
	// segment is the path segment of the value that starts here.
	segment := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := &stack[len(stack)-1]
		if top.object {
			return "." + displayKey(top.keys[len(top.keys)-1])
		}
		return "[" + strconv.Itoa(top.index) + "]"
	}
	expectKey := false // the next string is an object key
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, frame{object: true, seg: segment()})
			expectKey = true
		case '[':
			stack = append(stack, frame{seg: segment()})
		case '}', ']':
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
			if expectKey && (!topOnly || len(stack) == 1) {
				key := data[i+1 : end]
				if escaped {
					var s string
					_ = json.Unmarshal(data[i:end+1], &s)
					key = []byte(s)
				}
				top := &stack[len(stack)-1]
				for _, k := range top.keys {
					if bytes.EqualFold(k, key) {
						return pathOf("." + displayKey(key)), true
					}
				}
				top.keys = append(top.keys, key)
			}
			expectKey = false
			i = end
		}
	}
	return "", false
}

// displayKey is key as it may be echoed in an error: a key that is not an
// identifier could be anything the client typed, PHI included.
func displayKey(key []byte) string {
	if fieldName.Match(key) {
		return string(key)
	}
	return "(key)"
}
