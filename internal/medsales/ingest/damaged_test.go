package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	mssample "github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/medsales/source"
)

// TestDamagedArchiveWritesNoRejects: an NPPES archive whose stored member
// has bytes flipped in its middle parses rows of garbage before the
// member's checksum, at its end, shows the archive is damaged. The load
// fails saying so and leaves the registry as it was; the rows it rejected
// on the way are no rows of the publisher's file, so no rejects file is
// left or named and the history counts none (QA: 22 "bad quoting" rows
// were listed and counted for a download spoiled in transit). Queued, its
// job is cancelled as bad input.
func TestDamagedArchiveWritesNoRejects(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		var csv bytes.Buffer
		if err := mssample.WriteNPPES(&csv, mssample.Options{Providers: 2000}); err != nil {
			t.Fatal(err)
		}
		const member = "npidata_pfile_20050523-20260810.csv"
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: write(t, e.dir, member, csv.Bytes())}, nil); err != nil {
			t.Fatalf("load of the whole file: %v", err)
		}
		before := count(t, e.d, "SELECT count(*) FROM providers")

		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: member, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(csv.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data := zb.Bytes()
		for i := len(data) / 2; i < len(data)/2+40; i++ {
			data[i] ^= 0x5a
		}
		damaged := write(t, e.dir, "NPPES_Data_Dissemination_August_2026_V2.zip", data)

		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: damaged}, nil)
		if !errors.Is(err, source.ErrDamaged) || !strings.Contains(err.Error(), "download it again") {
			t.Fatalf("load of the damaged archive: %v, want an error saying it is damaged", err)
		}
		if res.RejectsFile != "" {
			t.Errorf("result names rejects file %s", res.RejectsFile)
		}
		if left, _ := filepath.Glob(filepath.Join(e.svc.RejectsDir, "*")); len(left) > 0 {
			b, _ := os.ReadFile(left[0])
			t.Errorf("rejects files left: %v (%q)", left, b)
		}
		hist, err := e.st.Versions(ctx, medsales.NPPES, 1)
		if err != nil || len(hist) != 1 || hist[0].Status != "failed" || hist[0].RowsRejected != 0 || !strings.Contains(hist[0].Error, "damaged") {
			t.Errorf("history %+v (%v): want the damaged load failed with 0 rows rejected", hist, err)
		}
		if after := count(t, e.d, "SELECT count(*) FROM providers"); after != before {
			t.Errorf("providers: %d after the failed load, %d before", after, before)
		}
		// Queued, the load is bad input another attempt would meet again:
		// its job is cancelled, as a truncated archive's is, not
		// discarded as a failure of the worker (QA).
		worker := &ingest.Worker{Service: e.svc, Logger: e.svc.Logger}
		werr := worker.Work(ctx, &river.Job[ingest.JobArgs]{
			JobRow: &rivertype.JobRow{ID: 1, Kind: ingest.JobArgs{}.Kind()},
			Args:   ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NPPES, Source: damaged}},
		})
		var cancelled *river.JobCancelError
		if !errors.As(werr, &cancelled) {
			t.Errorf("Work on the damaged archive = %v, want the job cancelled", werr)
		}
	})
}
