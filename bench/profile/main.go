// Command profile benchmarks the read side of medsales at national scale:
// GET /v1/providers/{npi} (the provider profile: the NPPES record and its
// related rows, top Part B services, top Part D drugs, Open Payments
// totals), GET /v1/datasets and GET /health, answered by the real binary
// (`medsales serve`, in its own process) from data loaded by the real
// binary (`medsales ingest`), on PostgreSQL and on SQLite.
//
// For each engine it:
//
//  1. loads the files with `medsales ingest` in the documented first-load
//     order (nucc, nppes, nppes-locations, nppes-othernames,
//     nppes-endpoints, then Part B, Part D and Open Payments, oldest year
//     first), printing each load's rows and wall time;
//  2. starts `medsales serve --workers=false` on a free loopback port and
//     waits for /readyz;
//  3. times, for --duration each after --warmup of the same requests
//     (warm: the data has been read once and sits in the page caches), a
//     closed loop of --clients concurrent clients, each sending its next
//     request when the previous answer is read: the profile of a random
//     NPI of the NPPES file (individuals, organizations and deactivated
//     NPIs alike); the profile of a random "heavy" NPI (one with hundreds
//     of claims lines or payments, and the one with --hub-payments
//     payments); the profile of that hub alone; GET /v1/datasets; GET
//     /health. It prints requests/s,
//     p50, p99 and max latency, and the answers that were not 200 (a
//     profile of an NPI the bench loaded must be 200).
//
// The NPPES main file and its companion files (secondary practice
// locations, other names, endpoints) and the NUCC taxonomy come from
// internal/medsales/sample (`medsales sample`: the publishers' exact
// layouts, valid NPIs, real ZIP codes), for --providers records. The
// claims files are written here, for --years data years ending with 2024
// (the sample's), with the publishers' headers and the NPIs of that NPPES
// file's active providers: --partb-rows Part B lines, --partd-rows Part D
// lines and --payment-rows Open Payments records per year, given out to
// providers picked at random until the rows are used up, sorted by NPI as
// CMS sorts them. Nine providers in ten get 1 to 12 rows, one in eleven 13
// to 60, one in a hundred 100 to 599 ("hundreds"); one provider also gets
// --hub-payments payments in the latest program year (a large payment
// recipient). Each drug line is a distinct brand and generic, each Part B
// line a distinct HCPCS code and place of service, each payment a distinct
// Record_ID.
//
// Run it from the repository root (it builds ./cmd/medsales itself, or
// takes --bin; the build is of the working tree, whose commit and
// uncommitted changes it prints). It creates and drops the PostgreSQL
// database bench_profile_pg, or the one --db-name names (the role needs
// CREATEDB), and writes the SQLite database into the working directory;
// the default sizes need about 6 GB of free disk and run in about 15
// minutes on an idle 2-core machine:
//
//	go run ./bench/profile
//	go run ./bench/profile --providers 200000 --partd-rows 300000 --skip-sqlite
//
// Flags: --database-url (the PostgreSQL server, through any database on
// it; default postgres://postgres@127.0.0.1:5432/postgres), --db-name
// (the database created there, loaded and dropped; default
// bench_profile_pg), --providers 1000000, --partb-rows 1000000,
// --partd-rows 1000000, --payment-rows 500000 (each per data year),
// --years 2, --hub-payments 20000, --clients 4, --duration 20s, --warmup
// 5s, --skip-postgres, --skip-sqlite, --bin (a prebuilt medsales binary),
// --dir (working directory for the files, the SQLite database and the
// logs; default a new temporary directory), --keep (keep the files, the
// SQLite database and the PostgreSQL database, to look at query plans
// afterwards), --seed.
//
// Each medsales run's stdout and stderr go to a log file in the working
// directory. The figures depend on the machine and its load: it prints
// the core count and the load average at the start.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/medplatform/medplatform/bench/internal/benchkit"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

// defaultDB is the database this benchmark creates and drops unless
// --db-name names another.
const defaultDB = "bench_profile_pg"

// latestYear is the data year of the sample's claims files, the newest
// year the benchmark writes.
const latestYear = 2024

