package ingest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// TestRunSkipsSpreadsheetEmptyRows: a NUCC file re-saved by a spreadsheet,
// with rows of empty fields among and after its data, loads with the
// default 1% threshold: the empty rows are skipped, not rejected, and the
// count is in the result, the history (rowsSkipped) and the "ingest
// finished" log line; no rejects file is written. Two such rows in a file
// of two codes were 2 of 4 rows rejected, and the load failed. A failed
// load records the rows it skipped too.
func TestRunSkipsSpreadsheetEmptyRows(t *testing.T) {
	const header = "Code,Grouping,Classification,Specialization,Definition,Notes,Display Name,Section\r\n"
	rows := "207Q00000X,Allopathic & Osteopathic Physicians,Family Medicine,,Family medicine.,,Family Medicine Physician,Individual\r\n" +
		",,,,,,,\r\n" +
		"208D00000X,Allopathic & Osteopathic Physicians,General Practice,,General practice.,,General Practice Physician,Individual\r\n" +
		",,,,,,,\r\n\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"\r\n"
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		file := write(t, e.dir, "nucc_taxonomy_251.csv", []byte(header+rows))
		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, Source: file}, nil)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.Loaded != 2 || res.Rejected != 0 || res.Skipped != 3 || res.RejectsFile != "" {
			t.Errorf("result %+v, want 2 loaded, 0 rejected, 3 skipped and no rejects file", res)
		}
		if !strings.Contains(e.log.String(), `"msg":"ingest finished","dataset":"nucc"`) || !strings.Contains(e.log.String(), `"skipped":3`) {
			t.Errorf("log %s: want the ingest finished line with skipped 3", e.log.String())
		}

		// A bad row among them: the load fails on it (1 of 3 rows), and
		// records the rows it skipped beside the one it rejected.
		bad := write(t, e.dir, "nucc_taxonomy_252.csv", []byte(header+rows+"BAD,x,x,,x,,x,Individual\r\n"))
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, Source: bad}, nil); err == nil || !strings.Contains(err.Error(), "1 of 3 rows rejected") {
			t.Fatalf("Run of a file with a bad row = %v, want it to fail on 1 of 3 rows rejected", err)
		}
		hist, err := e.st.Versions(ctx, medsales.NUCC, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].RowsRejected != 1 || hist[0].RowsSkipped != 3 || hist[1].RowsLoaded != 2 || hist[1].RowsSkipped != 3 {
			t.Errorf("history %+v, want the failed load with 1 rejected and 3 skipped, the first with 2 loaded and 3 skipped", hist)
		}
	})
}
