package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/medplatform/medplatform/internal/platform/db"
)

func main() {
	url := flag.String("url", "postgres://postgres@127.0.0.1:5432/dosegen_exp", "")
	n := flag.Int("n", 250000, "")
	chunk := flag.Int("chunk", 2000, "")
	workers := flag.Int("workers", 1, "")
	mode := flag.String("mode", "unnest", "")
	nofk := flag.Bool("nofk", false, "")
	flag.Parse()
	ctx := context.Background()
	d, err := db.Open(ctx, *url, db.Options{})
	must(err)
	schema, _ := os.ReadFile("internal/adherence/store/migrations/postgres/00001_init.sql")
	s := string(schema)
	s = s[strings.Index(s, "-- +goose Up"):strings.Index(s, "-- +goose Down")]
	_, err = d.SQL.ExecContext(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
	must(err)
	_, err = d.SQL.ExecContext(ctx, s)
	must(err)
	if *nofk {
		_, err = d.SQL.ExecContext(ctx, "ALTER TABLE dose_instances DROP CONSTRAINT dose_instances_org_id_patient_id_plan_id_fkey")
		must(err)
	}
	org := uuid.NewString()
	now := time.Now().UTC()
	_, err = d.SQL.ExecContext(ctx, "INSERT INTO orgs VALUES ($1,'x',$2)", org, now)
	must(err)
	type pl struct{ id, pat string }
	plans := make([]pl, *n)
	conn, err := d.Pool.Acquire(ctx)
	must(err)
	var prow, plrow [][]any
	for i := range plans {
		plans[i] = pl{uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()}
		prow = append(prow, []any{plans[i].pat, org, "g", "America/New_York", "07:00", "07:30", "12:00", "18:00", "22:00", now, now})
		plrow = append(plrow, []any{plans[i].id, org, plans[i].pat, "1", "d", `{}`, "active", now, now, now})
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"patients"}, []string{"id", "org_id", "given_name", "time_zone", "wake", "breakfast", "lunch", "dinner", "bed", "created_at", "updated_at"}, pgx.CopyFromRows(prow))
	must(err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"plans"}, []string{"id", "org_id", "patient_id", "rxnorm", "rxnorm_display", "timing", "status", "start_at", "created_at", "updated_at"}, pgx.CopyFromRows(plrow))
	must(err)
	conn.Release()
	_, err = d.SQL.ExecContext(ctx, "ANALYZE")
	must(err)
	fmt.Println("seeded")
	start := time.Now()
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	total := 0
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += *chunk
				mu.Unlock()
				if lo >= len(plans) {
					return
				}
				hi := min(lo+*chunk, len(plans))
				var orgs, pats, pls, locs []string
				var seqs []int32
				var dues []time.Time
				base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
				for _, p := range plans[lo:hi] {
					for k := 0; k < 42; k++ {
						orgs = append(orgs, org)
						pats = append(pats, p.pat)
						pls = append(pls, p.id)
						seqs = append(seqs, int32(k+1))
						t := base.Add(time.Duration(k/3)*24*time.Hour + time.Duration(k%3)*5*time.Hour)
						dues = append(dues, t)
						locs = append(locs, t.Format("2006-01-02T15:04"))
					}
				}
				err := d.InTx(ctx, func(tx *db.Tx) error {
					switch *mode {
					case "unnest":
						r, err := tx.ExecContext(ctx, `INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
SELECT o, pa, pl, s, du, lt, 'scheduled', $7 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[], $6::text[]) AS u(o, pa, pl, s, du, lt)
ON CONFLICT (plan_id, due_at) DO UPDATE SET status = 'scheduled', seq = EXCLUDED.seq, local_time = EXCLUDED.local_time
WHERE dose_instances.status IN ('scheduled','excluded') AND (dose_instances.status <> 'scheduled' OR dose_instances.seq <> EXCLUDED.seq OR dose_instances.local_time <> EXCLUDED.local_time)`, orgs, pats, pls, seqs, dues, locs, now)
						if err != nil {
							return err
						}
						c, _ := r.RowsAffected()
						mu.Lock()
						total += int(c)
						mu.Unlock()
					case "plain":
						r, err := tx.ExecContext(ctx, `INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
SELECT o, pa, pl, s, du, lt, 'scheduled', $7 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[], $6::text[]) AS u(o, pa, pl, s, du, lt)`, orgs, pats, pls, seqs, dues, locs, now)
						if err != nil {
							return err
						}
						c, _ := r.RowsAffected()
						mu.Lock()
						total += int(c)
						mu.Unlock()
					case "copy":
						// staging via the same pgx conn underlying
						err := tx.Conn.Raw(func(dc any) error {
							pc := dc.(interface{ Conn() *pgx.Conn }).Conn()
							if _, err := pc.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS dose_stage (org_id uuid, patient_id uuid, plan_id uuid, seq int, due_at timestamptz, local_time text) ON COMMIT DELETE ROWS`); err != nil {
								return err
							}
							i := 0
							_, err := pc.CopyFrom(ctx, pgx.Identifier{"dose_stage"}, []string{"org_id", "patient_id", "plan_id", "seq", "due_at", "local_time"}, pgx.CopyFromFunc(func() ([]any, error) {
								if i >= len(orgs) {
									return nil, nil
								}
								i++
								return []any{orgs[i-1], pats[i-1], pls[i-1], seqs[i-1], dues[i-1], locs[i-1]}, nil
							}))
							return err
						})
						if err != nil {
							return err
						}
						r, err := tx.ExecContext(ctx, `INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
SELECT org_id, patient_id, plan_id, seq, due_at, local_time, 'scheduled', $1 FROM dose_stage
ON CONFLICT (plan_id, due_at) DO UPDATE SET status = 'scheduled', seq = EXCLUDED.seq, local_time = EXCLUDED.local_time
WHERE dose_instances.status IN ('scheduled','excluded') AND (dose_instances.status <> 'scheduled' OR dose_instances.seq <> EXCLUDED.seq OR dose_instances.local_time <> EXCLUDED.local_time)`, now)
						if err != nil {
							return err
						}
						c, _ := r.RowsAffected()
						mu.Lock()
						total += int(c)
						mu.Unlock()
					}
					return nil
				})
				must(err)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("mode=%s workers=%d chunk=%d nofk=%v rows=%d elapsed=%.1fs rate=%.0f/s\n", *mode, *workers, *chunk, *nofk, total, el.Seconds(), float64(total)/el.Seconds())
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
