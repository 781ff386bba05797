package httpx

import "bytes"

// duplicateKey returns the JSON path ("items[3].patientId") of the first
// object key that repeats a key of the same object, compared without
// regard to case, in data, which must be valid JSON. encoding/json keeps
// the last of them (and matches field names without regard to case), so
// {"patientId":"a","PatientID":"b"} would mean b to us and a to a proxy,
// a log filter or a signature check that reads the first: such a request
// is refused rather than guessed at. With topOnly, only the keys of the
// top-level object are compared.
// It makes one pass over the bytes (see jsonWalk).
func duplicateKey(data []byte, topOnly bool) (path string, found bool) {
	var w jsonWalk
	w.strings(data, func(s []byte, key, _ bool) bool {
		if !key || (topOnly && len(w.stack) != 1) {
			return false
		}
		for _, k := range w.keys[w.stack[len(w.stack)-1].keyStart:] {
			if bytes.EqualFold(k, s) {
				path, found = w.keyPath(s), true
				return true
			}
		}
		return false
	})
	return path, found
}
