package httpx

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// nulString returns the JSON path ("medication.display", "events[2].deviceId")
// of the first string in data, a key or a value, that holds the character
// U+0000, which JSON can carry as the escape \u0000; data must be valid
// JSON. PostgreSQL text cannot store that character (an INSERT fails, a
// 500), while SQLite stores it: such a request is refused, naming the
// field, on both. A key holding it is reported by the path of its object.
func nulString(data []byte) (path string, found bool) {
	if !bytes.Contains(data, []byte(`\u0000`)) {
		return "", false
	}
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
			s := data[i+1 : end]
			if escaped {
				var v string
				_ = json.Unmarshal(data[i:end+1], &v)
				s = []byte(v)
			}
			hasNUL := bytes.IndexByte(s, 0) >= 0
			switch {
			case expectKey && hasNUL:
				return containerPath(stack), true
			case expectKey:
				keys = append(keys, s)
			case hasNUL:
				return elementPath(stack, keys), true
			}
			expectKey = false
			i = end
		}
	}
	return "", false
}

// containerPath is the JSON path of the innermost open object or array of
// stack ("" for the top-level value).
func containerPath(stack []dupFrame) string {
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
	return b.String()
}

// elementPath is the JSON path of the value being read in the innermost
// open object (under its last key) or array (at its current index).
func elementPath(stack []dupFrame, keys [][]byte) string {
	if len(stack) == 0 {
		return ""
	}
	p := containerPath(stack)
	top := stack[len(stack)-1]
	if !top.object {
		return p + "[" + strconv.Itoa(top.index) + "]"
	}
	if p != "" {
		p += "."
	}
	return p + displayKey(keys[len(keys)-1])
}
