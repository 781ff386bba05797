package deliver

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/store"
)

// TestEscalationLink: escalation messages link to the escalation's API
// address under PublicURL; without PublicURL, or for other messages, none.
func TestEscalationLink(t *testing.T) {
	esc := &store.Delivery{EscalationID: "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000"}
	for _, tc := range []struct {
		public string
		dl     *store.Delivery
		want   string
	}{
		{"https://api.example.org", esc, "https://api.example.org/v1/escalations/0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000"},
		{"https://example.org/adherence/", esc, "https://example.org/adherence/v1/escalations/0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000"},
		{"", esc, ""},
		{"https://api.example.org", &store.Delivery{}, ""},
	} {
		d := &Deliverer{PublicURL: tc.public}
		if got := d.escalationLink(tc.dl); got != tc.want {
			t.Errorf("PublicURL %q: link = %q, want %q", tc.public, got, tc.want)
		}
	}
}
