package store_test

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// overlong returns n pseudo-random capital letters: a value PostgreSQL
// cannot compress into an index entry.
func overlong(n int) string {
	rnd := rand.New(rand.NewSource(1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + rnd.Intn(26))
	}
	return string(b)
}

// TestLoadRejectsOverlongIndexedValues: a value of an indexed column longer
// than an index entry holds (a last name, a practice street, a generic drug
// name, a Record_ID of 3,000 characters) rejects its row with its line and
// the column, on both engines, and the rest loads. PostgreSQL failed the
// whole load while building the index ("index row size … exceeds btree
// version 4 maximum 2704"), where SQLite loaded the row.
func TestLoadRejectsOverlongIndexedValues(t *testing.T) {
	long := overlong(3000)
	current := nppesSample(t, npiCurrent)
	header, rows, _ := bytes.Cut(current, []byte("\n"))
	lines := strings.SplitAfter(string(rows), "\n")
	// Bob, line 5: a last name of 3,000 characters.
	lines[3] = strings.Replace(lines[3], `"O'BRIEN"`, `"`+long+`"`, 1)
	npidata := string(header) + "\n" + strings.Join(lines, "")

	pl := string(nppesSample(t, plSample))
	plHeader, plRows, _ := strings.Cut(pl, "\n")
	plLines := strings.SplitAfter(plRows, "\n")
	// Line 3: a street of 3,000 characters (its address key is as long).
	plLines[1] = strings.Replace(plLines[1], `"300 RIVER RD"`, `"300 `+long+`"`, 1)
	locations := plHeader + "\n" + strings.Join(plLines, "")

	partD := partDHeader + partDRow(npiA, "Lipitor", 20) + partDRow(npiA, long, 30)
	payments := opHeader +
		opRow("800000001", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1) +
		opRow(long, 2024, npiA, "Pfizer Inc.", "20", "01/02/2024", 1)

	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		s := store.New(d)
		lenient := store.LoadInput{MaxRejectRatio: 0.5}

		r := nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, []byte(npidata), lenient)
		if r.res.Rejected != 1 || !strings.HasPrefix(r.rejects, "5,\"Provider Last Name (Legal Name) is 3000 bytes long") {
			t.Errorf("npidata: %+v, rejects %q", r.res, r.rejects)
		}
		if n := nppesCount(t, d, "SELECT COUNT(*) FROM providers WHERE npi = $1", npiBob); n != 0 {
			t.Errorf("the overlong provider was loaded")
		}

		r = nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, []byte(locations), lenient)
		if r.res.Rejected != 1 || !strings.HasPrefix(r.rejects, "3,\"practice address is ") {
			t.Errorf("pl_pfile: %+v, rejects %q", r.res, r.rejects)
		}

		cr := mustLoad(t, s, (*store.Store).LoadPartD, "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", []byte(partD), lenient)
		if cr.res.Loaded != 1 || cr.res.Rejected != 1 || !strings.HasPrefix(cr.rejects, "3,\"Gnrc_Name is 3000 bytes long") {
			t.Errorf("Part D: %+v, rejects %q", cr.res, cr.rejects)
		}

		cr = mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026.csv", []byte(payments), lenient)
		if cr.res.Loaded != 1 || cr.res.Rejected != 1 || !strings.HasPrefix(cr.rejects, "3,\"Record_ID is 3000 bytes long") {
			t.Errorf("Open Payments: %+v, rejects %q", cr.res, cr.rejects)
		}
	})
}

// TestOverlongValueRejectNamesTheFilesColumn: the reject reason for an
// overlong indexed value names the column as the file's header writes it
// (a Part D header in lower case, the pl_pfile's other spelling of its
// address columns, the Open Payments column in another case), on both
// engines; it named the loader's current name, which the file does not
// have.
func TestOverlongValueRejectNamesTheFilesColumn(t *testing.T) {
	long := overlong(3000)
	partD := strings.ToLower(partDHeader) + partDRow(npiA, "Lipitor", 20) + partDRow(npiA, "Zestril", 20) + partDRow(npiA, long, 30)
	payments := strings.Replace(opHeader, "Record_ID", "RECORD_ID", 1) +
		opRow("800000001", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1) +
		opRow("800000002", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1) +
		opRow(long, 2024, npiA, "Pfizer Inc.", "20", "01/02/2024", 1)
	pl := string(nppesSample(t, plSample))
	const canonical, older = "Provider Secondary Practice Location Address - City Name", "Provider Secondary Practice Location Address- City Name"
	if !strings.Contains(pl, canonical) {
		t.Fatalf("%s has no column %q", plSample, canonical)
	}
	pl = strings.Replace(pl, canonical, older, 1)
	pl = strings.Replace(pl, `"ORANGE PARK"`, `"`+long+`"`, 1)

	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		s := store.New(d)
		lenient := store.LoadInput{MaxRejectRatio: 0.5}
		cr := mustLoad(t, s, (*store.Store).LoadPartD, "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", []byte(partD), lenient)
		if cr.res.Rejected != 1 || !strings.HasPrefix(cr.rejects, "4,\"gnrc_name is 3000 bytes long") {
			t.Errorf("Part D: %+v, rejects %q", cr.res, cr.rejects)
		}
		cr = mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026.csv", []byte(payments), lenient)
		if cr.res.Rejected != 1 || !strings.HasPrefix(cr.rejects, "4,\"RECORD_ID is 3000 bytes long") {
			t.Errorf("Open Payments: %+v, rejects %q", cr.res, cr.rejects)
		}
		r := nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, []byte(pl), lenient)
		if r.res.Rejected != 1 || !strings.HasPrefix(r.rejects, "3,\""+older+" is 3000 bytes long") {
			t.Errorf("pl_pfile: %+v, rejects %q", r.res, r.rejects)
		}
	})
}
