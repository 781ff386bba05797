package geo_test

import (
	"math"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

func TestEmbeddedCentroids(t *testing.T) {
	c, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Len(); got != 33791 {
		t.Errorf("Len() = %d, want the 33,791 ZCTAs of the 2021 gazetteer", got)
	}
	tests := []struct {
		zip      string
		lat, lon float64
		ok       bool
	}{
		{"10001", 40.75065, -73.99729, true},
		{"32204", 30.31702, -81.68083, true},
		{"322044736", 30.31702, -81.68083, true},  // NPPES ZIP+4 without hyphen
		{"32204-4736", 30.31702, -81.68083, true}, // ZIP+4 with hyphen
		{"00601", 18.18055, -66.74996, true},      // leading zero, Puerto Rico
		{"90210", 34.10052, -118.41463, true},
		{"60601", 41.88515, -87.62151, true},
		{"99999", 0, 0, false}, // not a ZCTA
		{"00000", 0, 0, false},
		{"3220", 0, 0, false},
		{"322041", 0, 0, false},
		{"32204-47", 0, 0, false},
		{"32204 4736", 0, 0, false},
		{"3220A", 0, 0, false},
		{"32204473X", 0, 0, false},
		{"", 0, 0, false},
		{"M5V 2T6", 0, 0, false},
	}
	for _, tt := range tests {
		lat, lon, ok := c.Lookup(tt.zip)
		if ok != tt.ok || lat != tt.lat || lon != tt.lon {
			t.Errorf("Lookup(%q) = %v, %v, %v; want %v, %v, %v", tt.zip, lat, lon, ok, tt.lat, tt.lon, tt.ok)
		}
	}
	all := c.All()
	if len(all) != c.Len() {
		t.Fatalf("All() has %d rows, Len() = %d", len(all), c.Len())
	}
	for i, r := range all {
		if i > 0 && all[i-1].ZIP >= r.ZIP {
			t.Fatalf("All() not in ZIP order at %d: %s then %s", i, all[i-1].ZIP, r.ZIP)
		}
		if r.Lat < -15 || r.Lat > 72 || r.Lon < -180 || r.Lon > 180 {
			t.Errorf("ZIP %s: implausible US coordinates %v, %v", r.ZIP, r.Lat, r.Lon)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	c, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}
	zips := []string{"322044736", "10001", "32204-4736", "99999", "bad"}
	allocs := testing.AllocsPerRun(100, func() {
		for _, z := range zips {
			c.Lookup(z)
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per run", allocs)
	}
}

func TestNewCentroids(t *testing.T) {
	tests := []struct {
		name    string
		rows    []geo.Centroid
		wantErr string
	}{
		{"ok", []geo.Centroid{{ZIP: "32204", Lat: 30.317018, Lon: -81.680832}, {ZIP: "00601", Lat: 18.180555, Lon: -66.749961}}, ""},
		{"empty", nil, ""},
		{"short zip", []geo.Centroid{{ZIP: "3220", Lat: 30, Lon: -81}}, "not five digits"},
		{"zip+4", []geo.Centroid{{ZIP: "322044736", Lat: 30, Lon: -81}}, "not five digits"},
		{"letters", []geo.Centroid{{ZIP: "3220A", Lat: 30, Lon: -81}}, "not five digits"},
		{"duplicate", []geo.Centroid{{ZIP: "32204", Lat: 30, Lon: -81}, {ZIP: "32204", Lat: 31, Lon: -82}}, "twice"},
		{"latitude", []geo.Centroid{{ZIP: "32204", Lat: 91, Lon: -81}}, "out of range"},
		{"longitude", []geo.Centroid{{ZIP: "32204", Lat: 30, Lon: -181}}, "out of range"},
		{"NaN", []geo.Centroid{{ZIP: "32204", Lat: math.NaN(), Lon: -81}}, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := geo.NewCentroids(tt.rows)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Len() != len(tt.rows) {
				t.Errorf("Len() = %d, want %d", c.Len(), len(tt.rows))
			}
			for _, r := range tt.rows {
				lat, lon, ok := c.Lookup(r.ZIP + "1234")
				if !ok || lat != r.Lat || lon != r.Lon {
					t.Errorf("Lookup(%s+4) = %v, %v, %v; want %v, %v", r.ZIP, lat, lon, ok, r.Lat, r.Lon)
				}
			}
			if _, _, ok := c.Lookup("10001"); ok {
				t.Error("Lookup(10001) found a ZIP that was not given")
			}
		})
	}
}

func TestNilCentroids(t *testing.T) {
	var c *geo.Centroids
	if _, _, ok := c.Lookup("10001"); ok || c.Len() != 0 {
		t.Error("a nil *Centroids knows a ZIP")
	}
}

func TestZIP5(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"32204", "32204", true},
		{"322044736", "32204", true},
		{"32204-4736", "32204", true},
		{"3220", "", false},
		{"32204-", "", false},
		{"ABCDE", "", false},
	}
	for _, tt := range tests {
		got, ok := geo.ZIP5(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ZIP5(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	c, err := geo.EmbeddedCentroids()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Lookup("322044736")
	}
}

func BenchmarkEmbeddedCentroids(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := geo.EmbeddedCentroids(); err != nil {
			b.Fatal(err)
		}
	}
}
