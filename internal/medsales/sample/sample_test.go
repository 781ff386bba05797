package sample_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// table is a parsed CSV file: its header and records, by column name.
type table struct {
	header []string
	rows   [][]string
	col    map[string]int
}

func (t *table) get(row []string, name string) string {
	k, ok := t.col[name]
	if !ok {
		panic("no column " + name)
	}
	return row[k]
}

// readTable parses a file strictly (RFC 4180 quoting, the same number of
// fields on every line).
func readTable(t *testing.T, path string, comma rune) *table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = comma
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: empty", filepath.Base(path))
	}
	tb := &table{header: recs[0], rows: recs[1:], col: map[string]int{}}
	for k, h := range tb.header {
		tb.col[strings.TrimSpace(h)] = k
	}
	return tb
}

// referenceHeader returns the publisher's NPPES header: the copy in shared/
// beside the repository when present, else the copy in this package.
func referenceHeader(t *testing.T) []byte {
	t.Helper()
	for _, p := range []string{
		"../../../../shared/reference/nppes_npidata_pfile_header_v2.csv",
		"../../../../../shared/reference/nppes_npidata_pfile_header_v2.csv",
		"nppes_header_v2.csv",
	} {
		if b, err := os.ReadFile(p); err == nil {
			return b
		}
	}
	t.Fatal("no NPPES reference header")
	return nil
}

