package source

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
)

// Release-date patterns in the publishers' file names, tried in order.
var (
	// npidata_pfile_20050523-20260810.csv, pl_pfile_…, othername_pfile_…,
	// endpoint_pfile_…: the second date is the release date.
	reRange8 = regexp.MustCompile(`(?:^|[^0-9])[0-9]{8}-([0-9]{8})(?:[^0-9]|$)`)
	// NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip: MMDDYY_MMDDYY,
	// the second is the release date.
	reWeekly = regexp.MustCompile(`(?i)_[0-9]{6}_([0-9]{6})_Weekly`)
	// NPPES_Deactivated_NPI_Report_081126_V2.zip: MMDDYY.
	reDeact = regexp.MustCompile(`(?i)_Report_([0-9]{6})(?:[^0-9]|$)`)
	// NPPES_Data_Dissemination_August_2026_V2.zip: the first of the month.
	reMonth = regexp.MustCompile(`(?i)_(January|February|March|April|May|June|July|August|September|October|November|December)_([0-9]{4})(?:[^0-9]|$)`)
	// OP_DTL_GNRL_PGYR2024_P01232026.csv: publication date MMDDYYYY.
	rePub8 = regexp.MustCompile(`_P([0-9]{8})(?:[^0-9]|$)`)
)

// ReleaseDate returns the release date that a dataset file's name carries,
// at midnight UTC, and whether it carries one to the day:
//
//	npidata_pfile_20050523-20260810.csv                    2026-08-10 (the second date)
//	NPPES_Data_Dissemination_August_2026_V2.zip            2026-08-01
//	NPPES_Data_Dissemination_080426_081026_Weekly_V2.zip   2026-08-10
//	NPPES_Deactivated_NPI_Report_081126_V2.zip             2026-08-11
//	OP_DTL_GNRL_PGYR2024_P01232026.csv                     2026-01-23
//	MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv                    false (no day)
//	nucc_taxonomy_251.csv                                  false
//
// Two-digit years are read as 20YY.
func ReleaseDate(name string) (time.Time, bool) {
	t, _, _, ok := releaseDate(name)
	return t, ok
}

// releaseDate is ReleaseDate, with the text the first pattern that
// matches read and its form (YYYYMMDD, …): text is empty when none
// matches, and set with ok false when it is no date.
func releaseDate(name string) (t time.Time, text, like string, ok bool) {
	for _, p := range []struct {
		re           *regexp.Regexp
		layout, like string
	}{{reRange8, "20060102", "YYYYMMDD"}, {reWeekly, "010206", "MMDDYY"}, {reDeact, "010206", "MMDDYY"}, {reMonth, "January 2006", ""}, {rePub8, "01022006", "MMDDYYYY"}} {
		m := p.re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		text = m[1]
		if p.re == reMonth {
			text = strings.ToUpper(m[1][:1]) + strings.ToLower(m[1][1:]) + " " + m[2]
		}
		t, ok = parseDate(p.layout, text)
		return t, text, p.like, ok
	}
	return time.Time{}, "", "", false
}

// CheckDates refuses a name whose dates cannot be what a publisher wrote,
// since a load takes its release date from them (and, for NPPES, whether
// it is a weekly increment or the full registry): a date of a known
// pattern that is no date (20261399), or an NPPES span that runs backwards
// (npidata_pfile_20260810-20260804.csv, a weekly file's dates swapped,
// would otherwise load as a full file and replace the registry with one
// week of changes). now bounds the release date: a day after it at most
// (a publisher's date in US time may be tomorrow in UTC); a zero now
// checks no bound.
func CheckDates(name string, now time.Time) error {
	if m := reSpan.FindStringSubmatch(name); m != nil {
		from, ok1 := parseDate("20060102", m[1])
		to, ok2 := parseDate("20060102", m[2])
		switch {
		case !ok1:
			return fmt.Errorf("%s: %s is not a date (YYYYMMDD): rename the file with the dates its publisher gave it", name, m[1])
		case ok2 && to.Before(from):
			return fmt.Errorf("%s: its dates run backwards (%s, then %s): the first starts the span the file covers, the second is its release date; rename the file", name, m[1], m[2])
		}
	}
	t, text, like, ok := releaseDate(name)
	switch {
	case text != "" && !ok:
		return fmt.Errorf("%s: %s is not a date (%s): rename the file with the date its publisher gave it", name, text, like)
	case ok && !now.IsZero() && t.After(now.Add(24*time.Hour)):
		return fmt.Errorf("%s: its release date, %s, is in the future: rename the file with the date its publisher gave it", name, t.Format(time.DateOnly))
	}
	return nil
}

