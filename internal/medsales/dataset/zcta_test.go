package dataset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/geo"
)

// zctaRead parses every record of a gazetteer file.
func zctaRead(t *testing.T, text string) ([]geo.Centroid, map[int]string) {
	t.Helper()
	r, err := dataset.NewZCTAReader(strings.NewReader(text), "2024_Gaz_zcta_national.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []geo.Centroid
	rejects := map[int]string{}
	for r.Next() {
		var c geo.Centroid
		if err := r.Centroid(&c); err != nil {
			rejects[r.Line()] = err.Error()
			continue
		}
		got = append(got, c)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return got, rejects
}

func TestZCTAReader(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []geo.Centroid
		rejects map[int]string // line → substring of the reason
	}{
		{
			name: "2024 layout, trailing spaces on the last header",
			text: "GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG                                                                                                               \n" +
				"00601\t166847909\t799292\t64.42\t0.309\t18.180555\t-66.749961\n" +
				"32204\t11384593\t1011452\t4.396\t0.391\t30.317018\t-81.680832\n",
			want: []geo.Centroid{{ZIP: "00601", Lat: 18.180555, Lon: -66.749961}, {ZIP: "32204", Lat: 30.317018, Lon: -81.680832}},
		},
		{
			name: "2010 layout with padded values and CRLF",
			text: "GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG \r\n" +
				"00601\t166659883\t799293\t      64.348\t       0.309\t 18.180555\t -66.749961   \r\n",
			want: []geo.Centroid{{ZIP: "00601", Lat: 18.180555, Lon: -66.749961}},
		},
		{
			// The 2025 gazetteer as one description of it has it (not
			// checked against a real file): pipe-delimited, with GEOIDFQ.
			name: "2025 layout, pipe-delimited with GEOIDFQ",
			text: "GEOID|GEOIDFQ|ALAND|AWATER|ALAND_SQMI|AWATER_SQMI|INTPTLAT|INTPTLONG\n" +
				"00601|860Z200US00601|166847909|799292|64.42|0.309|18.180555|-66.749961\n",
			want: []geo.Centroid{{ZIP: "00601", Lat: 18.180555, Lon: -66.749961}},
		},
		{
			// The gazetteer saved as CSV from a spreadsheet: it was read
			// as tab-separated and refused for missing GEOID, INTPTLAT and
			// INTPTLONG, which its header names.
			name: "comma-separated, quoted",
			text: "GEOID,ALAND,AWATER,ALAND_SQMI,AWATER_SQMI,INTPTLAT,INTPTLONG\r\n" +
				"\"00601\",166847909,799292,64.42,0.309,18.180555,-66.749961\r\n",
			want: []geo.Centroid{{ZIP: "00601", Lat: 18.180555, Lon: -66.749961}},
		},
		{
			name: "columns reordered",
			text: "INTPTLONG\tINTPTLAT\tGEOID\n-73.997293\t40.75065\t10001\n",
			want: []geo.Centroid{{ZIP: "10001", Lat: 40.75065, Lon: -73.997293}},
		},
		{
			name: "bad rows are rejected with a reason",
			text: "GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG\n" +
				"10001\t1\t1\t1\t1\t40.75065\t-73.997293\n" +
				"1001\t1\t1\t1\t1\t40.7\t-73.9\n" +
				"1000A\t1\t1\t1\t1\t40.7\t-73.9\n" +
				"10002\t1\t1\t1\t1\tnorth\t-73.9\n" +
				"10003\t1\t1\t1\t1\t95.0\t-73.9\n" +
				"10004\t1\t1\t1\t1\t40.7\t\n" +
				"10001\t1\t1\t1\t1\t40.7\t-73.9\n" +
				"10005\t1\t1\t40.7\t-73.9\n",
			want: []geo.Centroid{{ZIP: "10001", Lat: 40.75065, Lon: -73.997293}},
			rejects: map[int]string{
				3: `GEOID "1001" is not a five-digit ZIP code`,
				4: `GEOID "1000A" is not a five-digit ZIP code`,
				5: `INTPTLAT "north" is not a number`,
				6: `INTPTLAT 95.0 is out of range`,
				7: `INTPTLONG is empty`,
				8: `GEOID 10001 repeats the ZCTA on line 2`,
				9: `has 5 fields, the header has 7`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rejects := zctaRead(t, tt.text)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("centroids (-want +got):\n%s", diff)
			}
			if len(rejects) != len(tt.rejects) {
				t.Fatalf("rejects = %v, want %v", rejects, tt.rejects)
			}
			for line, want := range tt.rejects {
				if !strings.Contains(rejects[line], want) {
					t.Errorf("line %d rejected with %q, want %q", line, rejects[line], want)
				}
			}
		})
	}
}

func TestZCTAReaderWrongFile(t *testing.T) {
	for name, text := range map[string]string{
		"comma-separated, no longitude": "GEOID,ALAND,AWATER,ALAND_SQMI,AWATER_SQMI,INTPTLAT\n00601,1,1,1,1,18.1\n",
		"no longitude":                  "GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\n",
		"pipes, no longitude":           "GEOID|GEOIDFQ|ALAND|AWATER|ALAND_SQMI|AWATER_SQMI|INTPTLAT\n",
		"county file":                   "USPS\tGEOID\tANSICODE\tNAME\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG\nAL\t01001\t00161526\tAutauga County\t1\t1\t1\t1\t32.5\t-86.6\n",
		"empty":                         "",
		// Gazetteers without USPS whose GEOIDs are five digits too: the
		// urban areas (UACE) and core-based statistical areas (CBSA
		// code). They name their areas; the ZCTA file has no NAME.
		"urban area file": "GEOID\tNAME\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG\n00037\tAbbeville, LA Urban Cluster\t1\t1\t1\t1\t29.97\t-92.09\n",
		"cbsa file":       "CSAFP\tCBSAFP\tGEOID\tNAME\tCBSA_TYPE\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG\n\t10100\t10100\tAberdeen, SD\t2\t1\t1\t1\t1\t45.46\t-98.48\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dataset.NewZCTAReader(strings.NewReader(text), "x.txt")
			if !errors.Is(err, dataset.ErrWrongFile) {
				t.Fatalf("err = %v, want ErrWrongFile", err)
			}
		})
	}
}