func firstLine(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := bufio.NewReaderSize(f, 1<<16).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	digits5or9 = regexp.MustCompile(`^[0-9]{5}([0-9]{4})?$`)
	mmddyyyy   = regexp.MustCompile(`^(0[1-9]|1[0-2])/(0[1-9]|[12][0-9]|3[01])/(19|20)[0-9]{2}$`)
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	files, err := sample.Write(dir, sample.Options{Providers: 400, Seed: 7, Weekly: true})
	if err != nil {
		t.Fatal(err)
	}
	c := files.Counts
	cents, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}

	// NPPES main file: exact header, 330 quoted values per line.
	if got, want := firstLine(t, files.NPPES), referenceHeader(t); !bytes.Equal(got, want) {
		t.Errorf("NPPES header differs from the reference:\n got %.200q…\nwant %.200q…", got, want)
	}
	raw, err := os.ReadFile(files.NPPES)
	if err != nil {
		t.Fatal(err)
	}
	for n, l := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if !strings.HasPrefix(l, `"`) || !strings.HasSuffix(l, `"`) || strings.Count(l, `","`) != 329 {
			t.Fatalf("NPPES line %d is not 330 double-quoted values: %.120q", n+1, l)
		}
	}
	nppes := readTable(t, files.NPPES, ',')
	if len(nppes.header) != 330 || len(nppes.rows) != 400 || c.NPPES != 400 {
		t.Fatalf("NPPES: %d columns, %d rows, Counts.NPPES %d; want 330, 400, 400", len(nppes.header), len(nppes.rows), c.NPPES)
	}
	if c.Individuals+c.Organizations+c.Deactivated != c.NPPES || c.Deactivated == 0 || c.Organizations == 0 {
		t.Errorf("counts %+v: want individuals, organizations and deactivated NPIs adding up", c)
	}
	nucc := readTable(t, files.NUCC, ',')
	codes := map[string]bool{}
	for _, r := range nucc.rows {
		codes[nucc.get(r, "Code")] = true
	}
	active := map[string][]string{} // NPI → row
	var deactivated, orgs, unavail, slot2, individuals int
	for _, r := range nppes.rows {
		npi := nppes.get(r, "NPI")
		if err := dataset.CheckNPI([]byte(npi)); err != nil {
			t.Error(err)
		}
		if _, dup := active[npi]; dup {
			t.Errorf("NPI %s appears twice", npi)
		}
		if d := nppes.get(r, "NPI Deactivation Date"); d != "" {
			deactivated++
			for k, v := range r {
				if v != "" && nppes.header[k] != "NPI" && nppes.header[k] != "NPI Deactivation Date" {
					t.Errorf("deactivated NPI %s has %s = %q; want only NPI and deactivation date", npi, nppes.header[k], v)
				}
			}
			if !mmddyyyy.MatchString(d) {
				t.Errorf("deactivation date %q is not MM/DD/YYYY", d)
			}
			active[npi] = nil
			continue
		}
		active[npi] = r
		switch nppes.get(r, "Entity Type Code") {
		case "1":
			individuals++
			if nppes.get(r, "Provider Last Name (Legal Name)") == "" || nppes.get(r, "Provider Sex Code") == "" {
				t.Errorf("individual %s without last name or sex", npi)
			}
		case "2":
			orgs++
			if nppes.get(r, "Provider Organization Name (Legal Business Name)") == "" {
				t.Errorf("organization %s without a name", npi)
			}
			if nppes.get(r, "Employer Identification Number (EIN)") == "<UNAVAIL>" {
				unavail++
			}
		default:
			t.Errorf("NPI %s: entity type %q", npi, nppes.get(r, "Entity Type Code"))
		}
		ntax, primary := 0, 0
		for k := 1; k <= 15; k++ {
			n := string(rune('0' + k%10))
			if k >= 10 {
				n = "1" + n
			}
			code := nppes.get(r, "Healthcare Provider Taxonomy Code_"+n)
			sw := nppes.get(r, "Healthcare Provider Primary Taxonomy Switch_"+n)
			if code == "" {
				continue
			}
			ntax++
			if !codes[code] {
				t.Errorf("NPI %s: taxonomy %s is not in the NUCC file", npi, code)
			}
			if sw == "Y" {
				primary++
				if k == 2 {
					slot2++
				}
			}
		}
		if ntax < 1 || ntax > 3 || primary != 1 {
			t.Errorf("NPI %s: %d taxonomies, %d primary; want 1-3 and one", npi, ntax, primary)
		}
		zip := nppes.get(r, "Provider Business Practice Location Address Postal Code")
		if !digits5or9.MatchString(zip) {
			t.Errorf("NPI %s: practice ZIP %q is not 5 or 9 digits", npi, zip)
		}
		if _, _, ok := cents.Lookup(zip); !ok {
			t.Errorf("NPI %s: practice ZIP %q has no centroid", npi, zip)
		}
		for _, col := range []string{"Provider Enumeration Date", "Last Update Date"} {
			if d := nppes.get(r, col); !mmddyyyy.MatchString(d) {
				t.Errorf("NPI %s: %s %q is not MM/DD/YYYY", npi, col, d)
			}
		}
	}
	if deactivated != c.Deactivated || orgs != c.Organizations || individuals != c.Individuals {
		t.Errorf("file has %d deactivated, %d organizations, %d individuals; Counts says %+v", deactivated, orgs, individuals, c)
	}
	if unavail == 0 || unavail == orgs {
		t.Errorf("%d of %d organizations have EIN <UNAVAIL>; want some, not all", unavail, orgs)
	}
	if slot2 == 0 {
		t.Error("no provider has its primary taxonomy in slot 2")
	}

	// Companion files: exact headers, NPIs of active providers.
	companions := []struct {
		path   string
		ncols  int
		header string
		count  int
	}{
		{files.Locations, 10, "Provider Secondary Practice Location Address-  Address Line 2", c.Locations},
		{files.OtherNames, 3, "Provider Other Organization Name Type Code", c.OtherNames},
		{files.Endpoints, 19, "Affiliation Address Postal Code", c.Endpoints},
	}
	for _, cf := range companions {
		tb := readTable(t, cf.path, ',')
		name := filepath.Base(cf.path)
		if len(tb.header) != cf.ncols || !strings.Contains(strings.Join(tb.header, "|"), cf.header) {
			t.Errorf("%s: header %q", name, tb.header)
		}
		if len(tb.rows) != cf.count || cf.count == 0 {
			t.Errorf("%s: %d rows, Counts says %d", name, len(tb.rows), cf.count)
		}
		for _, r := range tb.rows {
			if active[r[0]] == nil {
				t.Errorf("%s: NPI %s is not an active provider of the main file", name, r[0])
			}
		}
	}
	companionReaders := []struct {
		path string
		open func(io.Reader, func(int, string)) (interface {
			Next() bool
			Err() error
		}, error)
		count int
	}{
		{files.Locations, func(r io.Reader, rej func(int, string)) (interface {
			Next() bool
			Err() error
		}, error) {
			return dataset.NewLocationReader(r, sample.LocationsFile, rej)
		}, c.Locations},
		{files.OtherNames, func(r io.Reader, rej func(int, string)) (interface {
			Next() bool
			Err() error
		}, error) {
			return dataset.NewOtherNameReader(r, sample.OtherNamesFile, rej)
		}, c.OtherNames},
		{files.Endpoints, func(r io.Reader, rej func(int, string)) (interface {
			Next() bool
			Err() error
		}, error) {
			return dataset.NewEndpointReader(r, sample.EndpointsFile, rej)
		}, c.Endpoints},
	}
	for _, cr := range companionReaders {
		f, err := os.Open(cr.path)
		if err != nil {
			t.Fatal(err)
		}
		var rejects []string
		rd, err := cr.open(f, func(line int, reason string) { rejects = append(rejects, fmt.Sprintf("line %d: %s", line, reason)) })
		if err != nil {
			f.Close()
			t.Fatalf("%s: %v", filepath.Base(cr.path), err)
		}
		n := 0
		for rd.Next() {
			n++
		}
		f.Close()
		if err := rd.Err(); err != nil || n != cr.count || len(rejects) > 0 {
			t.Errorf("%s: parser read %d records (want %d), rejected %v, err %v", filepath.Base(cr.path), n, cr.count, rejects, err)
		}
	}

	// NUCC, Part B, Part D, Open Payments and the gazetteer parse with the
	// loaders' readers without a reject.
	parse := func(name string, next func() bool, line func() int, row func() error, errf func() error) int {
		n := 0
		for next() {
			if err := row(); err != nil {
				t.Errorf("%s line %d: %v", name, line(), err)
			}
			n++
		}
		if err := errf(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return n
	}
	open := func(p string) io.Reader {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	nr, err := dataset.NewNUCCReader(open(files.NUCC), sample.NUCCFile)
	if err != nil {
		t.Fatal(err)
	}
	var tax medsales.Taxonomy
	if n := parse("NUCC", nr.Next, nr.Line, func() error { return nr.Taxonomy(&tax) }, nr.Err); n != c.NUCC || n < 40 {
		t.Errorf("NUCC: %d rows, Counts says %d", n, c.NUCC)
	}
	br, err := dataset.NewPartBReader(open(files.PartB), sample.PartBFile, 2024)
	if err != nil {
		t.Fatal(err)
	}
	var svc medsales.ServiceLine
	suppressed := 0
	partBNPIs := map[string]bool{}
	if n := parse("Part B", br.Next, br.Line, func() error {
		err := br.Service(&svc)
		if err == nil {
			partBNPIs[svc.NPI] = true
			if svc.TotalBeneficiaries == nil {
				suppressed++
			}
		}
		return err
	}, br.Err); n != c.PartB || n == 0 {
		t.Errorf("Part B: %d rows, Counts says %d", n, c.PartB)
	}
	if suppressed == 0 {
		t.Error("Part B: no suppressed beneficiary count")
	}
	dr, err := dataset.NewPartDReader(open(files.PartD), sample.PartDFile, 2024)
	if err != nil {
		t.Fatal(err)
	}
	var drug medsales.DrugLine
	partDNPIs := map[string]bool{}
	if n := parse("Part D", dr.Next, dr.Line, func() error {
		err := dr.Drug(&drug)
		partDNPIs[drug.NPI] = true
		return err
	}, dr.Err); n != c.PartD || n == 0 {
		t.Errorf("Part D: %d rows, Counts says %d", n, c.PartD)
	}
	or, err := dataset.NewOpenPaymentsReader(open(files.OpenPayments), sample.OpenPaymentsFile)
	if err != nil {
		t.Fatal(err)
	}
	var pay medsales.Payment
	payNPIs := map[string]bool{}
	if n := parse("Open Payments", or.Next, or.Line, func() error {
		err := or.Payment(&pay)
		if pay.NPI != "" {
			payNPIs[pay.NPI] = true
		}
		return err
	}, or.Err); n != c.OpenPayments || n == 0 {
		t.Errorf("Open Payments: %d rows, Counts says %d", n, c.OpenPayments)
	}
	for name, npis := range map[string]map[string]bool{"Part B": partBNPIs, "Part D": partDNPIs, "Open Payments": payNPIs} {
		for npi := range npis {
			if active[npi] == nil {
				t.Errorf("%s: NPI %s is not an active provider of the main file", name, npi)
			}
		}
	}
	op := readTable(t, files.OpenPayments, ',')
	if len(op.header) != 91 {
		t.Errorf("Open Payments: %d columns, want 91", len(op.header))
	}
	pb := readTable(t, files.PartB, ',')
	for _, r := range pb.rows {
		npi := pb.get(r, "Rndrng_NPI")
		if pb.get(r, "Rndrng_Prvdr_Ent_Cd") == "I" && pb.get(r, "Rndrng_Prvdr_Last_Org_Name") != nppes.get(active[npi], "Provider Last Name (Legal Name)") {
			t.Errorf("Part B NPI %s: last name %q differs from NPPES", npi, pb.get(r, "Rndrng_Prvdr_Last_Org_Name"))
		}
	}

	zr, err := dataset.NewZCTAReader(open(files.Gazetteer), sample.GazetteerFile)
	if err != nil {
		t.Fatal(err)
	}
	var cent geo.Centroid
	gaz := map[string]bool{}
	if n := parse("gazetteer", zr.Next, zr.Line, func() error {
		err := zr.Centroid(&cent)
		gaz[cent.ZIP] = true
		return err
	}, zr.Err); n != c.Gazetteer || n == 0 {
		t.Errorf("gazetteer: %d rows, Counts says %d", n, c.Gazetteer)
	}
	for npi, r := range active {
		if r == nil {
			continue
		}
		zip := nppes.get(r, "Provider Business Practice Location Address Postal Code")[:5]
		if !gaz[zip] {
			t.Errorf("NPI %s: practice ZIP %s is not in the gazetteer", npi, zip)
		}
	}

	// Weekly increment: changed providers of the main file and new ones.
	weekly := readTable(t, files.NPPESWeekly, ',')
	if len(weekly.rows) != c.NPPESWeekly || c.NPPESWeekly != c.WeeklyChanged+c.WeeklyNew || c.WeeklyChanged == 0 || c.WeeklyNew == 0 {
		t.Fatalf("weekly: %d rows, counts %+v", len(weekly.rows), c)
	}
	changed, added := 0, 0
	for _, r := range weekly.rows {
		npi := weekly.get(r, "NPI")
		upd := weekly.get(r, "Last Update Date")
		if !strings.HasPrefix(upd, "08/1") || upd < "08/11/2026" || upd > "08/17/2026" {
			t.Errorf("weekly NPI %s: update date %s is not in the week 08/11-08/17/2026", npi, upd)
		}
		old, ok := active[npi]
		switch {
		case !ok:
			added++
		case old == nil:
			t.Errorf("weekly NPI %s was deactivated in the main file", npi)
		default:
			changed++
			const street = "Provider First Line Business Practice Location Address"
			if weekly.get(r, street) == nppes.get(old, street) && weekly.get(r, "Provider Business Practice Location Address Postal Code") == nppes.get(old, "Provider Business Practice Location Address Postal Code") {
				t.Errorf("weekly NPI %s: practice address unchanged", npi)
			}
		}
	}
	if changed != c.WeeklyChanged || added != c.WeeklyNew {
		t.Errorf("weekly: %d changed and %d new, Counts says %d and %d", changed, added, c.WeeklyChanged, c.WeeklyNew)
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	digest := func(seed int64) map[string][32]byte {
		dir := t.TempDir()
		if _, err := sample.Write(dir, sample.Options{Providers: 120, Seed: seed, Weekly: true}); err != nil {
			t.Fatal(err)
		}
		out := map[string][32]byte{}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = sha256.Sum256(b)
		}
		return out
	}
	a, b, other := digest(42), digest(42), digest(43)
	if len(a) != 10 {
		t.Fatalf("%d files, want 10", len(a))
	}
	for name, h := range a {
		if b[name] != h {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	for _, name := range []string{sample.NPPESFile, sample.PartBFile, sample.OpenPaymentsFile} {
		if other[name] == a[name] {
			t.Errorf("%s is the same for seeds 42 and 43", name)
		}
	}
}

func TestWriteNPPESLayouts(t *testing.T) {
	tests := []struct {
		name      string
		old       bool
		ncols     int
		sexColumn string
		absent    string
	}{
		{"current", false, 330, "Provider Sex Code", "Provider Gender Code"},
		{"before mid-2025", true, 329, "Provider Gender Code", "Certification Date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := sample.WriteNPPES(&buf, sample.Options{Providers: 60, Seed: 3, OldLayout: tt.old}); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 61 || len(recs[0]) != tt.ncols {
				t.Fatalf("%d records of %d columns, want 61 of %d", len(recs), len(recs[0]), tt.ncols)
			}
			hdr := strings.Join(recs[0], "|")
			if !strings.Contains(hdr, tt.sexColumn) || strings.Contains(hdr, tt.absent) {
				t.Errorf("header has %q: %v, %q: %v", tt.sexColumn, strings.Contains(hdr, tt.sexColumn), tt.absent, strings.Contains(hdr, tt.absent))
			}
			sex := 0
			for k, h := range recs[0] {
				if h == tt.sexColumn {
					for _, r := range recs[1:] {
						if r[k] == "M" || r[k] == "F" {
							sex++
						}
					}
				}
			}
			if sex == 0 {
				t.Errorf("no value in %s", tt.sexColumn)
			}

			// The NPPES parser reads every record, sex and certification date included.
			buf.Reset()
			if err := sample.WriteNPPES(&buf, sample.Options{Providers: 60, Seed: 3, OldLayout: tt.old}); err != nil {
				t.Fatal(err)
			}
			var rejects []string
			rd, err := dataset.NewNPPESReader(&buf, sample.NPPESFile, func(line int, reason string) {
				rejects = append(rejects, fmt.Sprintf("line %d: %s", line, reason))
			})
			if err != nil {
				t.Fatal(err)
			}
			n, withSex, certified := 0, 0, 0
			for rd.Next() {
				rec := rd.Record()
				n++
				if len(rec.Sex) > 0 {
					withSex++
				}
				if !rec.CertificationDate.IsZero() {
					certified++
				}
				if rec.EntityType != 0 && len(rec.PrimaryTaxonomy) == 0 {
					t.Errorf("NPI %s: the parser found no primary taxonomy", rec.NPI)
				}
			}
			if err := rd.Err(); err != nil {
				t.Fatal(err)
			}
			if n != 60 || len(rejects) > 0 || withSex == 0 {
				t.Errorf("parser read %d records (%d with sex), rejected %v; want 60, some with sex, none rejected", n, withSex, rejects)
			}
			if tt.old != (certified == 0) {
				t.Errorf("%d records with a certification date (old layout %v)", certified, tt.old)
			}
		})
	}
}

func TestWriteNPPESMatchesWrite(t *testing.T) {
	opts := sample.Options{Providers: 80, Seed: 9}
	files, err := sample.Write(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(files.NPPES)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := sample.WriteNPPES(&got, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Error("WriteNPPES and Write's NPPES file differ")
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, os.ErrClosed
	}
	return len(p), nil
}

func TestWriteNPPESReportsWriteErrors(t *testing.T) {
	err := sample.WriteNPPES(&failingWriter{after: 3 << 20}, sample.Options{Providers: 20000})
	if err == nil {
		t.Fatal("no error from a failing writer")
	}
}

// BenchmarkWriteNPPES measures the NPPES generator (1,000,000 records per
// op with -benchtime=1x: go test -run x -bench WriteNPPES -benchtime 1x).
func BenchmarkWriteNPPES(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 50_000
	}
	var cw countingWriter
	for i := 0; i < b.N; i++ {
		if err := sample.WriteNPPES(&cw, sample.Options{Providers: n, Seed: int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(cw.n / int64(b.N))
	b.ReportMetric(float64(n), "rows/op")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestGazetteerHasEveryEmbeddedCentroid: the sample gazetteer holds every
// ZCTA of the embedded table at its centroid. Once a gazetteer is loaded
// the loaders place addresses with it instead of the embedded table, and
// the quick start (serve --sample) loads it into the database real files
// are loaded into next: one of only the sample's ZIP codes left every
// later provider outside them without coordinates.
func TestGazetteerHasEveryEmbeddedCentroid(t *testing.T) {
	files, err := sample.Write(t.TempDir(), sample.Options{Providers: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cents, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(files.Gazetteer)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := dataset.NewZCTAReader(f, sample.GazetteerFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var c geo.Centroid
	for zr.Next() {
		if err := zr.Centroid(&c); err != nil {
			t.Fatalf("line %d: %v", zr.Line(), err)
		}
		n++
		if lat, lon, ok := cents.Lookup(c.ZIP); !ok || lat != c.Lat || lon != c.Lon {
			t.Errorf("ZIP %s at %v,%v; the embedded table has %v,%v (%v)", c.ZIP, c.Lat, c.Lon, lat, lon, ok)
		}
	}
	if err := zr.Err(); err != nil {
		t.Fatal(err)
	}
	if n != cents.Len() || files.Counts.Gazetteer != n {
		t.Errorf("gazetteer: %d ZIP codes (Counts says %d), the embedded table has %d", n, files.Counts.Gazetteer, cents.Len())
	}
}

// TestWriteReplacesFilesWhole checks that writing a sample again does not
// rewrite its files in place: a load still reading the earlier file (a
// second 'medsales serve --sample' started beside the first on one data
// directory) must go on reading it whole. Rewritten in place, the file was
// truncated under the reader, whose load then failed with "truncated
// input". No temporary file is left behind.
func TestWriteReplacesFilesWhole(t *testing.T) {
	dir := t.TempDir()
	first, err := sample.Write(dir, sample.Options{Providers: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(first.NPPES)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(first.NPPES)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := sample.Write(dir, sample.Options{Providers: 20, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("a reader opened before the second Write read %d bytes, want the %d of the file it opened", len(got), len(want))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("Write left %s behind", e.Name())
		}
		if info, err := e.Info(); err == nil && info.Mode().Perm()&0o044 != 0o044 {
			t.Errorf("%s has mode %v, want it readable like a file os.Create makes", e.Name(), info.Mode().Perm())
		}
	}
}

// TestWriteRefusesMoreProvidersThanNPIs checks that Write refuses more
// providers than it has distinct NPIs for, before writing anything. (The
// directory lies under a file, so that a count that is not refused fails
// at once instead of writing gigabytes.)
func TestWriteRefusesMoreProvidersThanNPIs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sample.Write(filepath.Join(file, "out"), sample.Options{Providers: sample.MaxProviders + 1})
	if err == nil || !strings.Contains(err.Error(), "NPIs are unique") {
		t.Errorf("Write with %d providers: err = %v, want it refused as more than the NPIs", sample.MaxProviders+1, err)
	}
}

// TestWriteContextStops: writing a large sample stops when its context
// ends (SIGTERM on `medsales serve --sample N`), with an error that is the
// context's, and leaves no half-written file behind. It went on to the
// end of every file, minutes for millions of providers.
func TestWriteContextStops(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sample.WriteContext(ctx, dir, sample.Options{Providers: 1_000_000, Seed: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteContext on a cancelled context: %v, want context.Canceled", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
