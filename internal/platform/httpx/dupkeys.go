package httpx

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// duplicateKey returns the JSON path ("items[3].patientId") of the first
// object key that repeats a key of the same object, compared without
// regard to case, in data, which must be valid JSON. encoding/json keeps
// the last of them (and matches field names without regard to case), so
// {"patientId":"a","PatientID":"b"} would mean b to us and a to a proxy,
// a log filter or a signature check that reads the first: such a request
// is refused rather than guessed at. With topOnly, only the keys of the
// top-level object are compared.
//
// It makes one pass over the bytes (see jsonWalk). A key is compared with
// the earlier keys of its object one by one while they are few (no
// allocation: the objects of a request have a handful of keys); an object
// with more keys gets a set of their folded forms, so that a body of many
// keys costs linear time. Comparing each key with every earlier one cost
// 11 s of CPU for one 1 MiB body of 90,000 keys (QA).
func duplicateKey(data []byte, topOnly bool) (path string, found bool) {
	var w jsonWalk
	// sets holds the folded keys of each open object that passed
	// linearKeys keys (each with its first spelling), by the offset of
	// its '{' in data.
	var sets map[int]map[string][]byte
	w.strings(data, func(s []byte, key, _ bool) bool {
		if !key || (topOnly && len(w.stack) != 1) {
			return false
		}
		top := w.stack[len(w.stack)-1]
		earlier := w.keys[top.keyStart:]
		if len(earlier) < linearKeys {
			for _, k := range earlier {
				if bytes.EqualFold(k, s) {
					path, found = w.keyPath(nameable(s, k)), true
					return true
				}
			}
			return false
		}
		set := sets[top.start]
		if set == nil {
			if sets == nil {
				sets = map[int]map[string][]byte{}
			}
			set = make(map[string][]byte, 2*len(earlier))
			for _, k := range earlier {
				if f := foldKey(k); set[f] == nil {
					set[f] = k
				}
			}
			sets[top.start] = set
		}
		f := foldKey(s)
		if k, dup := set[f]; dup {
			path, found = w.keyPath(nameable(s, k)), true
			return true
		}
		set[f] = s
		return false
	})
	return path, found
}

// nameable picks which of two spellings of a repeated key the error
// names: the repeat, unless only the first is an identifier, which the
// path may show (keyPath hides any other key as "(key)": it could be
// anything the client typed). {"kind":…,"\u212aind":…} names kind.
func nameable(repeat, first []byte) []byte {
	if !fieldName.Match(repeat) && fieldName.Match(first) {
		return first
	}
	return repeat
}

// linearKeys is how many keys of an object are compared one by one before
// the object gets a set of folded keys.
const linearKeys = 32

// foldKey returns a form of key shared by exactly the keys that
// bytes.EqualFold finds equal to it: each rune replaced by the smallest
// rune of its case-folding orbit (unicode.SimpleFold), a byte that is not
// UTF-8 by U+FFFD, as EqualFold reads it.
func foldKey(key []byte) string {
	out := make([]byte, 0, len(key))
	for len(key) > 0 {
		if c := key[0]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A' // the orbit of an ASCII letter starts at its upper case
			}
			out = append(out, c)
			key = key[1:]
			continue
		}
		r, size := utf8.DecodeRune(key)
		key = key[size:]
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out = utf8.AppendRune(out, least)
	}
	return string(out)
}
