// Command apiload measures the adherence API's read latency under a fixed
// request rate: GET /v1/patients/{id} and GET /v1/plans/{id}?include=doses,
// alternating, open loop (requests are sent on schedule whether or not
// earlier ones finished, so queueing shows up in the percentiles).
//
// The server runs in this process on a real loopback listener with the
// production wiring of the API (authentication, audit of every read,
// telemetry middleware) against the database given:
//
//	createdb apiload
//	go run ./bench/apiload --database-url postgres://postgres@127.0.0.1:5432/apiload --rate 500 --duration 30s
//	go run ./bench/apiload --database-url sqlite:/tmp/apiload.db
//
// The database must be empty or hold only a previous apiload run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/medplatform/medplatform/bench/internal/adherenceapi"
	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/phi"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiload:", err)
		os.Exit(1)
	}
}

func run() error {
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "database to run against")
	rate := flag.Int("rate", 500, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send load")
	patients := flag.Int("patients", 1000, "patients (each with one plan) to read")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the load phase to this file")
	flag.Parse()
	if *dbURL == "" {
		return fmt.Errorf("--database-url is required")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, *dbURL, db.Options{MaxConns: 40})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := migrate.Up(ctx, d, audit.Migrations, store.Migrations); err != nil {
		return err
	}
	newID := func() string { return uuid.Must(uuid.NewV7()).String() }
	al := audit.New(d, time.Now, newID)
	st := store.New(d, al, time.Now)
	defer al.StartGroupCommit(256)(context.Background()) // as `adherence serve` does

	plain, keyID, hash, err := auth.NewAPIKey()
	if err != nil {
		return err
	}
	org, err := st.Bootstrap(ctx, "apiload "+newID(), adherence.APIKey{ID: keyID, Role: "admin", Hash: hash, CreatedAt: time.Now(), CreatedBy: "bench"})
	if err != nil {
		return err
	}
	actor := adherence.Actor{ID: keyID, Role: "admin", OrgID: org.ID}
	var paths []string
	seedStart := time.Now()
	for i := 0; i < *patients; i++ {
		p := adherence.Patient{OrgID: org.ID, GivenName: phi.New(fmt.Sprintf("Load%d", i)), TimeZone: "America/New_York", Language: "en", Anchors: schedule.DefaultAnchors()}
		if err := st.CreatePatient(ctx, actor, &p); err != nil {
			return err
		}
		plan := adherence.Plan{OrgID: org.ID, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
			Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"08:00:00", "13:00:00", "20:00:00"}}}, Status: adherence.PlanActive, StartAt: time.Now().UTC()}
		if err := st.CreatePlan(ctx, actor, &plan); err != nil {
			return err
		}
		paths = append(paths, "/v1/patients/"+p.ID, "/v1/plans/"+plan.ID+"?include=doses")
	}
	fmt.Printf("seeded %d patients with one plan each in %.1fs (%s)\n", *patients, time.Since(seedStart).Seconds(), d.Dialect)

	logOut := io.Discard
	if p := os.Getenv("APILOAD_LOG"); p != "" {
		if f, err := os.Create(p); err == nil {
			defer f.Close()
			logOut = f
		}
	}
	logger := telemetry.NewLogger(logOut, slog.LevelInfo)
	base, stopAPI, err := adherenceapi.Start(d, st, al, logger)
	if err != nil {
		return err
	}
	defer stopAPI()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 0}, Timeout: 10 * time.Second}
	get := func(path string) (time.Duration, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+plain)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
		return time.Since(start), nil
	}
	// Warm up connections and caches.
	for i := 0; i < 200; i++ {
		if _, err := get(paths[i%len(paths)]); err != nil {
			return err
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		wg        sync.WaitGroup
	)
	interval := time.Second / time.Duration(*rate)
	total := int(duration.Seconds() * float64(*rate))
	start := time.Now()
	for i := 0; i < total; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func(path string) {
			defer wg.Done()
			lat, err := get(path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures++
				return
			}
			latencies = append(latencies, lat)
		}(paths[i%len(paths)])
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Printf("engine=%s requests=%d failures=%d achieved_rps=%.0f p50=%s p95=%s p99=%s max=%s\n",
		d.Dialect, len(latencies), failures, float64(len(latencies))/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.95).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	return nil
}
