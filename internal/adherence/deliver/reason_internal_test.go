package deliver

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestTellingReason: an undeliverable notification records the most
// telling reason of its channels, the preferred channel's among equals;
// it recorded the last channel's ("no_address" of a patient with a phone
// who had texted STOP, and no e-mail address).
func TestTellingReason(t *testing.T) {
	tests := []struct {
		reasons []string // the channels', in the policy's order
		want    string
	}{
		{[]string{"opted_out", "no_address"}, "opted_out"},
		{[]string{"no_address", "opted_out"}, "opted_out"},
		{[]string{"no_address", "no_consent"}, "no_consent"},
		{[]string{"no_consent", "opted_out"}, "no_consent"},
		{[]string{"no_address", "rejected"}, "rejected"},
		{[]string{"rejected", "no_address"}, "rejected"},
		{[]string{"no_address", "channel_not_configured", "no_consent"}, "channel_not_configured"},
		{[]string{"no_address"}, "no_address"},
		{nil, "no_channel"},
	}
	for _, tt := range tests {
		got := "no_channel"
		for _, why := range tt.reasons {
			got = tellingReason(got, why)
		}
		if got != tt.want {
			t.Errorf("reasons %v: %q, want %q", tt.reasons, got, tt.want)
		}
	}
}

// TestAddressSaysOptedOutOfAStop: a patient who texted STOP has both the
// number's opt-out and consent off; the reason is the opt-out. The STOP's
// confirmation and HELP answers still go to an opted-out number.
func TestAddressSaysOptedOutOfAStop(t *testing.T) {
	dl := &store.Delivery{Phone: "+15551230001", SMSConsent: false, OptedOut: true, Template: remind.KindReminder}
	if to, why := address(dl, notify.SMS); to != "" || why != "opted_out" {
		t.Errorf("reminder to a number that texted STOP: %q %q, want opted_out", to, why)
	}
	dl.OptedOut = false
	if _, why := address(dl, notify.SMS); why != "no_consent" {
		t.Errorf("reminder without consent: %q, want no_consent", why)
	}
	dl.OptedOut, dl.SMSConsent, dl.Template = true, true, remind.KindHelp
	if to, why := address(dl, notify.SMS); to != dl.Phone || why != "" {
		t.Errorf("HELP answer to an opted-out number: %q %q, want it sent", to, why)
	}
}
