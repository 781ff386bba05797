// Package medsales holds the Medical Sales Intelligence & CRM product's
// domain vocabulary: the public provider datasets it loads and the names
// the loaders, the store, the API and the commands share.
//
// Implementations live in subpackages: dataset (one parser per source
// file format), geo (ZIP centroids and the Census batch geocoder), store
// (SQL on SQLite and PostgreSQL), sample (generated files in the real
// formats), ingest (source → parser → store, as a command or a job) and
// api (the HTTP API).
package medsales

// Dataset names one kind of public source file the product loads. The
// names are the ones operators type: `medsales ingest nppes FILE`.
type Dataset string

// The datasets the product loads.
const (
	NPPES           Dataset = "nppes"            // NPPES npidata_pfile: providers, taxonomies, identifiers
	NPPESLocations  Dataset = "nppes-locations"  // NPPES pl_pfile: secondary practice locations
	NPPESOtherNames Dataset = "nppes-othernames" // NPPES othername_pfile
	NPPESEndpoints  Dataset = "nppes-endpoints"  // NPPES endpoint_pfile
	NUCC            Dataset = "nucc"             // NUCC health care provider taxonomy
	PartB           Dataset = "partb"            // CMS Medicare Part B by provider and service
	PartD           Dataset = "partd"            // CMS Medicare Part D by provider and drug
	OpenPayments    Dataset = "openpayments"     // CMS Open Payments general payments
	ZCTA            Dataset = "zcta"             // Census gazetteer ZCTA centroids
)

// Datasets lists every dataset in the order a full load should run (NUCC
// and ZIP centroids before providers, providers before what refers to them).
var Datasets = []Dataset{ZCTA, NUCC, NPPES, NPPESLocations, NPPESOtherNames, NPPESEndpoints, PartB, PartD, OpenPayments}

// ByYear reports whether d's loads replace one data year and leave the
// others served (Part B and Part D data years, Open Payments program
// years), so that several years are served at once.
func (d Dataset) ByYear() bool {
	return d == PartB || d == PartD || d == OpenPayments
}

// Valid reports whether d is one of the known datasets.
func (d Dataset) Valid() bool {
	for _, k := range Datasets {
		if k == d {
			return true
		}
	}
	return false
}
