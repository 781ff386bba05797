package store_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TestLoadZCTADataYear: a gazetteer load carries the year its file name
// starts with, or the one the caller gives.
func TestLoadZCTADataYear(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		content := gazetteer("00601 18.180555 -66.749961")
		tests := []struct {
			file     string
			dataYear int
			want     int
			wantErr  string
		}{
			{"2024_Gaz_zcta_national.txt", 0, 2024, ""},
			{"2024_Gaz_zcta_national.txt", 2024, 2024, ""},
			{"zcta_centroids.txt", 2023, 2023, ""},
			{"zcta_centroids.txt", 0, 0, ""},
			{"2024_Gaz_zcta_national.txt", 2023, 0, "2024_Gaz_zcta_national.txt: the file name says 2024, the data year given (--data-year or dataYear) says 2023"},
		}
		for _, tt := range tests {
			r := run(t, s, (*store.Store).LoadZCTA, tt.file, content, store.LoadInput{DataYear: tt.dataYear})
			switch {
			case tt.wantErr != "":
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Errorf("%s, data year %d: error %v, want %q", tt.file, tt.dataYear, r.err, tt.wantErr)
				}
			case r.err != nil:
				t.Errorf("%s, data year %d: %v", tt.file, tt.dataYear, r.err)
			case r.res.DataYear != tt.want || r.finalized == nil || r.finalized.DataYear != tt.want:
				t.Errorf("%s, data year %d: result %+v, finalized %+v; want data year %d", tt.file, tt.dataYear, r.res, r.finalized, tt.want)
			}
		}
	})
}
