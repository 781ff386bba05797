package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// The sample NPPES files of the dataset package's testdata.
const (
	npiCurrent   = "npidata_pfile_20050523-20260810_sample.csv"     // 330 columns: Jane, ACME, a deactivated NPI, Bob
	npiOld       = "npidata_pfile_20050523-20241013_old_layout.csv" // 329 columns, Provider Gender Code: Jane, ACME
	npiWeekly    = "npidata_pfile_20260803-20260809_weekly.csv"     // Jane changed, ACME deactivated, An added
	plSample     = "pl_pfile_20050523-20260810_sample.csv"
	otherSample  = "othername_pfile_20050523-20260810_sample.csv"
	endpointFile = "endpoint_pfile_20050523-20260810_sample.csv"

	npiJane        = "1234567893"
	npiACME        = "1245319599"
	npiDeactivated = "1003000126"
	npiBob         = "1987654328"
	npiAn          = "1555555550"
)

func nppesSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type nppesLoader func(*store.Store, context.Context, store.LoadInput) (store.LoadResult, error)

// nppesRun is the outcome of one load.
type nppesRun struct {
	res       store.LoadResult
	err       error
	rejects   string
	finalized *store.LoadResult
}

func nppesLoad(t *testing.T, s *store.Store, load nppesLoader, file string, content []byte, in store.LoadInput) nppesRun {
	t.Helper()
	var rejects bytes.Buffer
	var out nppesRun
	in.File, in.Reader, in.Rejects = file, bytes.NewReader(content), &rejects
	in.Finalize = func(tx *db.Tx, res store.LoadResult) error {
		out.finalized = &res
		_, err := tx.Exec(`INSERT INTO dataset_versions (dataset, source_file, started_at, status, rows_loaded) VALUES ('nppes', $1, $2, 'succeeded', $3)`,
			file, time.Now().UTC(), res.Loaded)
		return err
	}
	out.res, out.err = load(s, context.Background(), in)
	out.rejects = rejects.String()
	return out
}

func nppesMustLoad(t *testing.T, s *store.Store, load nppesLoader, file string, content []byte, in store.LoadInput) nppesRun {
	t.Helper()
	r := nppesLoad(t, s, load, file, content, in)
	if r.err != nil {
		t.Fatalf("load %s: %v", file, r.err)
	}
	if r.finalized == nil || *r.finalized != r.res {
		t.Errorf("load %s: Finalize got %+v, want %+v", file, r.finalized, r.res)
	}
	return r
}

// providerTables are the tables the NPPES loaders write.
var providerTables = []string{"providers", "provider_taxonomies", "provider_identifiers", "practice_locations", "provider_other_names", "provider_endpoints"}

// snapshot returns every row of the provider tables as text, to compare
// the live data before and after a load.
func snapshot(t *testing.T, d *db.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range providerTables {
		rows, err := d.SQL.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, v := range vals {
				if v.Valid {
					fmt.Fprintf(&b, "%q|", v.String)
				} else {
					b.WriteString("NULL|")
				}
			}
			out[table] = append(out[table], b.String())
		}
		rows.Close()
		slices.Sort(out[table])
	}
	return out
}