// config holds the benchmark's flags.
type config struct {
	url, bin, dir, dbName        string
	providers                    int
	partBRows, partDRows, payRow int
	years, hubPayments, clients  int
	duration, warmup             time.Duration
	seed                         int64
	skipPostgres, skipSQLite     bool
	keep                         bool
	adminURL, pgURL              string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "database-url", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL URL to connect to for creating and dropping the --db-name database; not read from $DATABASE_URL on purpose")
	fs.StringVar(&c.dbName, "db-name", defaultDB, "PostgreSQL database to create, load and drop (any database of that name is dropped first)")
	fs.IntVar(&c.providers, "providers", 1_000_000, "records in the generated NPPES main file")
	fs.IntVar(&c.partBRows, "partb-rows", 1_000_000, "Part B service lines per data year")
	fs.IntVar(&c.partDRows, "partd-rows", 1_000_000, "Part D drug lines per data year")
	fs.IntVar(&c.payRow, "payment-rows", 500_000, "Open Payments records per program year, besides the hub's")
	fs.IntVar(&c.years, "years", 2, "data (program) years of each claims dataset, ending with 2024")
	fs.IntVar(&c.hubPayments, "hub-payments", 20_000, "payments of the one large recipient in the latest program year")
	fs.IntVar(&c.clients, "clients", 4, "concurrent clients of the closed loop")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long each timed request mix runs")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "untimed requests of the same mix before each timed run")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the generated files and of the NPIs asked for")
	fs.BoolVar(&c.skipPostgres, "skip-postgres", false, "skip PostgreSQL")
	fs.BoolVar(&c.skipSQLite, "skip-sqlite", false, "skip SQLite")
	fs.StringVar(&c.bin, "bin", "", "medsales binary to run (default: go build ./cmd/medsales into the working directory)")
	fs.StringVar(&c.dir, "dir", "", "working directory for the generated files, the SQLite database and the logs (default: a new temporary directory)")
	fs.BoolVar(&c.keep, "keep", false, "keep the files, the SQLite database and the PostgreSQL database at the end")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch {
	case c.providers < 1 || c.providers > sample.MaxProviders:
		return c, fmt.Errorf("--providers must be from 1 to %d", sample.MaxProviders)
	case c.partBRows < 1 || c.partDRows < 1 || c.payRow < 1 || c.hubPayments < 0:
		return c, errors.New("--partb-rows, --partd-rows and --payment-rows must be at least 1, --hub-payments at least 0")
	case c.years < 1 || c.years > 10:
		return c, errors.New("--years must be from 1 to 10")
	case c.clients < 1 || c.duration <= 0 || c.warmup < 0:
		return c, errors.New("--clients and --duration must be positive, --warmup at least 0")
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return c, errors.New("--database-url must be a postgres:// URL")
	}
	c.adminURL = c.url
	v := *u
	v.Path = "/" + c.dbName
	c.pgURL = v.String()
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cores=%d  load average at start: %s  providers=%d per year: partb=%d partd=%d payments=%d; years=%d hub=%d clients=%d duration=%s\n",
		runtime.NumCPU(), benchkit.LoadAverage(), c.providers, c.partBRows, c.partDRows, c.payRow, c.years, c.hubPayments, c.clients, c.duration)

	dir := c.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-profile-"); err != nil {
			return err
		}
		defer func() {
			if !c.keep {
				os.RemoveAll(dir)
			}
		}()
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if c.keep {
		defer fmt.Fprintf(stdout, "kept the files and the SQLite database in %s, the PostgreSQL database %s\n", dir, c.dbName)
	}

	bin := c.bin
	if bin == "" {
		bin = filepath.Join(dir, "medsales")
		t0 := time.Now()
		root, err := benchkit.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		if err := benchkit.BuildMedsales(ctx, root, bin, stderr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "built ./cmd/medsales in %.1fs from %s\n", time.Since(t0).Seconds(), benchkit.Provenance(ctx, root))
	}

	t0 := time.Now()
	files, err := sample.Write(dir, sample.Options{Providers: c.providers, Seed: c.seed})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated the NPPES files (%d records, %d locations, %d other names, %d endpoints) in %.1fs\n",
		files.Counts.NPPES, files.Counts.Locations, files.Counts.OtherNames, files.Counts.Endpoints, time.Since(t0).Seconds())
	t0 = time.Now()
	all, active, err := readNPIs(files.NPPES)
	if err != nil {
		return err
	}
	claims, err := writeClaims(c, dir, active)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated the claims files in %.1fs: %s; %d heavy NPIs (hundreds of rows), hub %s\n",
		time.Since(t0).Seconds(), claims.summary(), len(claims.heavy), claims.hub)

	loads := []load{{"nucc", files.NUCC}, {"nppes", files.NPPES}, {"nppes-locations", files.Locations},
		{"nppes-othernames", files.OtherNames}, {"nppes-endpoints", files.Endpoints}}
	loads = append(loads, claims.loads...)
	env := productEnv(dir)
	var failures []error
	if !c.skipPostgres {
		if err := benchkit.RecreateDB(ctx, c.adminURL, c.dbName); err != nil {
			return err
		}
		if !c.keep {
			defer func() {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				if derr := benchkit.DropDB(dctx, c.adminURL, c.dbName); derr != nil {
					err = errors.Join(err, fmt.Errorf("drop database %s: %w", c.dbName, derr))
				}
			}()
		}
		if err := engine(ctx, c, stdout, "postgres", bin, dir, append(env, "DATABASE_URL="+c.pgURL), loads, all, claims); err != nil {
			failures = append(failures, fmt.Errorf("postgres: %w", err))
			fmt.Fprintf(stdout, "postgres: FAILED: %v\n", err)
		}
	}
	if !c.skipSQLite {
		dbPath := filepath.Join(dir, "profile.db")
		for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if err := engine(ctx, c, stdout, "sqlite", bin, dir, append(env, "DATABASE_URL=sqlite:"+dbPath), loads, all, claims); err != nil {
			failures = append(failures, fmt.Errorf("sqlite: %w", err))
			fmt.Fprintf(stdout, "sqlite: FAILED: %v\n", err)
		} else {
			fmt.Fprintf(stdout, "    SQLite file: %.0f MiB\n", float64(benchkit.FileSize(dbPath)+benchkit.FileSize(dbPath+"-wal"))/(1<<20))
		}
	}
	return errors.Join(failures...)
}

