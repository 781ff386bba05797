package adherence_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
)

// TestBlank: a text of characters that display as nothing is blank, a
// visible character anywhere makes it not (QA: the Hangul filler, the
// combining grapheme joiner, a variation selector and the blank Braille
// pattern passed as names and were shown as nothing).
func TestBlank(t *testing.T) {
	for _, s := range []string{"", " ", "\t\n", "\u200b", "\u2060\ufeff", "\u00ad", "\u3164", "\u115f\u1160", "\uffa0",
		"\u034f", "\ufe0f", "\u2800", " \u3164\u200b\u034f "} {
		if !adherence.Blank(s) {
			t.Errorf("Blank(%+q) = false, want true", s)
		}
	}
	for _, s := range []string{"a", "\u200bA", "é", "e\u0301", "한", "ㄱ", "\u2801", "1", "-", "😀\ufe0f"} {
		if adherence.Blank(s) {
			t.Errorf("Blank(%+q) = true, want false", s)
		}
	}
}

// TestHasControl: control characters, line and paragraph separators and
// the bidirectional embeddings, overrides and isolates are refused in a
// name; right-to-left marks and text are not (QA: the isolates U+2066 to
// U+2069 reorder displayed text as the overrides do).
func TestHasControl(t *testing.T) {
	for _, s := range []string{"a\nb", "a\tb", "\x1b[31m", "a\u2028b", "\u2029", "a\u202eb", "\u202a", "a\u2066b", "\u2067", "\u2068", "\u2069"} {
		if !adherence.HasControl(s) {
			t.Errorf("HasControl(%+q) = false, want true", s)
		}
	}
	for _, s := range []string{"Ana Díaz", "\u200f", "\u061c", "محمد", "O'Brien-Núñez", "\u200b"} {
		if adherence.HasControl(s) {
			t.Errorf("HasControl(%+q) = true, want false", s)
		}
	}
}
