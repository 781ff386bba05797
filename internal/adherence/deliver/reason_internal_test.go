package deliver

import "testing"

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