// load is one `medsales ingest DATASET FILE`.
type load struct{ dataset, file string }

// engine loads the files into one database with the real binary, serves
// them and times the requests.
func engine(ctx context.Context, c config, stdout io.Writer, name, bin, dir string, env []string, loads []load, all []string, cl *claimFiles) error {
	fmt.Fprintf(stdout, "\n%s: loading\n", name)
	for _, l := range loads {
		logPath := filepath.Join(dir, fmt.Sprintf("%s-ingest-%s-%s.log", name, l.dataset, filepath.Base(l.file)))
		elapsed, line, err := ingest(ctx, bin, env, l, logPath)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-17s %-45s %6.1fs  %s\n", l.dataset, filepath.Base(l.file), elapsed.Seconds(), line)
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv, err := startServe(ctx, bin, env, addr, filepath.Join(dir, name+"-serve.log"))
	if err != nil {
		return err
	}
	defer srv.stop()
	base := "http://" + addr
	fmt.Fprintf(stdout, "%s: serving on %s; closed loop, %d clients, %s timed after %s of warm-up each\n", name, addr, c.clients, c.duration, c.warmup)
	heavy := append(slices.Clone(cl.heavy), cl.hub)
	mixes := []struct {
		name string
		path func(r *rand.Rand) string
	}{
		{"GET /v1/providers/{npi} random NPI", func(r *rand.Rand) string { return "/v1/providers/" + all[r.IntN(len(all))] }},
		{"GET /v1/providers/{npi} heavy NPI", func(r *rand.Rand) string { return "/v1/providers/" + heavy[r.IntN(len(heavy))] }},
		{"GET /v1/providers/{npi} the hub", func(*rand.Rand) string { return "/v1/providers/" + cl.hub }},
		{"GET /v1/datasets", func(*rand.Rand) string { return "/v1/datasets" }},
		{"GET /health", func(*rand.Rand) string { return "/health" }},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}, Timeout: time.Minute}
	for i, m := range mixes {
		if c.warmup > 0 {
			closedLoop(ctx, client, base, m.path, c.clients, c.warmup, c.seed+int64(100*i))
		}
		res := closedLoop(ctx, client, base, m.path, c.clients, c.duration, c.seed+int64(100*i+1))
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-36s %s\n", m.name, res)
		if res.failed > 0 {
			err = errors.Join(err, fmt.Errorf("%s: %d answers were not 200 (first: %s)", m.name, res.failed, res.firstFailure))
		}
	}
	return err
}

// loadedLine is the line `medsales ingest` prints on success.
var loadedLine = regexp.MustCompile(`(?m)^\S+: loaded (\d+) rows, rejected (\d+) .*$`)

// ingest runs `medsales ingest --progress log DATASET FILE` with env,
// output to logPath, and returns its wall time and the line it printed.
func ingest(ctx context.Context, bin string, env []string, l load, logPath string) (time.Duration, string, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return 0, "", err
	}
	defer logf.Close()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "ingest", "--progress", "log", l.dataset, l.file)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, logf), logf
	t0 := time.Now()
	err = cmd.Run()
	elapsed := time.Since(t0)
	if err != nil {
		return elapsed, "", fmt.Errorf("medsales ingest %s %s: %w (log: %s)", l.dataset, l.file, err, logPath)
	}
	m := loadedLine.FindStringSubmatch(out.String())
	if m == nil {
		return elapsed, "", fmt.Errorf("medsales ingest %s printed no loaded line: %q", l.dataset, out.String())
	}
	if m[2] != "0" {
		return elapsed, "", fmt.Errorf("medsales ingest %s rejected rows: %s", l.dataset, m[0])
	}
	rows, _ := strconv.ParseFloat(m[1], 64)
	return elapsed, fmt.Sprintf("%s rows, %.0f rows/s", m[1], rows/elapsed.Seconds()), nil
}

