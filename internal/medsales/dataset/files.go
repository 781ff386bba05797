package dataset

import "strings"

// knownFile is the file of one dataset, told by a column that no other
// dataset's file has: a file given for the wrong dataset is refused as
// the file it is ("has a \"HCPCS_Cd\" column: a Medicare Part B file …
// (dataset partb), not the NUCC taxonomy file"), rather than by the list
// of every column it lacks, which left the operator to work out what the
// file was.
type knownFile struct {
	dataset string   // the name medsales ingest takes
	column  []string // the column's header names (current name, aliases)
	is      string   // what the file is, for the error
}

// knownFiles in the order a header is checked against them. The NPPES
// files share their NPI column, and the main file also has the
// othername_pfile's column, so the othername_pfile comes after the other
// NPPES files (see othersThan).
var knownFiles = []knownFile{
	{"nppes", nppesMainColumn, nppesMainFile},
	{"nppes-locations", nppesLocationColumn, "a pl_pfile (secondary practice locations, dataset nppes-locations)"},
	{"nppes-endpoints", nppesEndpointColumn, "an endpoint_pfile (dataset nppes-endpoints)"},
	{"nppes-othernames", nppesOtherNameColumn, "an othername_pfile (dataset nppes-othernames)"},
	{"nucc", []string{"Grouping"}, "the NUCC taxonomy file (dataset nucc)"},
	{"partb", []string{"HCPCS_Cd"}, "a Medicare Part B by provider and service file (dataset partb)"},
	{"partd", []string{"Prscrbr_NPI"}, "a Medicare Part D by provider and drug file (dataset partd)"},
	{"openpayments", []string{"Covered_Recipient_Profile_ID", "Physician_Profile_ID"}, "an Open Payments general payments file (dataset openpayments)"},
	{"zcta", []string{"INTPTLAT", "INTPTLAT20", "INTPTLAT10"}, "a Census ZCTA gazetteer (dataset zcta)"},
}

// othersThan returns, for Options.Others, the files of every dataset but
// own; this says what own's file is ("a pl_pfile"), for the error.
func othersThan(own, this string) []OtherFile {
	var out []OtherFile
	for _, k := range knownFiles {
		if k.dataset == own {
			continue
		}
		// The main NPPES file has the othername_pfile's column too: to
		// its reader the column tells an othername_pfile only when most
		// of the main layout is missing.
		shared := own == "nppes" && k.dataset == "nppes-othernames"
		out = append(out, OtherFile{Column: k.column, Shared: shared, Is: k.is + ", not " + this})
	}
	return out
}

// tabNames returns the names of a header that a comma-separated reader
// read as one field holding tabs (a tab-separated file, such as the
// Census gazetteer), normalized as byName's keys, so that Options.Others
// can still tell the file; nil otherwise.
func tabNames(header []string, comma byte) map[string]int {
	if len(header) != 1 || comma == '\t' || !strings.Contains(header[0], "\t") {
		return nil
	}
	names := map[string]int{}
	for k, n := range strings.Split(header[0], "\t") {
		if _, dup := names[NormalizeName(n)]; !dup {
			names[NormalizeName(n)] = k
		}
	}
	return names
}
