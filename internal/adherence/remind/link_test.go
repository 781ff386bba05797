package remind_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestRenderLink: the clinician texts show the link when there is one;
// without one the "Review and acknowledge" line is left out, not printed
// empty, and the SMS has no double space.
func TestRenderLink(t *testing.T) {
	const link = "https://api.example.org/v1/escalations/0190-abc"
	v := remind.Values{PatientName: "Ana Diaz", PatientRef: "a1b2c3d4e5f6", DoseTime: "08:00", MissedCount: 2, Level: 1, Program: "Care"}
	for _, lang := range []string{"en", "es"} {
		email := remind.Default(remind.KindEscalationClinician, lang, notify.Email)
		sms := remind.Default(remind.KindEscalationClinician, lang, notify.SMS)

		with := v
		with.Link = link
		if _, body, err := remind.Render(email, with); err != nil || !strings.Contains(body, ": "+link+"\n") {
			t.Errorf("%s email with link = %q, %v", lang, body, err)
		}
		if _, body, err := remind.Render(sms, with); err != nil || !strings.Contains(body, link+" ") {
			t.Errorf("%s sms with link = %q, %v", lang, body, err)
		}

		_, body, err := remind.Render(email, v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, "Review and acknowledge") || strings.Contains(body, "Revisar y confirmar") || strings.Contains(body, "\n\n\n") {
			t.Errorf("%s email without link = %q", lang, body)
		}
		if !strings.HasSuffix(body, "\n\nCare\n") {
			t.Errorf("%s email without link lost its ending: %q", lang, body)
		}
		_, body, err = remind.Render(sms, v)
		if err != nil || strings.Contains(body, "  ") || !strings.Contains(body, "OK") {
			t.Errorf("%s sms without link = %q, %v", lang, body, err)
		}
	}
}