// server is a running `medsales serve`.
type server struct {
	cmd  *exec.Cmd
	done chan error
	logf *os.File
}

// startServe starts `medsales serve --workers=false` on addr and waits
// until /readyz answers 200.
func startServe(ctx context.Context, bin string, env []string, addr, logPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--workers=false", "--addr", addr)
	cmd.Env = append(env, "SHUTDOWN_DRAIN=0s")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("medsales serve: %w", err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), logf: logf}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			s.stop()
			return nil, fmt.Errorf("medsales serve exited before it was ready: %v (log: %s)", err, logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("medsales serve not ready after 2 minutes (log: %s)", logPath)
		}
	}
}

// stop sends SIGTERM and waits for the process, killing it after 30 s.
func (s *server) stop() {
	defer s.logf.Close()
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// loopResult is what one closed loop measured.
type loopResult struct {
	latencies    []time.Duration
	elapsed      time.Duration
	failed       int
	firstFailure string
}

func (r loopResult) String() string {
	n := len(r.latencies)
	if n == 0 {
		return "no requests"
	}
	slices.Sort(r.latencies)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(n))) - 1
		return float64(r.latencies[max(0, min(i, n-1))].Microseconds()) / 1000
	}
	return fmt.Sprintf("%7.0f req/s  p50 %6.2f ms  p99 %7.2f ms  max %7.2f ms  (%d requests, %d not 200)",
		float64(n)/r.elapsed.Seconds(), pct(0.50), pct(0.99), float64(r.latencies[n-1].Microseconds())/1000, n, r.failed)
}

// closedLoop runs clients goroutines for d, each sending GET base+path(r)
// as soon as its previous answer has been read whole.
func closedLoop(ctx context.Context, client *http.Client, base string, path func(*rand.Rand) string, clients int, d time.Duration, seed int64) loopResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		res loopResult
		wg  sync.WaitGroup
	)
	t0 := time.Now()
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(seed), uint64(k)))
			var lat []time.Duration
			failed, first := 0, ""
			for ctx.Err() == nil {
				p := path(r)
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
				if err != nil {
					failed, first = failed+1, err.Error()
					break
				}
				s := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				took := time.Since(s)
				if ctx.Err() != nil {
					break // cut by the end of the run, not an answer
				}
				switch {
				case err != nil:
					failed++
					if first == "" {
						first = p + ": " + err.Error()
					}
				case resp.StatusCode != http.StatusOK:
					failed++
					if first == "" {
						first = p + ": " + resp.Status
					}
				}
				lat = append(lat, took)
			}
			mu.Lock()
			defer mu.Unlock()
			res.latencies = append(res.latencies, lat...)
			res.failed += failed
			if res.firstFailure == "" {
				res.firstFailure = first
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	return res
}

// readNPIs returns the NPIs of an NPPES main file as the sample writes it
// (every value quoted, the NPI first, the entity type code second, which
// is empty for a deactivated NPI): all of them, and those of active
// providers.
func readNPIs(path string) (all, active []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	sc.Scan() // header
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) < 17 || b[0] != '"' || b[11] != '"' || b[12] != ',' {
			return nil, nil, fmt.Errorf("%s: unexpected line %.40q", path, b)
		}
		npi := string(b[1:11])
		all = append(all, npi)
		if b[14] == '1' || b[14] == '2' {
			active = append(active, npi)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if len(active) == 0 {
		return nil, nil, fmt.Errorf("%s: no active provider", path)
	}
	return all, active, nil
}

// claimFiles are the generated claims files and the NPIs with the most
// rows.
type claimFiles struct {
	loads  []load
	counts []string
	heavy  []string // NPIs with 100 or more rows in a file
	hub    string   // the NPI with --hub-payments payments
}

func (c *claimFiles) summary() string { return strings.Join(c.counts, ", ") }

// share is how many rows of a file one provider gets.
type share struct {
	npi string
	n   int
}

// rowsPerProvider draws a provider's row count: 1–12 for nine in ten,
// 13–60 for one in eleven, 100–599 for one in a hundred, at most limit.
func rowsPerProvider(r *rand.Rand, limit int) int {
	var n int
	switch u := r.Float64(); {
	case u < 0.90:
		n = 1 + r.IntN(12)
	case u < 0.99:
		n = 13 + r.IntN(48)
	default:
		n = 100 + r.IntN(500)
	}
	return min(n, limit)
}

// shares gives total rows out to providers of active picked at random,
// at most limit each, and returns them sorted by NPI.
func shares(r *rand.Rand, active []string, total, limit int) []share {
	var out []share
	for _, i := range r.Perm(len(active)) {
		if total == 0 {
			break
		}
		n := min(rowsPerProvider(r, limit), total)
		out = append(out, share{active[i], n})
		total -= n
	}
	slices.SortFunc(out, func(a, b share) int { return strings.Compare(a.npi, b.npi) })
	return out
}

