package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TestSnapshotSpansSwap: a profile read that has begun keeps reading the
// version it started on when a load of another of its tables swaps in
// meanwhile. On PostgreSQL the swap drops the live table and renames a
// staging table into its place (or attaches a new partition); a
// repeatable-read snapshot taken before that read the new table as empty
// (its rows were written after the
// snapshot), or, for a table written with COPY FREEZE, as the new
// version: the profile mixed the Part B lines of the new load with the
// rest of the old state.
func TestSnapshotSpansSwap(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustLoad(t, s, (*store.Store).LoadPartB, partBSample, sampleFile(t, partBSample), lenient)
		mustLoad(t, s, (*store.Store).LoadPartD, partDSample, sampleFile(t, partDSample), lenient)
		want, err := s.TopServices(ctx, npiA, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatal("no Part B lines loaded")
		}
		// The reload drops one of npiA's lines.
		lines := bytes.SplitAfter(sampleFile(t, partBSample), []byte("\n"))
		reload := bytes.Join(append(lines[:1:1], lines[2:]...), nil)
		loaded := make(chan error, 1)
		err = s.Snapshot(ctx, func(st *store.Store) error {
			// The read has begun (the snapshot is taken) when a reload of
			// the Part B year swaps in.
			if _, err := st.TopDrugs(ctx, npiA, 0); err != nil {
				return err
			}
			go func() {
				in := lenient
				in.File, in.Reader, in.Rejects = partBSample, bytes.NewReader(reload), &bytes.Buffer{}
				_, err := s.LoadPartB(ctx, in)
				loaded <- err
			}()
			select {
			case err := <-loaded:
				loaded <- err // the swap committed while the read ran
			case <-time.After(3 * time.Second): // the swap waits for the read
			}
			got, err := st.TopServices(ctx, npiA, 0)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("TopServices inside a snapshot that a swap crossed (-want +got):\n%s", diff)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-loaded; err != nil {
			t.Fatalf("reload Part B: %v", err)
		}
		got, err := s.TopServices(ctx, npiA, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want)-1 {
			t.Errorf("TopServices after the reload = %+v, want %d lines", got, len(want)-1)
		}
	})
}
