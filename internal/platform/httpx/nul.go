package httpx

import "bytes"

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
	var w jsonWalk
	w.strings(data, func(s []byte, key, escaped bool) bool {
		switch {
		case key && bytes.IndexByte(s, 0) >= 0:
			path, found = w.containerPath(), true
		case !key && escaped && bytes.IndexByte(unescape(s), 0) >= 0:
			path, found = w.elementPath(), true
		}
		return found
	})
	return path, found
}