// writeClaims writes the Part B, Part D and Open Payments files of each
// data year, oldest first.
func writeClaims(c config, dir string, active []string) (*claimFiles, error) {
	cf := &claimFiles{}
	heavy := map[string]bool{}
	r := rand.New(rand.NewPCG(uint64(c.seed), 0x5eed))
	// The hub is an active provider picked once for every year.
	cf.hub = active[r.IntN(len(active))]
	heavy[cf.hub] = false
	note := func(sh []share) {
		for _, s := range sh {
			if s.n >= 100 {
				heavy[s.npi] = true
			}
		}
	}
	recordID := int64(500_000_000)
	for y := latestYear - c.years + 1; y <= latestYear; y++ {
		yy := y % 100
		partB := filepath.Join(dir, fmt.Sprintf("MUP_PHY_R%02d_P05_V10_D%02d_Prov_Svc.csv", yy+2, yy))
		sh := shares(r, active, c.partBRows, len(hcpcs)*2)
		note(sh)
		if err := writeFile(partB, func(w io.Writer) error { return writePartB(w, r, sh) }); err != nil {
			return nil, fmt.Errorf("generate Part B %d: %w", y, err)
		}
		partD := filepath.Join(dir, fmt.Sprintf("MUP_DPR_RY%02d_P04_V10_DY%02d_NPIBN.csv", yy+2, yy))
		sh = shares(r, active, c.partDRows, len(drugs)*len(strengths))
		note(sh)
		if err := writeFile(partD, func(w io.Writer) error { return writePartD(w, r, sh) }); err != nil {
			return nil, fmt.Errorf("generate Part D %d: %w", y, err)
		}
		op := filepath.Join(dir, fmt.Sprintf("OP_DTL_GNRL_PGYR%d_P01232026.csv", y))
		sh = shares(r, active, c.payRow, math.MaxInt)
		note(sh)
		if y == latestYear && c.hubPayments > 0 {
			i, found := slices.BinarySearchFunc(sh, cf.hub, func(s share, npi string) int { return strings.Compare(s.npi, npi) })
			if found {
				sh[i].n += c.hubPayments
			} else {
				sh = slices.Insert(sh, i, share{cf.hub, c.hubPayments})
			}
		}
		rows := 0
		for _, s := range sh {
			rows += s.n
		}
		if err := writeFile(op, func(w io.Writer) error { return writeOpenPayments(w, r, sh, y, &recordID) }); err != nil {
			return nil, fmt.Errorf("generate Open Payments %d: %w", y, err)
		}
		cf.loads = append(cf.loads, load{"partb", partB}, load{"partd", partD}, load{"openpayments", op})
		cf.counts = append(cf.counts, fmt.Sprintf("%d: partb %d, partd %d, payments %d", y, c.partBRows, c.partDRows, rows))
	}
	for npi, h := range heavy {
		if h && npi != cf.hub {
			cf.heavy = append(cf.heavy, npi)
		}
	}
	slices.Sort(cf.heavy)
	return cf, nil
}

// The claims files' contents.

const (
	partBHeader = "Rndrng_NPI,Rndrng_Prvdr_Last_Org_Name,Rndrng_Prvdr_First_Name,Rndrng_Prvdr_MI,Rndrng_Prvdr_Crdntls,Rndrng_Prvdr_Ent_Cd,Rndrng_Prvdr_St1,Rndrng_Prvdr_St2,Rndrng_Prvdr_City,Rndrng_Prvdr_State_Abrvtn,Rndrng_Prvdr_State_FIPS,Rndrng_Prvdr_Zip5,Rndrng_Prvdr_RUCA,Rndrng_Prvdr_RUCA_Desc,Rndrng_Prvdr_Cntry,Rndrng_Prvdr_Type,Rndrng_Prvdr_Mdcr_Prtcptg_Ind,HCPCS_Cd,HCPCS_Desc,HCPCS_Drug_Ind,Place_Of_Srvc,Tot_Benes,Tot_Srvcs,Tot_Bene_Day_Srvcs,Avg_Sbmtd_Chrg,Avg_Mdcr_Alowd_Amt,Avg_Mdcr_Pymt_Amt,Avg_Mdcr_Stdzd_Amt\n"
	partDHeader = "Prscrbr_NPI,Prscrbr_Last_Org_Name,Prscrbr_First_Name,Prscrbr_City,Prscrbr_State_Abrvtn,Prscrbr_State_FIPS,Prscrbr_Type,Prscrbr_Type_Src,Brnd_Name,Gnrc_Name,Tot_Clms,Tot_30day_Fills,Tot_Day_Suply,Tot_Drug_Cst,Tot_Benes,GE65_Sprsn_Flag,GE65_Tot_Clms,GE65_Tot_30day_Fills,GE65_Tot_Drug_Cst,GE65_Tot_Day_Suply,GE65_Bene_Sprsn_Flag,GE65_Tot_Benes\n"
)

