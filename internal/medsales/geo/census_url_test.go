package geo_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

// TestNewCensusRefusesURLWithoutHost: a base URL without a host (`medsales
// geocode --url https://`, a typo) is refused at once, as GEOCODER_URL is;
// it was accepted and every request failed with "no Host in request URL",
// retried four times over 35 seconds before the run gave up.
func TestNewCensusRefusesURLWithoutHost(t *testing.T) {
	for _, u := range []string{"https://", "http://", "https:///geocoder", "http://host name"} {
		if _, err := geo.NewCensus(geo.CensusOptions{BaseURL: u}); err == nil {
			t.Errorf("NewCensus(BaseURL %q) accepted it", u)
		}
	}
	for _, u := range []string{"https://geocoding.geo.census.gov", "http://127.0.0.1:18701/", "https://proxy.example/census"} {
		if _, err := geo.NewCensus(geo.CensusOptions{BaseURL: u}); err != nil {
			t.Errorf("NewCensus(BaseURL %q) = %v", u, err)
		}
	}
}
