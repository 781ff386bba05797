package source_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
)

func TestReleaseDate(t *testing.T) {
	tests := []struct {
		name string
		want string // YYYY-MM-DD, "" = no date
	}{
		{"npidata_pfile_20050523-20260810.csv", "2026-08-10"},
		{"npidata_pfile_20050523-20260810_fileheader.csv", "2026-08-10"},
		{"pl_pfile_20050523-20260810.csv", "2026-08-10"},
		{"othername_pfile_20050523-20260810.csv", "2026-08-10"},
		{"endpoint_pfile_20050523-20260810.csv", "2026-08-10"},
		{"NPPES_Data_Dissemination_August_2026_V2.zip", "2026-08-01"},
		{"NPPES_Data_Dissemination_March_2026_V2.zip", "2026-03-01"},
		{"nppes_data_dissemination_december_2025.zip", "2025-12-01"},
		{"NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip", "2026-08-10"},
		{"npidata_pfile_20260804-20260810.csv", "2026-08-10"},
		{"NPPES_Deactivated_NPI_Report_081126_V2.zip", "2026-08-11"},
		{"OP_DTL_GNRL_PGYR2024_P01232026.csv", "2026-01-23"},
		{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", ""},
		{"MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", ""},
		{"nucc_taxonomy_251.csv", ""},
		{"2024_Gaz_zcta_national.txt", ""},
		{"npidata_pfile_20050523-20261340.csv", ""}, // month 13: not a date
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := source.ReleaseDate(tt.name)
			if tt.want == "" {
				if ok {
					t.Fatalf("ReleaseDate(%q) = %v, true; want false", tt.name, got)
				}
				return
			}
			want, err := time.Parse(time.DateOnly, tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("ReleaseDate(%q) = %v, %v; want %v UTC", tt.name, got, ok, want)
			}
		})
	}
}

// TestCheckDates: a name whose dates no publisher wrote is refused, since
// a load takes its release date (and NPPES its mode) from them: a date of
// a known pattern that is no date, an NPPES span that runs backwards (a
// weekly file's dates swapped was loaded as the full registry), a release
// date after tomorrow. The publishers' own names pass.
func TestCheckDates(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		want string // "" = accepted; else a part of the error
	}{
		{"npidata_pfile_20050523-20260810.csv", ""},
		{"npidata_pfile_20260804-20260810.csv", ""},
		{"npidata_pfile_20260810-20260810.csv", ""},
		{"NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip", ""},
		{"NPPES_Data_Dissemination_August_2026_V2.zip", ""},
		{"NPPES_Deactivated_NPI_Report_081126_V2.zip", ""},
		{"OP_DTL_GNRL_PGYR2024_P01232026.csv", ""},
		{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", ""},
		{"nucc_taxonomy_251.csv", ""},
		{"npidata_pfile_20050523-20261206.csv", ""}, // tomorrow: a US date may be ahead of UTC's
		{"", ""},
		{"npidata_pfile_20260810-20260804.csv", "npidata_pfile_20260810-20260804.csv: its dates run backwards (20260810, then 20260804)"},
		{"npidata_pfile_20051340-20261399.csv", "npidata_pfile_20051340-20261399.csv: 20051340 is not a date (YYYYMMDD)"},
		{"pl_pfile_20050523-20261340.csv", "20261340 is not a date (YYYYMMDD)"},
		{"NPPES_Data_Dissemination_080426_083226_Weekly_V2.zip", "083226 is not a date (MMDDYY)"},
		{"NPPES_Deactivated_NPI_Report_131126_V2.zip", "131126 is not a date (MMDDYY)"},
		{"OP_DTL_GNRL_PGYR2024_P02302026.csv", "02302026 is not a date (MMDDYYYY)"},
		{"npidata_pfile_20270101-20301231.csv", "its release date, 2030-12-31, is in the future"},
		{"npidata_pfile_20050523-20261208.csv", "its release date, 2026-12-08, is in the future"},
		{"NPPES_Data_Dissemination_January_2027_V2.zip", "its release date, 2027-01-01, is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := source.CheckDates(tt.name, now)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckDates(%q) = %v, want nil", tt.name, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("CheckDates(%q) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
	// Without a clock only the dates themselves are checked.
	if err := source.CheckDates("npidata_pfile_20270101-20301231.csv", time.Time{}); err != nil {
		t.Errorf("CheckDates of a future name without a clock = %v, want nil", err)
	}
}

func TestIsWeekly(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip", true},
		{"nppes_data_dissemination_080426_081026_weekly_v2.zip", true},
		{"npidata_pfile_20260804-20260810_WEEKLY.csv", true},
		{"NPPES_Data_Dissemination_August_2026_V2.zip", false},
		{"npidata_pfile_20050523-20260810.csv", false},
		{"Weekly.csv", false},
		{"npidata_pfile_20260804-20260810.csv", true}, // one week: a weekly file inside its zip
		{"pl_pfile_20260804-20260810.csv", true},
		{"npidata_pfile_20260701-20260810.csv", false}, // over a month
		{"npidata_pfile_20260810-20260804.csv", false}, // reversed dates
	}
	for _, tt := range tests {
		if got := source.IsWeekly(tt.name); got != tt.want {
			t.Errorf("IsWeekly(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDatasetOf(t *testing.T) {
	tests := []struct {
		name string
		want medsales.Dataset // "" = none
	}{
		{"npidata_pfile_20050523-20260810.csv", medsales.NPPES},
		{"NPPES/npidata_pfile_20260804-20260810.csv", medsales.NPPES},
		{"npidata_pfile_20050523-20260810_fileheader.csv", ""},
		{"pl_pfile_20050523-20260810.csv", medsales.NPPESLocations},
		{"pl_pfile_20050523-20260810_FileHeader.csv", ""},
		{"othername_pfile_20050523-20260810.csv", medsales.NPPESOtherNames},
		{"endpoint_pfile_20050523-20260810.csv", medsales.NPPESEndpoints},
		{"nucc_taxonomy_251.csv", medsales.NUCC},
		{"MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", medsales.PartB},
		{"MUP_PHY_R26_P05_V10_D24_Prov.csv", ""}, // by provider only
		{"MUP_PHY_R26_P05_V10_D24_Geo.csv", ""},
		{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", medsales.PartD},
		{"mup_dpr_ry26_p04_v10_dy24_npibn.txt", medsales.PartD},
		{"MUP_DPR_RY26_P04_V10_DY24_NPI.csv", ""},
		{"OP_DTL_GNRL_PGYR2024_P01232026.csv", medsales.OpenPayments},
		{"OP_DTL_RSRCH_PGYR2024_P01232026.csv", ""},
		{"OP_PGYR2024_README_P01232026.txt", ""},
		{"2024_Gaz_zcta_national.txt", medsales.ZCTA},
		{"2024_Gaz_zcta_national.zip", ""}, // the archive, not the file
		{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.pdf", ""},
		{"readme.csv", ""},
	}
	for _, tt := range tests {
		got, ok := source.DatasetOf(tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("DatasetOf(%q) = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}
