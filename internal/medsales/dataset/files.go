package dataset

import (
	"strings"

	"github.com/medplatform/medplatform/internal/medsales"
)

// knownFile is the file of one dataset, told by a column that no other
// dataset's file has: a file given for the wrong dataset is refused as
// the file it is ("has a \"HCPCS_Cd\" column: a Medicare Part B file …
// (dataset partb), not the NUCC taxonomy file"), rather than by the list
// of every column it lacks, which left the operator to work out what the
// file was.
type knownFile struct {
	dataset medsales.Dataset
	column  []string // the column's header names (current name, aliases)
	is      string   // what the file is, for the error
}

// knownFiles in the order a header is checked against them. The NPPES
// files share their NPI column, and the main file also has the
// othername_pfile's column, so the othername_pfile comes after the other
// NPPES files (see othersThan).
var knownFiles = []knownFile{
	{medsales.NPPES, nppesMainColumn, nppesMainFile},
	{medsales.NPPESLocations, nppesLocationColumn, "a pl_pfile (secondary practice locations, dataset nppes-locations)"},
	{medsales.NPPESEndpoints, nppesEndpointColumn, "an endpoint_pfile (dataset nppes-endpoints)"},
	{medsales.NPPESOtherNames, nppesOtherNameColumn, "an othername_pfile (dataset nppes-othernames)"},
	{medsales.NUCC, []string{"Grouping"}, "the NUCC taxonomy file (dataset nucc)"},
	{medsales.PartB, []string{"HCPCS_Cd"}, "a Medicare Part B by provider and service file (dataset partb)"},
	{medsales.PartD, []string{"Prscrbr_NPI"}, "a Medicare Part D by provider and drug file (dataset partd)"},
	{medsales.OpenPayments, []string{"Covered_Recipient_Profile_ID", "Physician_Profile_ID"}, "an Open Payments general payments file (dataset openpayments)"},
	{medsales.ZCTA, []string{"INTPTLAT", "INTPTLAT20", "INTPTLAT10"}, "a Census ZCTA gazetteer (dataset zcta)"},
}

// othersThan returns, for Options.Others, the files of every dataset but
// own; this says what own's file is ("a pl_pfile"), for the error.
func othersThan(own medsales.Dataset, this string) []OtherFile {
	var out []OtherFile
	for _, k := range knownFiles {
		if k.dataset == own {
			continue
		}
		// The main NPPES file has the othername_pfile's column too: to
		// its reader the column tells an othername_pfile only when most
		// of the main layout is missing.
		shared := own == medsales.NPPES && k.dataset == medsales.NPPESOtherNames
		out = append(out, OtherFile{Column: k.column, Shared: shared, Is: k.is + ", not " + this})
	}
	return out
}

// tabFields returns the names of a header that a comma-separated reader
// read as one field holding tabs (a tab-separated file, such as the
// Census gazetteer), so that Options.Others can still tell the file; nil
// otherwise.
func tabFields(header []string, comma byte) []string {
	if len(header) != 1 || comma == '\t' || !strings.Contains(header[0], "\t") {
		return nil
	}
	fields := strings.Split(header[0], "\t")
	for i, f := range fields {
		fields[i] = strings.TrimSpace(f)
	}
	return fields
}

// nameIndex maps each normalized name of fields to its first position.
func nameIndex(fields []string) map[string]int {
	names := make(map[string]int, len(fields))
	for k, f := range fields {
		if _, dup := names[NormalizeName(f)]; !dup {
			names[NormalizeName(f)] = k
		}
	}
	return names
}