// hcpcs are 300 HCPCS-like codes: five digits, with a description.
var hcpcs = func() []string {
	out := make([]string, 300)
	for i := range out {
		out[i] = strconv.Itoa(10021 + i*283)
	}
	return out
}()

var (
	drugs = []struct{ brand, generic string }{
		{"Eliquis", "Apixaban"}, {"Xarelto", "Rivaroxaban"}, {"Jardiance", "Empagliflozin"}, {"Farxiga", "Dapagliflozin"},
		{"Ozempic", "Semaglutide"}, {"Trulicity", "Dulaglutide"}, {"Januvia", "Sitagliptin Phosphate"},
		{"Entresto", "Sacubitril/Valsartan"}, {"Amlodipine Besylate", "Amlodipine Besylate"},
		{"Atorvastatin Calcium", "Atorvastatin Calcium"}, {"Lisinopril", "Lisinopril"}, {"Losartan Potassium", "Losartan Potassium"},
		{"Metformin HCl", "Metformin HCl"}, {"Levothyroxine Sodium", "Levothyroxine Sodium"}, {"Omeprazole", "Omeprazole"},
		{"Gabapentin", "Gabapentin"}, {"Rosuvastatin Calcium", "Rosuvastatin Calcium"}, {"Furosemide", "Furosemide"},
		{"Hydrochlorothiazide", "Hydrochlorothiazide"}, {"Sertraline HCl", "Sertraline HCl"}, {"Tamsulosin HCl", "Tamsulosin HCl"},
		{"Metoprolol Succinate", "Metoprolol Succinate"}, {"Carvedilol", "Carvedilol"}, {"Pantoprazole Sodium", "Pantoprazole Sodium"},
		{"Donepezil HCl", "Donepezil HCl"}, {"Clopidogrel", "Clopidogrel Bisulfate"}, {"Spiriva", "Tiotropium Bromide"},
		{"Symbicort", "Budesonide/Formoterol Fumarate"}, {"Lantus Solostar", "Insulin Glargine,Hum.Rec.Anlog"},
		{"Humira(Cf) Pen", "Adalimumab"}, {"Xtandi", "Enzalutamide"}, {"Ibrance", "Palbociclib"}, {"Amoxicillin", "Amoxicillin"},
		{"Prednisone", "Prednisone"}, {"Tramadol HCl", "Tramadol HCl"}, {"Meloxicam", "Meloxicam"}, {"Latanoprost", "Latanoprost"},
		{"Timolol Maleate", "Timolol Maleate"}, {"Chlorhexidine Gluconate", "Chlorhexidine Gluconate"}, {"Warfarin Sodium", "Warfarin Sodium"},
	}
	// strengths make a drug's lines distinct: "Eliquis 5 Mg".
	strengths     = []string{"1 Mg", "2 Mg", "2.5 Mg", "5 Mg", "10 Mg", "12.5 Mg", "20 Mg", "25 Mg", "40 Mg", "50 Mg", "80 Mg", "100 Mg", "200 Mg", "250 Mg", "500 Mg"}
	manufacturers = []string{"Pfizer Inc.", "Novo Nordisk Inc", "Eli Lilly and Company", "AstraZeneca Pharmaceuticals LP", "Merck Sharp & Dohme LLC",
		"Boehringer Ingelheim Pharmaceuticals, Inc.", "Janssen Pharmaceuticals, Inc", "AbbVie Inc.", "Bristol-Myers Squibb Company",
		"Novartis Pharmaceuticals Corporation", "Sanofi US", "GlaxoSmithKline, LLC.", "Amgen Inc.", "Gilead Sciences Inc",
		"Medtronic USA, Inc.", "Stryker Corporation", "Boston Scientific Corporation", "Abbott Laboratories", "Zimmer Biomet Holdings, Inc.",
		"Intuitive Surgical, Inc.", "Edwards Lifesciences LLC", "Biogen Inc.", "Regeneron Healthcare Solutions, Inc.", "Takeda Pharmaceuticals America, Inc.",
		"Bayer HealthCare Pharmaceuticals Inc.", "Genentech USA, Inc.", "Teva Pharmaceuticals USA, Inc.", "Otsuka America Pharmaceutical, Inc.",
		"Exact Sciences Corporation", "DePuy Synthes Products, Inc"}
	natures = []struct{ nature, form string }{
		{"Food and Beverage", "In-kind items and services"}, {"Consulting Fee", "Cash or cash equivalent"},
		{"Travel and Lodging", "In-kind items and services"}, {"Compensation for services other than consulting, including serving as faculty or as a speaker at a venue other than a continuing education program", "Cash or cash equivalent"},
		{"Education", "In-kind items and services"}, {"Honoraria", "Cash or cash equivalent"},
	}
)

