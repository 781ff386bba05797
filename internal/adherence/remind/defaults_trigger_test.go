package remind_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestDefaultForLowAdherence: escalations opened by low adherence are not
// titled as a missed dose; other triggers keep the default titles.
func TestDefaultForLowAdherence(t *testing.T) {
	for _, kind := range []remind.Kind{remind.KindEscalationCaregiver, remind.KindEscalationClinician} {
		for _, lang := range []string{"en", "es"} {
			for _, ch := range []notify.Channel{notify.Push, notify.Email} {
				tm := remind.DefaultFor(kind, adherence.TriggerLowAdherence, lang, ch)
				if err := tm.Validate(); err != nil {
					t.Fatalf("%s %s %s: %v", kind, lang, ch, err)
				}
				title := strings.ToLower(tm.Subject)
				if strings.Contains(title, "missed dose") || strings.Contains(title, "omitida") || !strings.Contains(title, "adheren") {
					t.Errorf("%s %s %s low_adherence title = %q", kind, lang, ch, tm.Subject)
				}
				def := remind.Default(kind, lang, ch)
				if tm.Body != def.Body {
					t.Errorf("%s %s %s: body changed", kind, lang, ch)
				}
				for _, tr := range []adherence.TriggerKind{"", adherence.TriggerMissedDose, adherence.TriggerMissedCount} {
					if got := remind.DefaultFor(kind, tr, lang, ch); got != def {
						t.Errorf("%s %s %s %q = %+v, want Default", kind, lang, ch, tr, got)
					}
				}
			}
		}
	}
}
