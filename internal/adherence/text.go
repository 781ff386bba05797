package adherence

import (
	"strings"
	"unicode"
)

// HasControl reports whether s holds a control character (a line break,
// a tab, an escape), Unicode's line or paragraph separator (U+2028,
// U+2029: line breaks too), or a bidirectional embedding, override or
// isolate (U+202A to U+202E, U+2066 to U+2069), which reorders the text
// displayed after it. A name
// is one line of text: shown in lists, audit trails and message
// greetings, a line break in it splits what a reader takes for one
// record, and an escape or an override can rewrite what is displayed.
// The API, the domain's own validation and the CLI share it so that a
// name refused by one is refused by all.
func HasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
	}) >= 0
}

// ControlRule is the rule HasControl checks, as error messages state it.
const ControlRule = "must not contain control characters (line breaks, tabs, text-direction overrides)"

// Blank reports whether s has no visible character: it is empty, or only
// white space, invisible formatting characters (a zero-width space),
// marks that only modify the character before them (a combining grapheme
// joiner, a variation selector) and the characters that are drawn as
// nothing (the Hangul fillers, the blank Braille pattern), so a name made
// of it would display as nothing.
func Blank(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) && !unicode.Is(unicode.Mn, r) && !drawnAsNothing(r)
	}) < 0
}

// drawnAsNothing reports the letters and symbols that fonts draw as blank
// space without Unicode calling them space.
func drawnAsNothing(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0': // Hangul fillers
		return true
	case '\u2800': // Braille pattern blank
		return true
	}
	return false
}