func nppesCount(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.SQL.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func embeddedCentroids(t *testing.T) *geo.Centroids {
	t.Helper()
	c, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fptr(f float64) *float64 { return &f }

func dayPtr(y int, m time.Month, d int) *medsales.Date {
	return medsales.DatePtr(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

func addNUCC(t *testing.T, d *db.DB) {
	t.Helper()
	for _, r := range [][]string{
		{"207Q00000X", "Allopathic & Osteopathic Physicians", "Family Medicine", "", "Family Medicine Physician"},
		{"207R00000X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "", "Internal Medicine Physician"},
	} {
		if _, err := d.SQL.Exec(`INSERT INTO nucc_taxonomy (code, grouping, classification, specialization, display_name) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
			r[0], r[1], r[2], r[3], r[4]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadNPPESFull(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		addNUCC(t, d)
		centroids := embeddedCentroids(t)
		r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{Centroids: centroids})
		if want := (store.LoadResult{Loaded: 4}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		if r.rejects != "" {
			t.Errorf("rejects: %q", r.rejects)
		}
		for table, want := range map[string]int{"providers": 4, "provider_taxonomies": 4, "provider_identifiers": 3} {
			if n := nppesCount(t, d, "SELECT COUNT(*) FROM "+table); n != want {
				t.Errorf("%s has %d rows, want %d", table, n, want)
			}
		}

		// An individual whose primary taxonomy is in slot 2, with NUCC
		// names and the ZIP centroid of 32204.
		lat, lon, ok := centroids.Lookup("32204")
		if !ok {
			t.Fatal("no centroid for 32204")
		}
		got, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		want := &medsales.ProviderDetail{
			Provider: medsales.Provider{
				NPI: npiJane, EntityType: 1, LastName: "SMITH", FirstName: "JANE", MiddleName: "Q", NamePrefix: "DR.", Credential: "M.D.", Sex: "F",
				MailingAddress:  medsales.Address{Line1: "PO BOX 1000", City: "JACKSONVILLE", State: "FL", PostalCode: "322010000", Country: "US", Phone: "9045550100", Fax: "9045550101"},
				PracticeAddress: medsales.Address{Line1: "123 North Main Street", Line2: "Suite #200", City: "Jacksonville", State: "FL", PostalCode: "322044736", Country: "US", Phone: "9045550199"},
				EnumerationDate: dayPtr(2005, 5, 23), LastUpdateDate: dayPtr(2020, 7, 8), CertificationDate: dayPtr(2024, 1, 15),
				SoleProprietor: "N", PrimaryTaxonomy: "207R00000X",
				PracticeLat: fptr(lat), PracticeLon: fptr(lon), CoordSource: medsales.CoordZCTA,
			},
			Taxonomies: []medsales.ProviderTaxonomy{
				{Slot: 1, Code: "207Q00000X", License: "ME12345", LicenseState: "FL", Grouping: "Allopathic & Osteopathic Physicians", Classification: "Family Medicine", DisplayName: "Family Medicine Physician"},
				{Slot: 2, Code: "207R00000X", License: "ME99999", LicenseState: "GA", Primary: true, Grouping: "Allopathic & Osteopathic Physicians", Classification: "Internal Medicine", DisplayName: "Internal Medicine Physician"},
			},
			Identifiers:       []medsales.OtherIdentifier{{Slot: 1, Identifier: "0123456", TypeCode: "05", State: "FL", Issuer: "MEDICAID"}},
			PracticeLocations: []medsales.PracticeLocation{}, OtherNames: []medsales.OtherName{}, Endpoints: []medsales.Endpoint{},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Provider(%s) (-want +got):\n%s", npiJane, diff)
		}
		var key string
		if err := d.SQL.QueryRow(`SELECT address_key FROM providers WHERE npi = $1`, npiJane).Scan(&key); err != nil {
			t.Fatal(err)
		}
		if want := geo.AddressKey("123 North Main Street", "Suite #200", "Jacksonville", "FL", "322044736"); key != want {
			t.Errorf("address_key = %q, want %q", key, want)
		}

		// An organization with EIN <UNAVAIL>: NULL.
		org, err := s.Provider(ctx, npiACME)
		if err != nil {
			t.Fatal(err)
		}
		if org.EntityType != 2 || org.OrganizationName != "ACME HEALTH, LLC" || org.EIN != "" || org.PrimaryTaxonomy != "261QM0801X" ||
			org.AuthorizedOfficial == nil || org.AuthorizedOfficial.Title != "CEO" || len(org.Taxonomies) != 1 || org.Taxonomies[0].Group != "193200000X SINGLE SPECIALTY GROUP" {
			t.Errorf("organization = %+v", org)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers WHERE npi = $1 AND ein IS NULL", npiACME); n != 1 {
			t.Error("EIN <UNAVAIL> is not NULL")
		}

		// A deactivated NPI is kept with only its NPI and deactivation date.
		dead, err := s.Provider(ctx, npiDeactivated)
		if err != nil {
			t.Fatal(err)
		}
		wantDead := medsales.Provider{NPI: npiDeactivated, DeactivationDate: dayPtr(2019, 6, 1)}
		if diff := cmp.Diff(wantDead, dead.Provider); diff != "" {
			t.Errorf("deactivated provider (-want +got):\n%s", diff)
		}
		if !dead.Deactivated() {
			t.Error("Deactivated() = false")
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers WHERE npi = $1 AND entity_type IS NULL AND last_name IS NULL AND address_key IS NULL", npiDeactivated); n != 1 {
			t.Error(`deactivated NPI: empty fields are not NULL`)
		}

		// "" is NULL everywhere, not an empty string.
		for _, col := range []string{"middle_name", "replacement_npi", "mail_line2", "practice_line2", "name_suffix", "ein"} {
			if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers WHERE "+col+" = ''"); n != 0 {
				t.Errorf("%d providers with %s = ''", n, col)
			}
		}

		// Unknown and malformed NPIs.
		if _, err := s.Provider(ctx, npiAn); !errs.Is(err, errs.CodeNotFound) {
			t.Errorf("Provider(absent) = %v, want not_found", err)
		}
		if _, err := s.Provider(ctx, "123"); !errs.Is(err, errs.CodeInvalid) {
			t.Errorf("Provider(123) = %v, want invalid", err)
		}
	})
}

func TestLoadNPPESOldLayout(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiOld, nppesSample(t, npiOld), store.LoadInput{})
		if r.res.Loaded != 2 || r.res.Rejected != 0 {
			t.Errorf("result = %+v", r.res)
		}
		jane, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		if jane.Sex != "F" || jane.CertificationDate != nil || jane.PrimaryTaxonomy != "207R00000X" {
			t.Errorf("sex %q, certification %v, primary %q", jane.Sex, jane.CertificationDate, jane.PrimaryTaxonomy)
		}
		// Without centroids there are no coordinates.
		if jane.PracticeLat != nil || jane.CoordSource != "" {
			t.Errorf("coordinates without centroids: %v %q", jane.PracticeLat, jane.CoordSource)
		}
	})
}

func TestLoadNPPESIncrement(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		centroids := embeddedCentroids(t)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{Centroids: centroids})
		bob, err := s.Provider(ctx, npiBob)
		if err != nil {
			t.Fatal(err)
		}
		r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, nppesSample(t, npiWeekly), store.LoadInput{Mode: store.ModeIncrement, Centroids: centroids})
		if r.res.Loaded != 3 {
			t.Errorf("result = %+v", r.res)
		}
		// Jane moved to Austin and now has one taxonomy (primary) and no
		// identifier: her old slots are gone.
		jane, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		lat, lon, _ := centroids.Lookup("78701")
		if jane.LastName != "SMITH-JONES" || jane.PracticeAddress.City != "Austin" || *jane.LastUpdateDate != *dayPtr(2026, 8, 5) ||
			jane.PracticeLat == nil || *jane.PracticeLat != lat || *jane.PracticeLon != lon {
			t.Errorf("Jane after the increment: %+v", jane.Provider)
		}
		if diff := cmp.Diff([]medsales.ProviderTaxonomy{{Slot: 1, Code: "207Q00000X", License: "ME12345", LicenseState: "FL", Primary: true}}, jane.Taxonomies); diff != "" {
			t.Errorf("Jane's taxonomies (-want +got):\n%s", diff)
		}
		if len(jane.Identifiers) != 0 {
			t.Errorf("Jane's identifiers: %+v", jane.Identifiers)
		}
		// ACME is deactivated: its row holds only the NPI and date now.
		acme, err := s.Provider(ctx, npiACME)
		if err != nil {
			t.Fatal(err)
		}
		if acme.EntityType != 0 || acme.OrganizationName != "" || !acme.Deactivated() || len(acme.Taxonomies) != 0 {
			t.Errorf("ACME after deactivation: %+v", acme)
		}
		// An is new; Bob and the deactivated NPI are untouched.
		if an, err := s.Provider(ctx, npiAn); err != nil || an.LastName != "NGUYEN" || an.Sex != "X" {
			t.Errorf("An: %+v, %v", an, err)
		}
		bob2, err := s.Provider(ctx, npiBob)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(bob, bob2); diff != "" {
			t.Errorf("Bob changed (-before +after):\n%s", diff)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers"); n != 5 {
			t.Errorf("providers = %d, want 5", n)
		}
		// An unknown mode is refused.
		r = nppesLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, nppesSample(t, npiWeekly), store.LoadInput{Mode: "weekly"})
		if !errs.Is(r.err, errs.CodeInvalid) {
			t.Errorf("mode weekly: %v", r.err)
		}
	})
}

// TestLoadNPPESIncrementLeavesOutOlderRecords: a weekly file loaded after
// a later one (out of order, or a scheduled load run again) applies only
// the records that are not older than those loaded. It brought back
// Jane's earlier address and taxonomies and reactivated ACME.
func TestLoadNPPESIncrementLeavesOutOlderRecords(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{})
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, nppesSample(t, npiWeekly), store.LoadInput{Mode: store.ModeIncrement})
		jane, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}

		// The week before: Jane's record of 07/29/2026 (in Dallas), ACME's
		// record of 03/04/2025 (active; deactivated 08/01/2026 since), and
		// An's record of the same date as the loaded one (now in
		// Cambridge), which is not older and applies.
		weekly := strings.SplitAfter(string(nppesSample(t, npiWeekly)), "\n")
		monthly := strings.SplitAfter(string(nppesSample(t, npiCurrent)), "\n")
		var acme string
		for _, l := range monthly {
			if strings.HasPrefix(l, `"`+npiACME+`"`) {
				acme = l
			}
		}
		if acme == "" || !strings.HasPrefix(weekly[1], `"`+npiJane+`"`) || !strings.HasPrefix(weekly[3], `"`+npiAn+`"`) {
			t.Fatal("the sample files changed: ACME's monthly row or the weekly rows of Jane and An not found")
		}
		janeOld := strings.ReplaceAll(strings.ReplaceAll(weekly[1], `"08/05/2026"`, `"07/29/2026"`), `"Austin"`, `"Dallas"`)
		anMoved := strings.ReplaceAll(weekly[3], `"Boston"`, `"Cambridge"`)
		older := weekly[0] + janeOld + acme + anMoved
		r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, "npidata_pfile_20260727-20260802_weekly.csv", []byte(older), store.LoadInput{Mode: store.ModeIncrement})
		if r.res.Loaded != 1 || r.res.Stale != 2 || r.res.Rejected != 0 {
			t.Errorf("result = %+v, want 1 loaded and 2 stale", r.res)
		}
		jane2, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(jane, jane2); diff != "" {
			t.Errorf("Jane's newer record was replaced by an older one (-before +after):\n%s", diff)
		}
		acme2, err := s.Provider(ctx, npiACME)
		if err != nil {
			t.Fatal(err)
		}
		if !acme2.Deactivated() || acme2.OrganizationName != "" || len(acme2.Taxonomies) != 0 {
			t.Errorf("ACME was reactivated by its older record: %+v", acme2)
		}
		if an, err := s.Provider(ctx, npiAn); err != nil || an.PracticeAddress.City != "Cambridge" {
			t.Errorf("An's record of the same date was not applied: %+v, %v", an.PracticeAddress, err)
		}
	})
}

// TestLoadNPPESIncrementDeactivationDropsCompanions: an NPI deactivated
// by a weekly increment loses its secondary practice locations, other
// names and endpoints, as it would in the next monthly companion files
// (which load in full only); the others keep theirs.
func TestLoadNPPESIncrementDeactivationDropsCompanions(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{})
		nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, nppesSample(t, plSample), store.LoadInput{})
		nppesMustLoad(t, s, (*store.Store).LoadNPPESOtherNames, otherSample, nppesSample(t, otherSample), store.LoadInput{})
		nppesMustLoad(t, s, (*store.Store).LoadNPPESEndpoints, endpointFile, nppesSample(t, endpointFile), store.LoadInput{})
		count := func(npi string) [3]int {
			return [3]int{
				nppesCount(t, d, "SELECT COUNT(*) FROM practice_locations WHERE npi = $1", npi),
				nppesCount(t, d, "SELECT COUNT(*) FROM provider_other_names WHERE npi = $1", npi),
				nppesCount(t, d, "SELECT COUNT(*) FROM provider_endpoints WHERE npi = $1", npi),
			}
		}
		acme, jane := count(npiACME), count(npiJane)
		if acme != [3]int{1, 2, 1} || jane != [3]int{2, 0, 1} {
			t.Fatalf("before: ACME %v, Jane %v (locations, other names, endpoints): the sample files changed", acme, jane)
		}
		// The weekly file deactivates ACME and updates Jane.
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, nppesSample(t, npiWeekly), store.LoadInput{Mode: store.ModeIncrement})
		if got := count(npiACME); got != [3]int{} {
			t.Errorf("deactivated ACME keeps %v locations, other names, endpoints", got)
		}
		if got := count(npiJane); got != jane {
			t.Errorf("Jane (updated, not deactivated) has %v locations, other names, endpoints, want %v", got, jane)
		}
		p, err := s.Provider(ctx, npiACME)
		if err != nil || len(p.PracticeLocations) != 0 || len(p.Endpoints) != 0 || len(p.OtherNames) != 0 {
			t.Errorf("ACME's profile: %+v, %v", p, err)
		}
	})
}

func TestLoadNPPESRefusesAndRejects(t *testing.T) {
	current := nppesSample(t, npiCurrent)
	header, rows, _ := bytes.Cut(current, []byte("\n"))
	lines := strings.SplitAfter(string(rows), "\n")
	// A malformed row (bad check digit) as line 6, after the four good ones.
	badRow := strings.Replace(lines[3], npiBob, "1987654321", 1)
	withBad := string(header) + "\n" + strings.Join(lines[:4], "") + badRow

	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiOld, nppesSample(t, npiOld), store.LoadInput{})
		before := snapshot(t, d)
		unchanged := func(what string) {
			t.Helper()
			if diff := cmp.Diff(before, snapshot(t, d)); diff != "" {
				t.Errorf("%s changed the live data (-before +after):\n%s", what, diff)
			}
			if n := nppesCount(t, d, "SELECT COUNT(*) FROM dataset_versions"); n != 1 {
				t.Errorf("%s: %d dataset versions, want 1", what, n)
			}
		}

		// A missing required column: refused before anything is written.
		noEntity := bytes.Replace(current, []byte(`"Entity Type Code",`), []byte(`"Entity Kind",`), 1)
		r := nppesLoad(t, s, (*store.Store).LoadNPPES, "npidata_pfile_x.csv", noEntity, store.LoadInput{})
		if r.err == nil || r.err.Error() != `npidata_pfile_x.csv: missing required column "Entity Type Code" (header has 330 columns): the publisher may have renamed or dropped them` ||
			!errs.Is(r.err, errs.CodeInvalid) {
			t.Errorf("missing column: %v", r.err)
		}
		unchanged("a file without Entity Type Code")

		// The wrong file altogether (a pl_pfile given as npidata).
		r = nppesLoad(t, s, (*store.Store).LoadNPPES, plSample, nppesSample(t, plSample), store.LoadInput{})
		if r.err == nil || !strings.Contains(r.err.Error(), plSample+`: has a "Provider Secondary Practice Location Address- Address Line 1" column: a pl_pfile`) ||
			!strings.HasSuffix(r.err.Error(), "wrong file for the dataset") || !errors.Is(r.err, dataset.ErrWrongFile) {
			t.Errorf("pl_pfile as npidata: %v", r.err)
		}
		unchanged("a pl_pfile as npidata")

		// Too many rejects (1 of 5 > 1%): the load fails naming the file.
		r = nppesLoad(t, s, (*store.Store).LoadNPPES, "npidata_pfile_bad.csv", []byte(withBad), store.LoadInput{})
		if r.err == nil || !strings.Contains(r.err.Error(), "npidata_pfile_bad.csv: 1 of 5 rows rejected (20.00%), more than the allowed 1.00%") ||
			!strings.HasSuffix(r.err.Error(), `the first: line 6: NPI "1987654321" fails the check digit (want 8)`) {
			t.Errorf("reject ratio: %v", r.err)
		}
		if r.rejects != "6,\"NPI \"\"1987654321\"\" fails the check digit (want 8)\"\n" {
			t.Errorf("rejects = %q", r.rejects)
		}
		unchanged("a file with too many rejects")

		// Input cut off in the middle of a row (a truncated download).
		cut := current[:len(current)-700]
		r = nppesLoad(t, s, (*store.Store).LoadNPPES, "npidata_pfile_cut.csv", cut, store.LoadInput{})
		if r.err == nil || !strings.Contains(r.err.Error(), "npidata_pfile_cut.csv: line 5: truncated input") {
			t.Errorf("truncated input: %v", r.err)
		}
		unchanged("a truncated file")

		// Binary input: a zip archive given to the loader as the file
		// (source.Open reads a member of one; the loader does not).
		r = nppesLoad(t, s, (*store.Store).LoadNPPES, "npidata.zip", []byte("PK\x03\x04\x14\x00\x08\x00binary\n"), store.LoadInput{})
		if r.err == nil || !strings.Contains(r.err.Error(), "npidata.zip: the file is a zip archive (it starts with PK 03 04)") {
			t.Errorf("binary input: %v", r.err)
		}
		unchanged("a binary file")

		// With a lenient threshold the malformed row is rejected with its
		// line and the rest loads, replacing the previous version.
		r = nppesMustLoad(t, s, (*store.Store).LoadNPPES, "npidata_pfile_bad.csv", []byte(withBad), store.LoadInput{MaxRejectRatio: 0.5})
		if r.res != (store.LoadResult{Loaded: 4, Rejected: 1}) {
			t.Errorf("result = %+v", r.res)
		}
		if r.rejects != "6,\"NPI \"\"1987654321\"\" fails the check digit (want 8)\"\n" {
			t.Errorf("rejects = %q", r.rejects)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers"); n != 4 {
			t.Errorf("providers = %d, want 4", n)
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestLoadNPPESReplacesAtomically(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{})
		first := snapshot(t, d)

		// A load whose swap fails (Finalize errs) leaves the first version.
		in := store.LoadInput{File: npiOld, Reader: bytes.NewReader(nppesSample(t, npiOld)),
			Finalize: func(*db.Tx, store.LoadResult) error { return errors.New("version row refused") }}
		if _, err := s.LoadNPPES(ctx, in); err == nil || !strings.Contains(err.Error(), "version row refused") {
			t.Errorf("failed finalize: %v", err)
		}
		if diff := cmp.Diff(first, snapshot(t, d)); diff != "" {
			t.Errorf("a failed load changed the live data (-before +after):\n%s", diff)
		}

		// A second full load replaces the first entirely.
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiOld, nppesSample(t, npiOld), store.LoadInput{})
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers"); n != 2 {
			t.Errorf("providers after the second load = %d, want 2", n)
		}
		if _, err := s.Provider(ctx, npiBob); !errs.Is(err, errs.CodeNotFound) {
			t.Errorf("Bob survived the replacement: %v", err)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM provider_identifiers WHERE npi = $1", npiBob); n != 0 {
			t.Errorf("Bob's identifiers survived the replacement")
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestLoadNPPESCompanions(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		centroids := embeddedCentroids(t)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{Centroids: centroids})
		if r := nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, nppesSample(t, plSample), store.LoadInput{Centroids: centroids}); r.res.Loaded != 3 {
			t.Errorf("locations result = %+v", r.res)
		}
		if r := nppesMustLoad(t, s, (*store.Store).LoadNPPESOtherNames, otherSample, nppesSample(t, otherSample), store.LoadInput{}); r.res.Loaded != 2 {
			t.Errorf("other names result = %+v", r.res)
		}
		if r := nppesMustLoad(t, s, (*store.Store).LoadNPPESEndpoints, endpointFile, nppesSample(t, endpointFile), store.LoadInput{}); r.res.Loaded != 2 {
			t.Errorf("endpoints result = %+v", r.res)
		}
		jane, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		lat, lon, _ := centroids.Lookup("32202")
		wantLocs := []medsales.PracticeLocation{
			{Seq: 2, Address: medsales.Address{Line1: "200 BAY ST", City: "JACKSONVILLE", State: "FL", PostalCode: "322021234", Country: "US", Phone: "9045550200"},
				PhoneExtension: "12", Lat: fptr(lat), Lon: fptr(lon), CoordSource: medsales.CoordZCTA},
			{Seq: 3, Address: medsales.Address{Line1: "300 RIVER RD", Line2: "BLDG B", City: "ORANGE PARK", State: "FL", PostalCode: "32073", Country: "US", Fax: "9045550300"}},
		}
		lat2, lon2, ok := centroids.Lookup("32073")
		if ok {
			wantLocs[1].Lat, wantLocs[1].Lon, wantLocs[1].CoordSource = fptr(lat2), fptr(lon2), medsales.CoordZCTA
		}
		if diff := cmp.Diff(wantLocs, jane.PracticeLocations); diff != "" {
			t.Errorf("Jane's locations (-want +got):\n%s", diff)
		}
		if len(jane.Endpoints) != 1 || jane.Endpoints[0].Endpoint != "jane.smith@direct.example.org" || jane.Endpoints[0].UseCode != "HIE" {
			t.Errorf("Jane's endpoints: %+v", jane.Endpoints)
		}
		acme, err := s.Provider(ctx, npiACME)
		if err != nil {
			t.Fatal(err)
		}
		wantNames := []medsales.OtherName{{Seq: 2, Name: "ACME CLINIC", TypeCode: "3"}, {Seq: 3, Name: `ACME "EAST" CARE`, TypeCode: "5"}}
		if diff := cmp.Diff(wantNames, acme.OtherNames); diff != "" {
			t.Errorf("ACME's other names (-want +got):\n%s", diff)
		}
		if len(acme.PracticeLocations) != 1 || acme.PracticeLocations[0].Address.Country != "FR" || acme.PracticeLocations[0].Lat != nil {
			t.Errorf("ACME's foreign location: %+v", acme.PracticeLocations)
		}
		if len(acme.Endpoints) != 1 || acme.Endpoints[0].AffiliationAddress.City != "NEW YORK" {
			t.Errorf("ACME's endpoints: %+v", acme.Endpoints)
		}

		// A weekly pl_pfile replaces the locations of the NPIs it names.
		week := strings.Join(strings.SplitAfter(string(nppesSample(t, plSample)), "\n")[:2], "") // header + Jane's first location
		nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, "pl_pfile_weekly.csv", []byte(week), store.LoadInput{Mode: store.ModeIncrement})
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM practice_locations WHERE npi = $1", npiJane); n != 1 {
			t.Errorf("Jane's locations after the increment: %d, want 1", n)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM practice_locations WHERE npi = $1", npiACME); n != 1 {
			t.Errorf("ACME's locations after the increment: %d, want 1", n)
		}

		// A file of another dataset is refused.
		r := nppesLoad(t, s, (*store.Store).LoadNPPESEndpoints, otherSample, nppesSample(t, otherSample), store.LoadInput{})
		if r.err == nil || !strings.Contains(r.err.Error(), otherSample+`: has a "Provider Other Organization Name" column: an othername_pfile (dataset nppes-othernames), not an endpoint_pfile`) ||
			!errs.Is(r.err, errs.CodeInvalid) {
			t.Errorf("othername as endpoints: %v", r.err)
		}
	})
}

func TestLoadNPPESGeocodeCache(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		// The Census geocoder matched Jane's practice address earlier, and
		// failed on Bob's.
		key := geo.AddressKey("123 North Main Street", "Suite #200", "Jacksonville", "FL", "322044736")
		bobKey := geo.AddressKey("55 ELM ST", "", "AUSTIN", "TX", "78701")
		for _, c := range []struct {
			key      string
			lat, lon any
			matched  bool
		}{{key, 30.3301, -81.6557, true}, {bobKey, nil, nil, false}} {
			if _, err := d.SQL.Exec(`INSERT INTO geocode_cache (address_key, lat, lon, matched, match_status, geocoded_at) VALUES ($1, $2, $3, $4, 'Match', $5)`,
				c.key, c.lat, c.lon, c.matched, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		centroids := embeddedCentroids(t)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{Centroids: centroids})
		jane, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		if jane.CoordSource != medsales.CoordCensus || *jane.PracticeLat != 30.3301 || *jane.PracticeLon != -81.6557 {
			t.Errorf("Jane: %v %v %q, want the cached Census coordinates", *jane.PracticeLat, *jane.PracticeLon, jane.CoordSource)
		}
		bob, err := s.Provider(ctx, npiBob)
		if err != nil {
			t.Fatal(err)
		}
		lat, _, _ := centroids.Lookup("78701")
		if bob.CoordSource != medsales.CoordZCTA || *bob.PracticeLat != lat {
			t.Errorf("Bob: %v %q, want the ZIP centroid", *bob.PracticeLat, bob.CoordSource)
		}
		// After Jane moves (weekly increment), her new address has no cache
		// entry: back to the ZIP centroid.
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, nppesSample(t, npiWeekly), store.LoadInput{Mode: store.ModeIncrement, Centroids: centroids})
		jane, err = s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		if jane.CoordSource != medsales.CoordZCTA || *jane.PracticeLat != lat {
			t.Errorf("Jane after moving: %v %q, want the centroid of 78701", *jane.PracticeLat, jane.CoordSource)
		}
	})
}

func TestEnablePostGIS(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		on, err := s.EnablePostGIS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Dialect == db.SQLite {
			if on {
				t.Error("PostGIS on SQLite")
			}
			return
		}
		if !on {
			t.Skip("PostGIS is not installed on this server")
		}
		// A database from before the geometry column has a geography
		// column "geog": the second run drops it.
		if _, err := d.SQL.Exec("ALTER TABLE providers ADD COLUMN geog geography(Point, 4326)"); err != nil {
			t.Fatal(err)
		}
		if on2, err := s.EnablePostGIS(ctx); err != nil || !on2 {
			t.Fatalf("second EnablePostGIS: %v %v", on2, err)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'providers' AND column_name = 'geog'"); n != 0 {
			t.Error("the old geography column is still there")
		}
		centroids := embeddedCentroids(t)
		for range 2 { // the second full load swaps a staging table in: the column and index must survive
			nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{Centroids: centroids})
			nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, nppesSample(t, plSample), store.LoadInput{Centroids: centroids})
		}
		// Jacksonville practice within 30 km of downtown Jacksonville; not
		// New York or Austin. The query is the indexed form EnablePostGIS
		// documents; EXPLAIN shows the GiST index is what finds the rows.
		const nearQuery = `SELECT npi FROM providers
			WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(-81.6557, 30.3322), 4326), $1)
			AND ST_DistanceSphere(geom, ST_SetSRID(ST_MakePoint(-81.6557, 30.3322), 4326)) <= 30000 ORDER BY npi`
		deg := store.RadiusDegrees(30.3322, 30000)
		var plan strings.Builder
		func() {
			tx, err := d.SQL.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.Exec("SET LOCAL enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query("EXPLAIN "+nearQuery, deg)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan.WriteString(line + "\n")
			}
		}()
		if !strings.Contains(plan.String(), "providers_geom") {
			t.Errorf("radius query does not use providers_geom:\n%s", plan.String())
		}
		rows, err := d.SQL.Query(nearQuery, deg)
		if err != nil {
			t.Fatal(err)
		}
		var near []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			near = append(near, n)
		}
		rows.Close()
		if diff := cmp.Diff([]string{npiJane}, near); diff != "" {
			t.Errorf("providers near Jacksonville (-want +got):\n%s", diff)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM practice_locations WHERE geom IS NOT NULL"); n != 2 {
			t.Errorf("located practice_locations = %d, want 2", n)
		}
		for _, ix := range []string{"providers_geom", "practice_locations_geom"} {
			if n := nppesCount(t, d, "SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1 AND indexdef LIKE '%USING gist%'", ix); n != 1 {
				t.Errorf("index %s missing after the swap", ix)
			}
		}
	})
}

// A practice address abroad gets no ZIP centroid and no address key, and
// is never sent to the (U.S.-only) Census geocoder.
func TestLoadNPPESForeignPracticeNotGeocoded(t *testing.T) {
	abroad := bytes.Replace(nppesSample(t, npiCurrent), []byte(`"322044736","US"`), []byte(`"322044736","DE"`), 1)
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, abroad, store.LoadInput{Centroids: embeddedCentroids(t)})
		var key sql.NullString
		var lat sql.NullFloat64
		if err := d.SQL.QueryRow("SELECT address_key, practice_lat FROM providers WHERE npi = $1", npiJane).Scan(&key, &lat); err != nil {
			t.Fatal(err)
		}
		if key.Valid || lat.Valid {
			t.Errorf("practice in DE: address_key %q, lat %v; want both NULL", key.String, lat)
		}
		// A row given a key some other way is skipped by its country too.
		if _, err := d.SQL.Exec("UPDATE providers SET address_key = $1 WHERE npi = $2",
			geo.AddressKey("123 North Main Street", "", "Jacksonville", "FL", "32204"), npiJane); err != nil {
			t.Fatal(err)
		}
		srv := geotest.NewCensusServer(t, geocodeAnswers)
		if _, err := s.GeocodeProviders(ctx, newCensus(t, srv), store.GeocodeOptions{}); err != nil {
			t.Fatal(err)
		}
		got := srv.Received()
		if len(got) == 0 {
			t.Fatal("no address sent: the U.S. ones should be")
		}
		for _, a := range got {
			if strings.Contains(a.Street, "MAIN") {
				t.Errorf("foreign practice address sent to the Census geocoder: %+v", a)
			}
		}
	})
}

// A full file that repeats an NPI fails with one line naming the file and
// the NPI, not the engine's message about a staging index; the live data
// stays.
func TestLoadNPPESDuplicateNPI(t *testing.T) {
	current := nppesSample(t, npiCurrent)
	header, rows, _ := bytes.Cut(current, []byte("\n"))
	lines := strings.SplitAfter(string(rows), "\n")
	// Jane, ACME, Jane again: three rows.
	dup := string(header) + "\n" + lines[0] + lines[1] + strings.TrimSuffix(lines[0], "\n") + "\n"
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiOld, nppesSample(t, npiOld), store.LoadInput{})
		before := snapshot(t, d)
		for _, mode := range []string{store.ModeFull, store.ModeIncrement} {
			const file = "npidata_pfile_20050523-20260810.csv"
			r := nppesLoad(t, s, (*store.Store).LoadNPPES, file, []byte(dup), store.LoadInput{Mode: mode})
			want := file + ": NPI " + npiJane + " occurs more than once: nothing loaded"
			if r.err == nil || r.err.Error() != want || !errs.Is(r.err, errs.CodeInvalid) {
				t.Errorf("%s: %v, want %q", mode, r.err, want)
			}
			if diff := cmp.Diff(before, snapshot(t, d)); diff != "" {
				t.Errorf("%s: the failed load changed the live data (-before +after):\n%s", mode, diff)
			}
			if got := stagingTables(t, d); len(got) != 0 {
				t.Errorf("%s: staging tables left: %v", mode, got)
			}
		}
	})
}

// Every DATE column is written the same way on each engine (NPPES dates by
// the bulk loader, payment dates, release dates by StartVersion) and the
// API encodes them all as "YYYY-MM-DD".
func TestDatesStoredAndServedAlike(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{})
		if got := rawDate(t, d, "SELECT enumeration_date FROM providers WHERE npi = $1", npiJane); got != storedDate(d, "2005-05-23") {
			t.Errorf("stored enumeration_date = %q, want %q", got, storedDate(d, "2005-05-23"))
		}
		pay := opHeader + opRow("1", 2023, npiJane, "Pfizer Inc.", "10", "07/14/2023", 1)
		if _, err := s.LoadOpenPayments(ctx, store.LoadInput{File: "OP_DTL_GNRL_PGYR2023_P01302026.csv", Reader: strings.NewReader(pay)}); err != nil {
			t.Fatal(err)
		}
		if got := rawDate(t, d, "SELECT payment_date FROM open_payments"); got != storedDate(d, "2023-07-14") {
			t.Errorf("stored payment_date = %q, want %q", got, storedDate(d, "2023-07-14"))
		}
		p, err := s.Provider(ctx, npiJane)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"enumerationDate":"2005-05-23"`, `"lastUpdateDate":"2020-07-08"`, `"certificationDate":"2024-01-15"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("provider JSON lacks %s: %s", want, b)
			}
		}
	})
}

// TestEnablePostGISConcurrently checks that processes starting together on
// a fresh database (several tasks running migrate, or serve) all enable
// PostGIS: creating the extension is serialised with the rest, not raced
// into a unique violation on pg_extension that fails the start-up.
func TestEnablePostGISConcurrently(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		const n = 4
		errc := make(chan error, n)
		onc := make(chan bool, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				on, err := store.New(d).EnablePostGIS(context.Background())
				onc <- on
				errc <- err
			}()
		}
		close(start)
		ons := 0
		for range n {
			if err := <-errc; err != nil {
				t.Errorf("EnablePostGIS beside %d others: %v", n-1, err)
			}
			if <-onc {
				ons++
			}
		}
		if d.Dialect == db.Postgres && ons != 0 && ons != n {
			t.Errorf("%d of %d start-ups found PostGIS on", ons, n)
		}
	})
}

// TestLoadNPPESZeroDate checks that a date of 01/01/0001 rejects its row,
// on both engines: the loaders write the zero time as NULL (an absent
// date), so Jane was loaded without the enumeration date her row has.
func TestLoadNPPESZeroDate(t *testing.T) {
	content := bytes.Replace(nppesSample(t, npiCurrent), []byte(`"05/23/2005","07/08/2020"`), []byte(`"01/01/0001","07/08/2020"`), 1)
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		s := store.New(d)
		r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, content, store.LoadInput{MaxRejectRatio: 0.5})
		if want := "2,\"Provider Enumeration Date: date \"\"01/01/0001\"\" is out of range\"\n"; r.rejects != want {
			t.Errorf("rejects = %q, want %q", r.rejects, want)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers WHERE npi = $1", npiJane); n != 0 {
			t.Errorf("Jane loaded %d times, want her row rejected", n)
		}
	})
}

// TestLoadNPPESIncrementUpdatedAfterDeactivation: a weekly record that
// NPPES publishes in full (entity type, names, taxonomies) with a Last
// Update Date after its NPI Deactivation Date is the record of an NPI
// active again (NPPES publishes a deactivated NPI with only its NPI and
// date), even when its NPI Reactivation Date is empty: the provider is not
// deactivated, and keeps its secondary practice locations, other names and
// endpoints. The increment counted it deactivated for its deactivation
// date alone and deleted them. A record reactivated since its deactivation
// keeps them too; one deactivated again after its reactivation, and the
// blank record of a deactivated NPI, lose them.
func TestLoadNPPESIncrementUpdatedAfterDeactivation(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := store.New(d)
		monthly := nppesSample(t, npiCurrent)
		recs, err := csv.NewReader(bytes.NewReader(monthly)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		header := recs[0]
		col := func(name string) int {
			for i, h := range header {
				if h == name {
					return i
				}
			}
			t.Fatalf("no column %q in %s", name, npiCurrent)
			return -1
		}
		var acme []string
		for _, r := range recs[1:] {
			if r[0] == npiACME {
				acme = r
			}
		}
		if acme == nil {
			t.Fatal("the sample file changed: ACME's row not found")
		}
		deact, update, react := col("NPI Deactivation Date"), col("Last Update Date"), col("NPI Reactivation Date")
		tests := []struct {
			name                string
			deact, update, reac string
			deactivated         bool
		}{
			{name: "updated after its deactivation, no reactivation date", deact: "03/01/2026", update: "08/05/2026"},
			{name: "reactivated after its deactivation", deact: "03/01/2026", update: "08/05/2026", reac: "04/01/2026"},
			{name: "deactivated again after its reactivation and last update", deact: "08/01/2026", update: "07/15/2026", reac: "04/01/2026", deactivated: true},
			{name: "deactivated after its last update", deact: "08/01/2026", update: "03/04/2025", deactivated: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, monthly, store.LoadInput{})
				nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, nppesSample(t, plSample), store.LoadInput{})
				nppesMustLoad(t, s, (*store.Store).LoadNPPESOtherNames, otherSample, nppesSample(t, otherSample), store.LoadInput{})
				nppesMustLoad(t, s, (*store.Store).LoadNPPESEndpoints, endpointFile, nppesSample(t, endpointFile), store.LoadInput{})
				row := append([]string(nil), acme...)
				row[deact], row[update], row[react] = tt.deact, tt.update, tt.reac
				var weekly bytes.Buffer
				w := csv.NewWriter(&weekly)
				w.Write(header)
				w.Write(row)
				w.Flush()
				r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, weekly.Bytes(), store.LoadInput{Mode: store.ModeIncrement})
				if r.res.Loaded != 1 {
					t.Fatalf("the increment loaded %+v, want ACME's record", r.res)
				}
				p, err := s.Provider(ctx, npiACME)
				if err != nil {
					t.Fatal(err)
				}
				companions := [3]int{
					nppesCount(t, d, "SELECT COUNT(*) FROM practice_locations WHERE npi = $1", npiACME),
					nppesCount(t, d, "SELECT COUNT(*) FROM provider_other_names WHERE npi = $1", npiACME),
					nppesCount(t, d, "SELECT COUNT(*) FROM provider_endpoints WHERE npi = $1", npiACME),
				}
				want := [3]int{1, 2, 1} // as the companion files list them
				if tt.deactivated {
					want = [3]int{}
				}
				if p.Deactivated() != tt.deactivated || companions != want {
					t.Errorf("ACME deactivated %v with %v locations, other names, endpoints; want deactivated %v with %v",
						p.Deactivated(), companions, tt.deactivated, want)
				}
			})
		}
	})
}
