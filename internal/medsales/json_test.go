package medsales_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
)

// TestEmptyFieldsOmitted: the fields of the provider profile that a source
// row may leave empty are omitted when empty, as the API document says
// of every field not noted otherwise: an endpoint without an affiliation
// address, a Part B line without an HCPCS description, a Part D line
// without a brand or generic name, a payment total without a
// manufacturer's name.
func TestEmptyFieldsOmitted(t *testing.T) {
	for _, c := range []struct {
		name   string
		v      any
		absent []string
	}{
		{"endpoint", medsales.Endpoint{Seq: 1, Endpoint: "a@direct.example.org"}, []string{"affiliationAddress"}},
		{"service line", medsales.ServiceLine{NPI: "1008224655", HCPCSCode: "85025"}, []string{"hcpcsDescription"}},
		{"drug line", medsales.DrugLine{NPI: "1008224655"}, []string{"brandName", "genericName"}},
		{"payment total", medsales.PaymentTotal{Year: 2024, Amount: "1.00", Count: 1}, []string{"manufacturer"}},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range c.absent {
			if strings.Contains(string(b), `"`+f+`"`) {
				t.Errorf("%s: %s, want %q omitted when empty", c.name, b, f)
			}
		}
	}
	// Still present: the addresses documented as always present, and
	// the suppression flags, which are never omitted.
	b, _ := json.Marshal(medsales.Provider{NPI: "1008224655"})
	if !strings.Contains(string(b), `"mailingAddress":{}`) || !strings.Contains(string(b), `"practiceAddress":{}`) {
		t.Errorf("provider: %s, want mailingAddress and practiceAddress present", b)
	}
	b, _ = json.Marshal(medsales.DrugLine{})
	if !strings.Contains(string(b), `"ge65SuppressionFlag":""`) || !strings.Contains(string(b), `"ge65BeneSuppressionFlag":""`) {
		t.Errorf("drug line: %s, want the suppression flags present", b)
	}
}