// writePartB writes a Part B by-provider-and-service file: each provider
// its share of lines, each a distinct HCPCS code and place of service.
func writePartB(w io.Writer, r *rand.Rand, sh []share) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(partBHeader)
	var l []byte
	for _, s := range sh {
		for _, k := range r.Perm(len(hcpcs) * 2)[:s.n] {
			code, place := hcpcs[k/2], "OF"[k%2:k%2+1]
			benes := 11 + r.IntN(300)
			services := benes + r.IntN(benes*3)
			charge := 40 + r.Float64()*900
			allowed := charge * (0.3 + r.Float64()*0.3)
			l = append(l[:0], s.npi...)
			l = append(l, ",SMITH,ANA,J,M.D.,I,100 MAIN ST,,BOSTON,MA,25,02115,1,Metropolitan area core,US,Internal Medicine,Y,"...)
			l = append(l, code...)
			l = append(l, ",Office or other outpatient visit "...)
			l = append(l, code...)
			l = append(l, ",N,"...)
			l = append(l, place...)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(benes), 10)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(services), 10)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(benes+r.IntN(services-benes+1)), 10)
			for _, v := range []float64{charge, allowed, allowed * 0.8, allowed * 0.78} {
				l = append(l, ',')
				l = strconv.AppendFloat(l, math.Round(v*100)/100, 'f', -1, 64)
			}
			l = append(l, '\n')
			if _, err := bw.Write(l); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// writePartD writes a Part D by-provider-and-drug file: each provider its
// share of lines, each a distinct brand and generic name.
func writePartD(w io.Writer, r *rand.Rand, sh []share) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(partDHeader)
	var l []byte
	for _, s := range sh {
		for _, k := range r.Perm(len(drugs) * len(strengths))[:s.n] {
			d, st := drugs[k%len(drugs)], strengths[k/len(drugs)]
			claims := 11 + r.IntN(400)
			fills := float64(claims) * (1 + r.Float64()*0.6)
			cost := float64(claims) * (5 + r.Float64()*500)
			benes := 11 + r.IntN(claims)
			l = append(l[:0], s.npi...)
			l = append(l, ",SMITH,ANA,BOSTON,MA,25,Internal Medicine,S,"...)
			l = appendField(l, d.brand+" "+st)
			l = append(l, ',')
			l = appendField(l, d.generic+" "+st)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(claims), 10)
			l = append(l, ',')
			l = strconv.AppendFloat(l, math.Round(fills*10)/10, 'f', -1, 64)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(fills*30), 10)
			l = append(l, ',')
			l = strconv.AppendFloat(l, math.Round(cost*100)/100, 'f', -1, 64)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(benes), 10)
			l = append(l, ",*,,,,,*,\n"...) // 65 and over: suppressed
			if _, err := bw.Write(l); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// openPaymentsColumns are the 91 columns of the Open Payments general
// payments file, in the publisher's order (datasets.md).
var openPaymentsColumns = func() []string {
	cols := strings.Split("Change_Type,Covered_Recipient_Type,Teaching_Hospital_CCN,Teaching_Hospital_ID,Teaching_Hospital_Name,Covered_Recipient_Profile_ID,Covered_Recipient_NPI,Covered_Recipient_First_Name,Covered_Recipient_Middle_Name,Covered_Recipient_Last_Name,Covered_Recipient_Name_Suffix,Recipient_Primary_Business_Street_Address_Line1,Recipient_Primary_Business_Street_Address_Line2,Recipient_City,Recipient_State,Recipient_Zip_Code,Recipient_Country,Recipient_Province,Recipient_Postal_Code", ",")
	for _, group := range []string{"Covered_Recipient_Primary_Type_", "Covered_Recipient_Specialty_"} {
		for n := 1; n <= 6; n++ {
			cols = append(cols, group+strconv.Itoa(n))
		}
	}
	for n := 1; n <= 5; n++ {
		cols = append(cols, "Covered_Recipient_License_State_code"+strconv.Itoa(n))
	}
	cols = append(cols, strings.Split("Submitting_Applicable_Manufacturer_or_Applicable_GPO_Name,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_State,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Country,Total_Amount_of_Payment_USDollars,Date_of_Payment,Number_of_Payments_Included_in_Total_Amount,Form_of_Payment_or_Transfer_of_Value,Nature_of_Payment_or_Transfer_of_Value,City_of_Travel,State_of_Travel,Country_of_Travel,Physician_Ownership_Indicator,Third_Party_Payment_Recipient_Indicator,Name_of_Third_Party_Entity_Receiving_Payment_or_Transfer_of_Value,Charity_Indicator,Third_Party_Equals_Covered_Recipient_Indicator,Contextual_Information,Delay_in_Publication_Indicator,Record_ID,Dispute_Status_for_Publication,Related_Product_Indicator", ",")...)
	for n := 1; n <= 5; n++ {
		s := strconv.Itoa(n)
		cols = append(cols, "Covered_or_Noncovered_Indicator_"+s, "Indicate_Drug_or_Biological_or_Device_or_Medical_Supply_"+s,
			"Product_Category_or_Therapeutic_Area_"+s, "Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_"+s,
			"Associated_Drug_or_Biological_NDC_"+s, "Associated_Device_or_Medical_Supply_PDI_"+s)
	}
	return append(cols, "Program_Year", "Payment_Publication_Date")
}()

