//go:build unix

package ingest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestRunStoppedByAnotherLoad: a PostgreSQL load whose session holding the
// dataset's lock ended (here terminated, as idle_session_timeout or an
// operator's pg_terminate_backend would) while it waited for its source,
// and which another load of the dataset then replaced, fails telling the
// operator that: it printed the step's internal error instead ("could not
// open relation with OID …", or the terminated connection's), while its
// history row said "interrupted". The other load's data stays served.
func TestRunStoppedByAnotherLoad(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		if e.d.Dialect != db.Postgres {
			t.Skip("a SQLite load's lock (a file lock) ends only with its process")
		}
		ctx := context.Background()
		b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", partDFile))
		if err != nil {
			t.Fatal(err)
		}
		// The header and the four good rows of the sample (its fifth is
		// malformed).
		lines := strings.SplitAfter(string(b), "\n")[:5]
		head, rest := strings.Join(lines[:2], ""), strings.Join(lines[2:], "")

		// The stopped load reads its header and first row from a pipe,
		// then waits until release.
		const name = "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"
		p := fifo(t, t.TempDir(), name)
		release := make(chan struct{})
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = f.WriteString(head)
			<-release
			_, _ = f.WriteString(rest)
		}()
		defer func() { <-wrote }()
		var released bool
		defer func() {
			if !released {
				close(release)
			}
		}()
		done := make(chan error, 1)
		go func() {
			_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: p}, nil)
			done <- err
		}()
		waitFor(t, 30*time.Second, func() bool {
			return count(t, e.d, "SELECT COUNT(*) FROM dataset_versions WHERE status = 'running'") == 1
		})
		// It copies into its staging table once it has read the first row.
		waitFor(t, 30*time.Second, func() bool {
			return count(t, e.d, `SELECT COUNT(*) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'COPY partd_drugs__stg_%'`) > 0
		})
		stopped := count(t, e.d, "SELECT MIN(id) FROM dataset_versions WHERE status = 'running'")

		// Every session of this database holding an advisory lock (the
		// dataset's lock, the staging tables' lock) ends.
		if _, err := e.d.SQL.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
			t.Fatal(err)
		}
		other := sample(t, t.TempDir(), partDFile, len(lines))
		waitFor(t, 30*time.Second, func() bool {
			_, err = e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: other}, nil)
			return !errors.Is(err, store.ErrLoadRunning)
		})
		if err != nil {
			t.Fatalf("the other load: %v", err)
		}
		served := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs")
		if served != len(lines)-1 {
			t.Fatalf("%d Part D rows served after the other load, want its %d", served, len(lines)-1)
		}

		close(release)
		released = true
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the stopped load did not end 30 s after its source was released")
		}
		var se *store.StoppedError
		if !errors.As(err, &se) || se.ID != int64(stopped) || se.Reason != store.InterruptedReason {
			t.Fatalf("stopped load = %v, want a StoppedError of load %d with the reason the other load recorded", err, stopped)
		}
		if !strings.Contains(err.Error(), "another load of the dataset") {
			t.Errorf("stopped load's error = %q, want it to say another load stopped it", err)
		}
		hist, err := e.st.Versions(ctx, medsales.PartD, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Status != store.StatusSucceeded || hist[1].ID != int64(stopped) ||
			hist[1].Status != store.StatusFailed || hist[1].Error != store.InterruptedReason {
			t.Errorf("history = %+v, want the other load succeeded after the stopped one, failed %q", hist, store.InterruptedReason)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs"); n != served {
			t.Errorf("%d Part D rows served after the stopped load ended, want the other load's %d", n, served)
		}
	})
}
