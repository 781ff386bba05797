package adherence

import (
	"strings"
	"unicode"
)

// HasControl reports whether s holds a control character (a line break,
// a tab, an escape). A name is one line of text: shown in lists, audit
// trails and message greetings, a line break in it splits what a reader
// takes for one record, and an escape can rewrite a terminal's display.
// The API, the domain's own validation and the CLI share it so that a
// name refused by one is refused by all.
func HasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