// writeOpenPayments writes an Open Payments general payments file of
// program year y (91 columns, every value quoted): each provider its
// share of payments, in random order, from manufacturers picked at
// random, with Record_IDs counted from *recordID.
func writeOpenPayments(w io.Writer, r *rand.Rand, sh []share, y int, recordID *int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	col := map[string]int{}
	var l []byte
	for i, name := range openPaymentsColumns {
		col[name] = i
		if i > 0 {
			l = append(l, ',')
		}
		l = appendQuoted(l, name)
	}
	l = append(l, '\n')
	if _, err := bw.Write(l); err != nil {
		return err
	}
	// The publisher's file is not grouped by recipient: a provider's
	// payments lie scattered over the file, and over the table loaded
	// from it.
	var order []int32 // index in sh of each row
	for i, s := range sh {
		for range s.n {
			order = append(order, int32(i))
		}
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	vals := make([]string, len(openPaymentsColumns))
	set := func(name, v string) { vals[col[name]] = v }
	for _, i := range order {
		s := sh[i]
		clear(vals)
		m := manufacturers[r.IntN(len(manufacturers))]
		nat := natures[r.IntN(len(natures))]
		*recordID++
		set("Change_Type", "UNCHANGED")
		set("Covered_Recipient_Type", "Covered Recipient Physician")
		set("Covered_Recipient_Profile_ID", "9"+s.npi[3:10]) // one per provider
		set("Covered_Recipient_NPI", s.npi)
		set("Covered_Recipient_First_Name", "ANA")
		set("Covered_Recipient_Last_Name", "SMITH")
		set("Recipient_City", "BOSTON")
		set("Recipient_State", "MA")
		set("Recipient_Zip_Code", "02115")
		set("Recipient_Country", "United States")
		set("Submitting_Applicable_Manufacturer_or_Applicable_GPO_Name", m)
		set("Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID", strconv.Itoa(100000000000+len(m)*7919))
		set("Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name", m)
		set("Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Country", "United States")
		set("Total_Amount_of_Payment_USDollars", strconv.FormatFloat(math.Round((8+r.Float64()*r.Float64()*3000)*100)/100, 'f', 2, 64))
		day := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
		set("Date_of_Payment", day.Format("01/02/2006"))
		set("Number_of_Payments_Included_in_Total_Amount", strconv.Itoa(1+r.IntN(2)))
		set("Form_of_Payment_or_Transfer_of_Value", nat.form)
		set("Nature_of_Payment_or_Transfer_of_Value", nat.nature)
		set("Record_ID", strconv.FormatInt(*recordID, 10))
		set("Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_1", drugs[r.IntN(len(drugs))].brand)
		set("Program_Year", strconv.Itoa(y))
		set("Payment_Publication_Date", "01/23/2026")
		l = l[:0]
		for k, v := range vals {
			if k > 0 {
				l = append(l, ',')
			}
			l = appendQuoted(l, v)
		}
		l = append(l, '\n')
		if _, err := bw.Write(l); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendField appends s as a CSV field, quoted only when it must be.
func appendField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\n\r") {
		return append(b, s...)
	}
	return appendQuoted(b, s)
}

// appendQuoted appends s as a quoted CSV field.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

// The environment and the files; building the binary, the databases and
// the machine's load are package benchkit's, shared with bench/ingest.

// productEnv is this process's environment without anything that would
// point medsales elsewhere, plus the benchmark's settings (DATABASE_URL is
// added per engine).
func productEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DATABASE_URL"), strings.HasPrefix(k, "REDIS_URL"), strings.HasPrefix(k, "BLOB_URL"),
			strings.HasPrefix(k, "OTEL_"), strings.HasPrefix(k, "LISTEN_ADDR"), strings.HasPrefix(k, "INGEST_"),
			k == "LOG_LEVEL", k == "REJECTS_DIR", k == "SHUTDOWN_DRAIN", k == "PPROF_ADDR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LOG_LEVEL=warn", "REJECTS_DIR="+filepath.Join(dir, "rejects"))
}

// writeFile writes path through fn and reports the first error, closing
// included.
func writeFile(path string, fn func(w io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return fn(f)
}
