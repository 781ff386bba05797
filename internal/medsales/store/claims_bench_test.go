package store_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// benchPartDRows is how many rows BenchmarkLoadPartD loads per iteration;
// MEDSALES_BENCH_PARTD_ROWS overrides it (to check that memory stays flat
// on larger files).
func benchPartDRows(b *testing.B) int {
	if v := os.Getenv("MEDSALES_BENCH_PARTD_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("MEDSALES_BENCH_PARTD_ROWS=%q is not a positive number", v)
		}
		return n
	}
	return 200_000
}

// partDFile generates a Part D file of rows rows in the current 22-column
// layout: NPIs in ascending order with 20 drug lines each (as CMS sorts
// the file), 2,000 distinct drugs, a third of the beneficiary counts and
// GE65 figures suppressed.
func partDFile(rows int) []byte {
	b := make([]byte, 0, rows*170)
	b = append(b, partDHeader...)
	for i := 0; i < rows; i++ {
		base := strconv.Itoa(100_000_000 + i/20)
		npi := base + string(dataset.NPICheckDigit(base))
		drug := strconv.Itoa((i*7919 + i/20) % 2000)
		claims := int64(11 + i%500)
		b = append(b, npi...)
		b = append(b, ",Smith-Jones,Alexandra,Springfield,IL,17,Internal Medicine,S,Brand "...)
		b = append(b, drug...)
		b = append(b, ",Generic Name Hydrochloride "...)
		b = append(b, drug...)
		b = append(b, ',')
		b = strconv.AppendInt(b, claims, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, claims+claims/3, 10)
		b = append(b, ".5,"...)
		b = strconv.AppendInt(b, claims*30, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, claims*1234, 10)
		b = append(b, ".56,"...)
		if i%3 == 0 {
			b = append(b, ",*,,,,,*,\n"...)
			continue
		}
		b = strconv.AppendInt(b, 11+claims/4, 10)
		b = append(b, ",,"...)
		b = strconv.AppendInt(b, claims/2, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, claims/2, 10)
		b = append(b, ".25,"...)
		b = strconv.AppendInt(b, claims*617, 10)
		b = append(b, ".78,"...)
		b = strconv.AppendInt(b, claims*15, 10)
		b = append(b, ",,"...)
		b = strconv.AppendInt(b, 11+claims/8, 10)
		b = append(b, '\n')
	}
	return b
}

// BenchmarkLoadPartD loads a generated Part D file (200,000 rows unless
// MEDSALES_BENCH_PARTD_ROWS says otherwise) from memory, replacing data
// year 2024, and reports rows/s including the swap. The PostgreSQL half
// needs TEST_DATABASE_URL:
//
//	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//	  go test ./internal/medsales/store -run '^$' -bench LoadPartD -benchtime 3x
func BenchmarkLoadPartD(b *testing.B) {
	rows := benchPartDRows(b)
	data := partDFile(rows)
	for _, engine := range []struct {
		name string
		open func(testing.TB) *db.DB
	}{
		{"postgres", func(tb testing.TB) *db.DB { return dbtest.Postgres(tb, claimsSets...) }},
		{"sqlite", func(tb testing.TB) *db.DB { return dbtest.SQLite(tb, claimsSets...) }},
	} {
		b.Run(engine.name, func(b *testing.B) {
			s := store.New(engine.open(b))
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := s.LoadPartD(ctx, store.LoadInput{
					File:   "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv",
					Reader: bytes.NewReader(data),
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Loaded != int64(rows) || res.Rejected != 0 {
					b.Fatalf("loaded %d, rejected %d; want %d, 0", res.Loaded, res.Rejected, rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