func parseDate(layout, s string) (time.Time, bool) {
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// IsWeekly reports whether name, an archive's or a member's, is an NPPES
// weekly increment: it contains "_Weekly", in any case.
//
// A bare file is weekly when its two dates span less than a month: the
// monthly full file covers the registry from 2005-05-23 to its release
// (npidata_pfile_20050523-20260810.csv), a weekly file one week
// (npidata_pfile_20260804-20260810.csv). Loading a weekly file as a full
// one would replace the whole registry with a week of changes.
func IsWeekly(name string) bool {
	if strings.Contains(strings.ToLower(name), "_weekly") {
		return true
	}
	m := reSpan.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	from, err1 := time.Parse("20060102", m[1])
	to, err2 := time.Parse("20060102", m[2])
	return err1 == nil && err2 == nil && !to.Before(from) && to.Sub(from) < 28*24*time.Hour
}

// reSpan is the date span of NPPES file names: _YYYYMMDD-YYYYMMDD.
var reSpan = regexp.MustCompile(`_([0-9]{8})-([0-9]{8})(?:[^0-9]|$)`)

// datasetFile is how a dataset's publisher names its file: what Open
// matches a zip member's base name against (case-insensitively), and the
// same for people, in messages.
type datasetFile struct {
	re   *regexp.Regexp
	like string
}

// The publishers' file names, per dataset (see the shared dataset
// reference, datasets.md). Archives hold several datasets' files: the
// NPPES monthly archive the main file, its companions and their
// "fileheader" files; a CMS download may bundle Part B, Part D and Open
// Payments files with the by-provider and by-geography summaries.
var (
	reNPPESFile       = regexp.MustCompile(`(?i)^npidata_pfile_.*\.(csv|txt)$`)
	reLocationsFile   = regexp.MustCompile(`(?i)^pl_pfile_.*\.(csv|txt)$`)
	reOtherNamesFile  = regexp.MustCompile(`(?i)^othername_pfile_.*\.(csv|txt)$`)
	reEndpointsFile   = regexp.MustCompile(`(?i)^endpoint_pfile_.*\.(csv|txt)$`)
	reNUCCFile        = regexp.MustCompile(`(?i)^nucc_taxonomy.*\.(csv|txt)$`)
	rePartBFile       = regexp.MustCompile(`(?i)^mup_phy_.*_prov_svc.*\.(csv|txt)$`)
	rePartDFile       = regexp.MustCompile(`(?i)^mup_dpr_.*_npibn.*\.(csv|txt)$`)
	reOpenPaymentFile = regexp.MustCompile(`(?i)^op_dtl_gnrl_.*\.(csv|txt)$`)
	reZCTAFile        = regexp.MustCompile(`(?i)^([0-9]{4}_)?gaz_zcta_national.*\.(csv|txt)$`)
)

// fileOf returns how dataset d's file is named; false for an unknown
// dataset.
func fileOf(d medsales.Dataset) (datasetFile, bool) {
	switch d {
	case medsales.NPPES:
		return datasetFile{reNPPESFile, "npidata_pfile_*.csv"}, true
	case medsales.NPPESLocations:
		return datasetFile{reLocationsFile, "pl_pfile_*.csv"}, true
	case medsales.NPPESOtherNames:
		return datasetFile{reOtherNamesFile, "othername_pfile_*.csv"}, true
	case medsales.NPPESEndpoints:
		return datasetFile{reEndpointsFile, "endpoint_pfile_*.csv"}, true
	case medsales.NUCC:
		return datasetFile{reNUCCFile, "nucc_taxonomy_*.csv"}, true
	case medsales.PartB:
		return datasetFile{rePartBFile, "MUP_PHY_*_Prov_Svc.csv"}, true
	case medsales.PartD:
		return datasetFile{rePartDFile, "MUP_DPR_*_NPIBN.csv"}, true
	case medsales.OpenPayments:
		return datasetFile{reOpenPaymentFile, "OP_DTL_GNRL_*.csv"}, true
	case medsales.ZCTA:
		return datasetFile{reZCTAFile, "*_Gaz_zcta_national.txt"}, true
	}
	return datasetFile{}, false
}

// matches reports whether base, a file's base name, is named like the
// dataset's file. A header-only copy is never a dataset's file.
func (f datasetFile) matches(base string) bool {
	return f.re.MatchString(base) && !isHeaderCopy(base)
}

// isHeaderCopy reports whether base names one of the header-only copies the
// NPPES archives carry beside each file
// (npidata_pfile_20050523-20260810_fileheader.csv).
func isHeaderCopy(base string) bool {
	return strings.Contains(strings.ToLower(base), "fileheader")
}

// DatasetOf returns the dataset whose publisher names its files like name
// (a base name or a path), and whether there is one:
//
//	npidata_pfile_20050523-20260810.csv              nppes
//	npidata_pfile_20050523-20260810_fileheader.csv   none (a header-only copy)
//	pl_pfile_20050523-20260810.csv                   nppes-locations
//	nucc_taxonomy_251.csv                            nucc
//	MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv             partb
//	MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv              partd
//	OP_DTL_GNRL_PGYR2024_P01232026.csv               openpayments
//	2024_Gaz_zcta_national.txt                       zcta
//	MUP_DPR_RY26_P04_V10_DY24_NPI.csv                none (Part D by provider)
func DatasetOf(name string) (medsales.Dataset, bool) {
	base := memberBase(name)
	for _, d := range medsales.Datasets {
		if f, ok := fileOf(d); ok && f.matches(base) {
			return d, true
		}
	}
	return "", false
}
