package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// TestWeeklyBackdatedDeactivationApplies: NPPES publishes a deactivation
// with its effective date, which may be earlier than the provider's last
// update (a deactivation back-dated, published weeks later). A weekly file
// newer than every release loaded applies it: the provider is deactivated
// and loses its secondary practice locations. It was left out as "older"
// than the loaded record, and the provider stayed active (QA). The same
// file loaded after a newer release is judged by its records' dates, as
// before: its deactivation, older than the record loaded then, is left
// out.
func TestWeeklyBackdatedDeactivationApplies(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		for _, r := range []ingest.Request{
			{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)},
			{Dataset: medsales.NPPESLocations, Source: sample(t, e.dir, plFile, 0)},
		} {
			if _, err := e.svc.Run(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Two providers with a secondary practice location and a last update.
		type provider struct {
			npi     string
			updated time.Time
		}
		var ps []provider
		rows, err := e.d.SQL.QueryContext(ctx, `SELECT p.npi, p.last_update_date FROM providers p
			WHERE p.deactivation_date IS NULL AND p.last_update_date IS NOT NULL
			  AND EXISTS (SELECT 1 FROM practice_locations l WHERE l.npi = p.npi)
			ORDER BY p.npi LIMIT 2`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p provider
			if err := rows.Scan(&p.npi, &p.updated); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		rows.Close()
		if len(ps) != 2 {
			t.Fatalf("set-up: %d providers with a location, want 2", len(ps))
		}
		header, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", npiFile))
		if err != nil {
			t.Fatal(err)
		}
		cols := strings.Split(strings.TrimRight(strings.SplitN(string(header), "\n", 2)[0], "\r"), ",")
		// A weekly file that deactivates p five days before its last update.
		weekly := func(p provider) []byte {
			row := make([]string, len(cols))
			for i, c := range cols {
				switch c {
				case `"NPI"`:
					row[i] = `"` + p.npi + `"`
				case `"NPI Deactivation Date"`:
					row[i] = `"` + p.updated.AddDate(0, 0, -5).Format("01/02/2006") + `"`
				default:
					row[i] = `""`
				}
			}
			return []byte(strings.Join(cols, ",") + "\n" + strings.Join(row, ",") + "\n")
		}
		state := func(p provider) (bool, int) {
			t.Helper()
			got, err := e.st.Provider(ctx, p.npi)
			if err != nil {
				t.Fatal(err)
			}
			return got.Deactivated(), count(t, e.d, `SELECT COUNT(*) FROM practice_locations WHERE npi = $1`, p.npi)
		}

		// Out of order: a weekly file of the week before the monthly file
		// loaded. Its deactivation is older than the record loaded: left
		// out.
		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES,
			Source: write(t, e.dir, "npidata_pfile_20260803-20260809.csv", weekly(ps[0]))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if off, n := state(ps[0]); off || n == 0 || res.Stale != 1 {
			t.Fatalf("an older weekly file: deactivated %v, %d locations, %d stale; want active, its locations, 1 stale", off, n, res.Stale)
		}

		// In order: the week after the monthly file. It applies.
		res, err = e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES,
			Source: write(t, e.dir, "npidata_pfile_20260811-20260817.csv", weekly(ps[1]))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if off, n := state(ps[1]); !off || n != 0 || res.Stale != 0 {
			t.Fatalf("the next weekly file: deactivated %v, %d locations, %d stale; want deactivated, no locations, none stale", off, n, res.Stale)
		}
	})
}
