package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TestRunRefusesAFileOfFewerThanHalfTheRows: a whole file with fewer than
// half the rows of the load served now is refused, the served data left
// as it was, and the failure recorded with its reason, unless the request
// allows it. QA replaced the 48 NUCC codes served by the 21 of a download
// cut short without a Content-Length, which read as a whole file.
func TestRunRefusesAFileOfFewerThanHalfTheRows(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		codes := func() int {
			var n int
			if err := e.d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM nucc_taxonomy`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		load := func(lines int, allow bool) error {
			// The sample's records: line 2, lines 3-4, line 5.
			_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, AllowShrink: allow,
				Source: sample(t, e.dir, "nucc_taxonomy_sample.csv", lines)}, nil)
			return err
		}
		if err := load(4, false); err != nil { // 2 codes
			t.Fatal(err)
		}
		// Half of them is not fewer than half: loaded.
		if err := load(2, false); err != nil { // 1 code
			t.Fatalf("1 code replacing 2: %v", err)
		}
		if err := load(5, false); err != nil { // 3 codes
			t.Fatal(err)
		}
		if n := codes(); n != 3 {
			t.Fatalf("%d codes served, want 3", n)
		}

		err := load(2, false) // 1 code
		if !errors.Is(err, ingest.ErrShrink) || !strings.Contains(err.Error(), "1 rows loaded would replace the 3 of load") {
			t.Fatalf("1 code replacing 3: %v, want ErrShrink with the figures", err)
		}
		if n := codes(); n != 3 {
			t.Errorf("%d codes served after the refused load, want the 3 served before", n)
		}
		vs, err := e.st.Versions(ctx, medsales.NUCC, 1)
		if err != nil || len(vs) != 1 {
			t.Fatalf("versions: %v %v", vs, err)
		}
		if vs[0].Status != store.StatusFailed || !strings.Contains(vs[0].Error, "--allow-shrink") {
			t.Errorf("the refused load is recorded as %s, %q; want failed, saying how to load it anyway", vs[0].Status, vs[0].Error)
		}

		if err := load(2, true); err != nil {
			t.Fatalf("allowed: %v", err)
		}
		if n := codes(); n != 1 {
			t.Errorf("%d codes served after the allowed load, want 1", n)
		}
	})
}
