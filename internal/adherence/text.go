package adherence

import (
	"strings"
	"unicode"
)

// HasControl reports whether s holds a control character (a line break,
// a tab, an escape), Unicode's line or paragraph separator (U+2028,
// U+2029: line breaks too), or a bidirectional embedding or override
// (U+202A to U+202E), which reorders the text displayed after it. A name
// is one line of text: shown in lists, audit trails and message
// greetings, a line break in it splits what a reader takes for one
// record, and an escape or an override can rewrite what is displayed.
// The API, the domain's own validation and the CLI share it so that a
// name refused by one is refused by all.
func HasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e')
	}) >= 0
}

// ControlRule is the rule HasControl checks, as error messages state it.
const ControlRule = "must not contain control characters (line breaks, tabs, text-direction overrides)"

// Blank reports whether s has no visible character: it is empty, or only
// white space and invisible formatting characters (a zero-width space),
// so a name made of it would display as nothing.
func Blank(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r)
	}) < 0
}
