// Command ingest benchmarks `medsales ingest`, the real binary in its own
// process, timed from start to exit (migrations on a fresh database, open,
// parse, normalise, load, index, swap), against what the database does on
// its own with the same file.
//
// It prints, in one run, as (a) to (d):
//
//  1. NPPES raw load: `psql -c "\copy raw_nppes FROM 'FILE' WITH (FORMAT
//     csv, HEADER true)"` of a generated NPPES main file (330 columns,
//     every value quoted, --nppes-rows records) into an UNLOGGED table of
//     330 text columns (c1..c330, built from the file's header) in a fresh
//     database bench_ingest_raw: no parsing beyond CSV, no types, no
//     indexes, no WAL — the floor a loader could hope for;
//  2. NPPES through the product: `medsales ingest nppes FILE` into a fresh
//     PostgreSQL database bench_ingest_pg, and the ratio (a)/(b) of the
//     two times;
//  3. Part D through the product: `medsales ingest partd FILE` of a
//     generated Part D by-provider-and-drug file (--partd-rows lines) into
//     the same database, NPPES already loaded and migrations applied;
//  4. NPPES into SQLite: `medsales ingest nppes FILE` with
//     DATABASE_URL=sqlite:DIR/bench.db (a new file);
//
// then a summary of the targets (PASS/MISS) on the core count and the load
// average at the start, which the figures depend on (the machine may be
// shared).
//
// For every medsales run it prints the wall time, the rows it reported
// loaded and rows/s over the wall time, the CPU of the medsales process
// and of the whole machine during the run (with the steal: CPU the
// hypervisor of a virtual machine gave other guests, which the summary
// notes when it reached 5% of a core), of which the PostgreSQL server
// (100% = one core), its peak RSS (ru_maxrss of the finished
// child from wait4, i.e. VmHWM), and a split of the wall time read by
// polling /proc/PID/fdinfo of the source file every 20 ms: "start" until
// the first byte of the file is read (process start, migrations, PostGIS,
// the version row), "read" until the file offset reaches the end (parse,
// normalise and stream rows to the database), and "tail" until exit (what
// follows the last row: index builds, ANALYZE, swap, commit). On
// PostgreSQL it also samples pg_stat_activity every 250 ms and prints the
// statements the load's backends were seen running longest, in
// backend-seconds (concurrent COPYs each count their own time). The
// "postgres server" CPU sums every postgres process on this machine, so
// other users of the same server count too. Each run's
// stdout and stderr (JSON log lines; --progress log) go to a log file in
// the working directory. A CHECKPOINT precedes each timed phase, so one
// phase's dirty pages are not written during the next.
//
// The NPPES file comes from internal/medsales/sample (the publisher's exact
// layout, valid NPIs, real ZIP codes). The Part D file is written here: the
// 22-column header of the CMS file, NPIs ascending with valid check digits
// and one to eight drug lines each (as CMS sorts and groups them), counts
// of 11 and more, blank beneficiary counts under 11 and the "*"/"#"
// suppression flags.
//
// Run it from the repository root (it builds ./cmd/medsales itself, or
// takes --bin). The build is of the working tree: it prints the commit and
// the files under cmd/ and internal/ with uncommitted changes, which a
// shared checkout may hold; to measure a commit alone, build it from `git
// archive COMMIT | tar -x -C DIR` and pass --bin. It creates and drops the
// PostgreSQL databases bench_ingest_raw and bench_ingest_pg (the role
// needs CREATEDB), and needs psql on PATH and about 2.5 GB of free disk
// for the default sizes:
//
//	go run ./bench/ingest
//	go run ./bench/ingest --nppes-rows 100000 --partd-rows 200000 --skip-sqlite
//
// Flags: --database-url (the PostgreSQL server, through any database on
// it, where the bench_* databases are created and dropped; default
// postgres://postgres@127.0.0.1:5432/postgres), --nppes-rows 1000000,
// --partd-rows 1000000, --skip-sqlite, --bin (a prebuilt medsales binary),
// --dir (working directory for the files, the SQLite database and the
// logs; default a new temporary directory), --keep (keep the files; the
// databases are always dropped), --seed, --repeat N (run (a) to (d) N
// times over, on fresh databases each round, and give each figure's
// median in the summary: on a shared machine one run's figures vary by
// 20-40%).
//
// Targets on a 2-core machine: medsales NPPES into PostgreSQL at least
// twice as fast as the raw \copy ((a)/(b) ≥ 2), Part D into PostgreSQL ≥
// 150,000 rows/s, NPPES into SQLite ≥ 50,000 rows/s, peak RSS of every
// medsales run ≤ 1 GiB.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medplatform/medplatform/bench/internal/benchkit"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

// Names of the databases this benchmark creates and drops.
const (
	rawDB = "bench_ingest_raw"
	pgDB  = "bench_ingest_pg"
)

// Targets.
const (
	targetSpeedup = 2.0
	targetPartD   = 150_000.0
	targetSQLite  = 50_000.0
	targetRSSKiB  = 1 << 20 // 1 GiB
	pollInterval  = 20 * time.Millisecond
)

// config holds the benchmark's flags.
type config struct {
	url, bin, dir           string
	nppesRows, partDRows    int
	seed                    int64
	skipSQLite, keep        bool
	repeat                  int
	adminURL, rawURL, pgURL string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "database-url", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL URL to connect to for creating and dropping the bench_* databases; not read from $DATABASE_URL on purpose")
	fs.IntVar(&c.nppesRows, "nppes-rows", 1_000_000, "records in the generated NPPES main file")
	fs.IntVar(&c.partDRows, "partd-rows", 1_000_000, "drug lines in the generated Part D file")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the generated files")
	fs.BoolVar(&c.skipSQLite, "skip-sqlite", false, "skip the NPPES load into SQLite")
	fs.IntVar(&c.repeat, "repeat", 1, "rounds of the timed phases (a) to (d); the summary gives each figure's median over the rounds")
	fs.StringVar(&c.bin, "bin", "", "medsales binary to run (default: go build ./cmd/medsales into the working directory)")
	fs.StringVar(&c.dir, "dir", "", "working directory for the generated files, the SQLite database and the logs (default: a new temporary directory)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory's files at the end")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.nppesRows < 1 || c.partDRows < 1 {
		return c, errors.New("--nppes-rows and --partd-rows must be at least 1")
	}
	if c.repeat < 1 || c.repeat > 20 {
		return c, errors.New("--repeat must be between 1 and 20")
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return c, errors.New("--database-url must be a postgres:// URL")
	}
	c.adminURL = c.url
	withDB := func(name string) string {
		v := *u
		v.Path = "/" + name
		return v.String()
	}
	c.rawURL, c.pgURL = withDB(rawDB), withDB(pgDB)
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	load := benchkit.LoadAverage()
	fmt.Fprintf(stdout, "cores=%d  load average at start: %s  nppes-rows=%d partd-rows=%d sqlite=%t\n",
		runtime.NumCPU(), load, c.nppesRows, c.partDRows, !c.skipSQLite)

	// Working directory.
	dir := c.dir
	var created []string // files and directories to remove at the end
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-ingest-"); err != nil {
			return err
		}
		created = append(created, dir)
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	defer func() {
		if c.keep {
			fmt.Fprintf(stdout, "kept the files in %s\n", dir)
			return
		}
		for i := len(created) - 1; i >= 0; i-- {
			os.RemoveAll(created[i])
		}
	}()
	track := func(p string) string { created = append(created, p); return p }

	// 1. The binary.
	bin := c.bin
	if bin != "" {
		fmt.Fprintf(stdout, "binary %s (--bin)\n", bin)
	} else {
		bin = track(filepath.Join(dir, "medsales"))
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

	// 2. The files.
	nppesPath := track(filepath.Join(dir, sample.NPPESFile))
	t0 := time.Now()
	if err := writeFile(nppesPath, func(w io.Writer) error {
		return sample.WriteNPPES(w, sample.Options{Providers: c.nppesRows, Seed: c.seed})
	}); err != nil {
		return fmt.Errorf("generate NPPES: %w", err)
	}
	nppesSize := benchkit.FileSize(nppesPath)
	fmt.Fprintf(stdout, "generated %s: %d records, %s, in %.1fs\n", nppesPath, c.nppesRows, mib(nppesSize), time.Since(t0).Seconds())
	partDPath := track(filepath.Join(dir, sample.PartDFile))
	t0 = time.Now()
	if err := writeFile(partDPath, func(w io.Writer) error { return writePartD(w, c.partDRows, c.seed) }); err != nil {
		return fmt.Errorf("generate Part D: %w", err)
	}
	fmt.Fprintf(stdout, "generated %s: %d drug lines, %s, in %.1fs\n", partDPath, c.partDRows, mib(benchkit.FileSize(partDPath)), time.Since(t0).Seconds())
	track(filepath.Join(dir, "rejects"))

	// Databases: dropped at the end whatever happens (each round creates
	// them anew).
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, name := range []string{rawDB, pgDB} {
			if derr := benchkit.DropDB(dctx, c.adminURL, name); derr != nil {
				fmt.Fprintf(stdout, "drop database %s: %v\n", name, derr)
				err = errors.Join(err, derr)
			}
		}
	}()

	var failures []error
	var rounds []round
	env := productEnv(dir)
	for i := range c.repeat {
		fmt.Fprintln(stdout)
		suffix := ""
		if c.repeat > 1 {
			fmt.Fprintf(stdout, "round %d of %d (load average %s)\n", i+1, c.repeat, benchkit.LoadAverage())
			suffix = fmt.Sprintf("-%d", i+1)
		}
		r, err := runRound(ctx, c, bin, env, dir, suffix, nppesPath, partDPath, stdout, track)
		if err != nil {
			return err
		}
		failures = append(failures, r.failures()...)
		rounds = append(rounds, r)
	}

	// Summary: with --repeat, the median of the rounds that succeeded
	// (each round's own ratio: its raw \copy and its medsales load ran
	// one after the other, on the same machine state) and every round's
	// figure after it; the largest peak RSS.
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Fprintf(stdout, "\nsummary (%d cores, load average at start %s", runtime.NumCPU(), load)
	if c.repeat > 1 {
		fmt.Fprintf(stdout, "; medians of %d rounds, each round's figure in brackets", c.repeat)
	}
	fmt.Fprintln(stdout, ")")
	// Steal is CPU a virtual machine's host gave to other guests: figures
	// taken while it is high measure the neighbours as much as this code.
	steal := 0.0
	for _, r := range rounds {
		steal = max(steal, r.raw.cpu.steal, r.nppesPG.cpu.steal, r.partD.cpu.steal)
		if r.lite != nil {
			steal = max(steal, r.lite.cpu.steal)
		}
	}
	if steal >= 5 {
		fmt.Fprintf(stdout, "  note: the hypervisor took up to %.0f%% of a core (steal) during a run; the figures are lower than on an idle host\n", steal)
	}
	row := func(name, value, target, verdict string) {
		fmt.Fprintln(stdout, strings.TrimRight(fmt.Sprintf("  %-30s %-38s %-22s %s", name, value, target, verdict), " "))
	}
	each := func(vals []float64, format string) string {
		if len(vals) < 2 {
			return ""
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprintf(format, v)
		}
		return " [" + strings.Join(parts, ", ") + "]"
	}
	speedTarget := fmt.Sprintf("target ≥ %.2f", targetSpeedup)
	var ratios, rawRates, pgRates, rawSecs, pgSecs []float64
	for _, r := range rounds {
		if r.rawErr == nil && r.nppesPG.err == nil && r.nppesPG.elapsed > 0 {
			ratios = append(ratios, r.raw.elapsed.Seconds()/r.nppesPG.elapsed.Seconds())
			rawRates, pgRates = append(rawRates, r.raw.rate()), append(pgRates, r.nppesPG.rate())
			rawSecs, pgSecs = append(rawSecs, r.raw.elapsed.Seconds()), append(pgSecs, r.nppesPG.elapsed.Seconds())
		}
	}
	if len(ratios) > 0 {
		ratio := median(ratios)
		row("NPPES PostgreSQL (a)/(b)", fmt.Sprintf("%.2f (%.1fs / %.1fs)%s", ratio, median(rawSecs), median(pgSecs), each(ratios, "%.2f")),
			speedTarget, verdict(ratio >= targetSpeedup))
		row("  (a) raw \\copy", fmt.Sprintf("%.0f rows/s%s", median(rawRates), each(rawRates, "%.0f")), "", "")
		row("  (b) medsales ingest nppes", fmt.Sprintf("%.0f rows/s%s", median(pgRates), each(pgRates, "%.0f")), "", "")
	} else {
		row("NPPES PostgreSQL (a)/(b)", "failed", speedTarget, "MISS")
	}
	rateRow := func(name string, pick func(round) *ingestResult, target float64) {
		t := fmt.Sprintf("target ≥ %.0f rows/s", target)
		var rates, secs []float64
		var loaded int64
		for _, r := range rounds {
			if res := pick(r); res != nil && res.err == nil {
				rates, secs, loaded = append(rates, res.rate()), append(secs, res.elapsed.Seconds()), res.loaded
			}
		}
		if len(rates) == 0 {
			row(name, "failed", t, "MISS")
			return
		}
		rate := median(rates)
		row(name, fmt.Sprintf("%.0f rows/s (%d in %.1fs)%s", rate, loaded, median(secs), each(rates, "%.0f")), t, verdict(rate >= target))
	}
	rateRow("Part D PostgreSQL", func(r round) *ingestResult { return r.partD }, targetPartD)
	if !c.skipSQLite {
		rateRow("NPPES SQLite", func(r round) *ingestResult { return r.lite }, targetSQLite)
	} else {
		row("NPPES SQLite", "skipped (--skip-sqlite)", "", "")
	}
	for _, pick := range []func(round) *ingestResult{
		func(r round) *ingestResult { return r.nppesPG },
		func(r round) *ingestResult { return r.partD },
		func(r round) *ingestResult { return r.lite },
	} {
		var name string
		var peak int64
		unknown := false
		for _, r := range rounds {
			res := pick(r)
			if res == nil {
				continue
			}
			name = res.name
			if res.maxRSSKiB == 0 {
				unknown = true
			}
			peak = max(peak, res.maxRSSKiB)
		}
		switch {
		case name == "":
		case unknown:
			row("peak RSS "+name, "unknown", "target ≤ 1024 MiB", "MISS")
		default:
			row("peak RSS "+name, fmt.Sprintf("%.0f MiB", float64(peak)/1024), "target ≤ 1024 MiB", verdict(peak <= targetRSSKiB))
		}
	}
	return errors.Join(failures...)
}

// round is what one round of the timed phases measured.
type round struct {
	raw     rawResult
	rawErr  error
	nppesPG *ingestResult
	partD   *ingestResult
	lite    *ingestResult // nil with --skip-sqlite
}

// failures returns the errors of the round's phases.
func (r round) failures() []error {
	var out []error
	if r.rawErr != nil {
		out = append(out, fmt.Errorf("raw \\copy: %w", r.rawErr))
	}
	for _, res := range []*ingestResult{r.nppesPG, r.partD, r.lite} {
		if res != nil && res.err != nil {
			out = append(out, res.err)
		}
	}
	return out
}

// runRound creates the databases afresh and times (a) to (d) once,
// printing each phase's figures. It returns an error only when a
// database or file could not be prepared; a phase's failure is in the
// round.
func runRound(ctx context.Context, c config, bin string, env []string, dir, suffix, nppesPath, partDPath string,
	stdout io.Writer, track func(string) string) (round, error) {
	var r round
	for _, name := range []string{rawDB, pgDB} {
		if err := benchkit.RecreateDB(ctx, c.adminURL, name); err != nil {
			return r, err
		}
	}

	// (a) Raw \copy.
	r.raw, r.rawErr = rawCopy(ctx, c, nppesPath)
	if r.rawErr != nil {
		fmt.Fprintf(stdout, "(a) NPPES raw \\copy into UNLOGGED 330 × text: FAILED: %v\n", r.rawErr)
	} else {
		fmt.Fprintf(stdout, "(a) NPPES raw \\copy into UNLOGGED %d × text (psql): rows=%d in %.1fs = %.0f rows/s  %s\n",
			r.raw.cols, r.raw.rows, r.raw.elapsed.Seconds(), r.raw.rate(), r.raw.cpu)
	}

	// (b) NPPES through medsales into PostgreSQL.
	r.nppesPG = ingestRun(ctx, c, bin, append(env, "DATABASE_URL="+c.pgURL), "nppes", nppesPath, track(filepath.Join(dir, "nppes-postgres"+suffix+".log")))
	fmt.Fprint(stdout, r.nppesPG.report("(b) NPPES medsales → PostgreSQL"))
	if r.rawErr == nil && r.nppesPG.err == nil && r.nppesPG.elapsed > 0 {
		fmt.Fprintf(stdout, "    (a)/(b) = %.1fs / %.1fs = %.2f\n", r.raw.elapsed.Seconds(), r.nppesPG.elapsed.Seconds(),
			r.raw.elapsed.Seconds()/r.nppesPG.elapsed.Seconds())
	}

	// (c) Part D through medsales into PostgreSQL, NPPES loaded.
	r.partD = ingestRun(ctx, c, bin, append(env, "DATABASE_URL="+c.pgURL), "partd", partDPath, track(filepath.Join(dir, "partd-postgres"+suffix+".log")))
	if r.partD.err == nil {
		if n, cerr := countRows(ctx, c.pgURL, "partd_drugs"); cerr != nil {
			r.partD.err = fmt.Errorf("partd: count rows: %w", cerr)
		} else if n != r.partD.loaded {
			r.partD.err = fmt.Errorf("partd: the command reported %d rows loaded, partd_drugs holds %d", r.partD.loaded, n)
		}
	}
	fmt.Fprint(stdout, r.partD.report("(c) Part D medsales → PostgreSQL"))

	// (d) NPPES through medsales into a new SQLite file.
	if c.skipSQLite {
		return r, nil
	}
	dbPath := filepath.Join(dir, "bench.db")
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
		track(p)
	}
	r.lite = ingestRun(ctx, c, bin, append(env, "DATABASE_URL=sqlite:"+dbPath), "nppes", nppesPath, track(filepath.Join(dir, "nppes-sqlite"+suffix+".log")))
	fmt.Fprint(stdout, r.lite.report("(d) NPPES medsales → SQLite"))
	if r.lite.err == nil {
		fmt.Fprintf(stdout, "    SQLite file: %s\n", mib(benchkit.FileSize(dbPath)+benchkit.FileSize(dbPath+"-wal")))
	}
	return r, nil
}

// median returns the median of vals (the mean of the middle two for an
// even count); vals must not be empty.
func median(vals []float64) float64 {
	v := slices.Clone(vals)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// productEnv is this process's environment without anything that would
// point medsales elsewhere, plus the benchmark's settings (DATABASE_URL is
// added per run).
func productEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DATABASE_URL"), strings.HasPrefix(k, "REDIS_URL"), strings.HasPrefix(k, "BLOB_URL"),
			strings.HasPrefix(k, "OTEL_"), k == "LOG_LEVEL", k == "REJECTS_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LOG_LEVEL=info", "REJECTS_DIR="+filepath.Join(dir, "rejects"))
}

// rawResult is what the raw \copy measured.
type rawResult struct {
	rows, cols int
	elapsed    time.Duration
	cpu        cpuUse
}

func (r rawResult) rate() float64 { return float64(r.rows) / r.elapsed.Seconds() }

// rawCopy creates raw_nppes (one text column per header column) in the raw
// database and times psql's \copy of the file into it.
func rawCopy(ctx context.Context, c config, file string) (rawResult, error) {
	var res rawResult
	cols, err := headerColumns(file)
	if err != nil {
		return res, err
	}
	res.cols = cols
	var ddl strings.Builder
	ddl.WriteString("CREATE UNLOGGED TABLE raw_nppes (")
	for i := 1; i <= cols; i++ {
		if i > 1 {
			ddl.WriteString(", ")
		}
		fmt.Fprintf(&ddl, "c%d text", i)
	}
	ddl.WriteString(")")
	if err := benchkit.ExecSQL(ctx, c.rawURL, ddl.String()); err != nil {
		return res, err
	}
	if err := benchkit.ExecSQL(ctx, c.adminURL, "CHECKPOINT"); err != nil {
		return res, err
	}
	copyCmd := `\copy raw_nppes FROM '` + strings.ReplaceAll(file, "'", "''") + `' WITH (FORMAT csv, HEADER true)`
	cmd := exec.CommandContext(ctx, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", c.rawURL, "-c", copyCmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cpu0 := sampleCPU()
	t0 := time.Now()
	err = cmd.Run()
	res.elapsed = time.Since(t0)
	res.cpu = sampleCPU().since(cpu0)
	if err != nil {
		return res, fmt.Errorf("psql: %w: %s", err, strings.TrimSpace(out.String()))
	}
	m := regexp.MustCompile(`(?m)^COPY (\d+)$`).FindStringSubmatch(out.String())
	if m == nil {
		return res, fmt.Errorf("psql printed no COPY count: %q", out.String())
	}
	res.rows, _ = strconv.Atoi(m[1])
	return res, nil
}

// headerColumns returns the number of columns of file's CSV header.
func headerColumns(file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rec, err := csv.NewReader(bufio.NewReader(f)).Read()
	if err != nil {
		return 0, fmt.Errorf("%s: header: %w", file, err)
	}
	return len(rec), nil
}

// ingestResult is what one `medsales ingest` run measured.
type ingestResult struct {
	name, logPath    string
	loaded, rejected int64
	reported         string // the duration medsales printed
	elapsed          time.Duration
	maxRSSKiB        int64
	procCPU          time.Duration // user + system of the medsales process
	cpu              cpuUse
	phases           phases
	activity         []activity // PostgreSQL: the statements the server was busy with
	err              error
}

func (r *ingestResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.loaded) / r.elapsed.Seconds()
}

func (r *ingestResult) report(title string) string {
	var b strings.Builder
	if r.err != nil {
		fmt.Fprintf(&b, "%s: FAILED after %.1fs: %v\n", title, r.elapsed.Seconds(), r.err)
		if r.maxRSSKiB > 0 {
			fmt.Fprintf(&b, "    peak RSS %.0f MiB\n", float64(r.maxRSSKiB)/1024)
		}
		for _, l := range tail(r.logPath, 15) {
			fmt.Fprintf(&b, "    | %s\n", l)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s: rows=%d (rejected %d) in %.1fs = %.0f rows/s  (medsales reported %s)\n",
		title, r.loaded, r.rejected, r.elapsed.Seconds(), r.rate(), r.reported)
	fmt.Fprintf(&b, "    peak RSS %.0f MiB; medsales cpu %.0f%% (%.1fs); %s\n",
		float64(r.maxRSSKiB)/1024, 100*r.procCPU.Seconds()/r.elapsed.Seconds(), r.procCPU.Seconds(), r.cpu)
	fmt.Fprintf(&b, "    %s\n", r.phases.String(r.elapsed))
	if len(r.activity) > 0 {
		fmt.Fprintf(&b, "    active statements of the load's backends (pg_stat_activity every %s; backend-seconds, top %d):\n", activityInterval, len(r.activity))
		for _, a := range r.activity {
			fmt.Fprintf(&b, "      %6.1fs  %s\n", a.seconds, a.query)
		}
	}
	return b.String()
}

// loadedLine is the line `medsales ingest` prints on success.
var loadedLine = regexp.MustCompile(`(?m)^\S+: loaded (\d+) rows, rejected (\d+) \(.*\) in (\S+) as version \d+$`)

// ingestRun runs `medsales ingest --progress log DATASET FILE` with env,
// output to logPath, and measures it.
func ingestRun(ctx context.Context, c config, bin string, env []string, ds, file, logPath string) *ingestResult {
	res := &ingestResult{logPath: logPath}
	engine := "postgres"
	for _, kv := range env {
		if strings.HasPrefix(kv, "DATABASE_URL=sqlite:") {
			engine = "sqlite"
		}
	}
	res.name = ds + "/" + engine
	if err := benchkit.ExecSQL(ctx, c.adminURL, "CHECKPOINT"); err != nil {
		res.err = err
		return res
	}
	logf, err := os.Create(logPath)
	if err != nil {
		res.err = err
		return res
	}
	defer logf.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "ingest", "--progress", "log", ds, file)
	cmd.Env = env
	cmd.Stdout = io.MultiWriter(&stdout, logf)
	cmd.Stderr = logf

	cpu0 := sampleCPU()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		res.err = fmt.Errorf("%s: %w", res.name, err)
		return res
	}
	watch := startWatch(cmd.Process.Pid, file, benchkit.FileSize(file), t0)
	var act *activitySampler
	if engine == "postgres" {
		act = startActivity(ctx, c.adminURL, pgDB)
	}
	err = cmd.Wait()
	res.elapsed = time.Since(t0)
	res.cpu = sampleCPU().since(cpu0)
	res.phases = watch.stop()
	if act != nil {
		res.activity = act.stop(6)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSSKiB = ru.Maxrss // KiB on Linux
		res.procCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if res.maxRSSKiB == 0 {
		res.maxRSSKiB = res.phases.hwmKiB
	}
	if err != nil {
		res.err = fmt.Errorf("medsales ingest %s (%s): %w (log: %s)", ds, engine, err, logPath)
		return res
	}
	m := loadedLine.FindStringSubmatch(stdout.String())
	if m == nil {
		res.err = fmt.Errorf("medsales ingest %s (%s) printed no loaded line: %q", ds, engine, stdout.String())
		return res
	}
	res.loaded, _ = strconv.ParseInt(m[1], 10, 64)
	res.rejected, _ = strconv.ParseInt(m[2], 10, 64)
	res.reported = m[3]
	return res
}

// phases splits a run's wall time by the offset of its source file.
type phases struct {
	firstRead, eof time.Duration // since start; 0 when never seen
	hwmKiB         int64         // VmHWM last seen while polling
	samples        int
}

func (p phases) String(total time.Duration) string {
	if p.firstRead == 0 {
		return fmt.Sprintf("phases: n/a (the source file was never seen open in /proc; %d polls)", p.samples)
	}
	s := fmt.Sprintf("phases: start %.1fs, read %.1fs", p.firstRead.Seconds(), (p.eof - p.firstRead).Seconds())
	if p.eof == 0 {
		return fmt.Sprintf("phases: start %.1fs, then the end of the file was not seen (%.1fs until exit)", p.firstRead.Seconds(), (total - p.firstRead).Seconds())
	}
	return s + fmt.Sprintf(", tail after the last byte %.1fs (start = until the first byte of the file is read; tail = index, analyze, swap, commit)", (total-p.eof).Seconds())
}

// watch polls /proc/PID for the offset of the source file and VmHWM.
type watch struct {
	done chan struct{}
	out  chan phases
}

func startWatch(pid int, file string, size int64, t0 time.Time) *watch {
	w := &watch{done: make(chan struct{}), out: make(chan phases, 1)}
	abs, _ := filepath.Abs(file)
	proc := "/proc/" + strconv.Itoa(pid)
	go func() {
		var p phases
		fd := ""
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				w.out <- p
				return
			case <-tick.C:
			}
			p.samples++
			if hwm := vmHWM(proc); hwm > p.hwmKiB {
				p.hwmKiB = hwm
			}
			if p.eof != 0 {
				continue
			}
			if fd != "" {
				if target, err := os.Readlink(proc + "/fd/" + fd); err != nil || target != abs {
					fd = ""
				}
			}
			if fd == "" {
				fd = findFD(proc, abs)
				if fd == "" {
					continue
				}
			}
			pos := fdPos(proc, fd)
			now := time.Since(t0)
			if pos > 0 && p.firstRead == 0 {
				p.firstRead = now
			}
			if size > 0 && pos >= size {
				p.eof = now
			}
		}
	}()
	return w
}

func (w *watch) stop() phases {
	close(w.done)
	return <-w.out
}

// findFD returns the descriptor of proc that is open on path, or "".
func findFD(proc, path string) string {
	ents, err := os.ReadDir(proc + "/fd")
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if t, err := os.Readlink(proc + "/fd/" + e.Name()); err == nil && t == path {
			return e.Name()
		}
	}
	return ""
}

// fdPos returns the file offset of descriptor fd of proc, -1 if unknown.
func fdPos(proc, fd string) int64 {
	b, err := os.ReadFile(proc + "/fdinfo/" + fd)
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "pos:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// vmHWM returns VmHWM of proc in KiB, 0 if unknown.
func vmHWM(proc string) int64 {
	b, err := os.ReadFile(proc + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// activityInterval is how often pg_stat_activity is sampled.
const activityInterval = 250 * time.Millisecond

// activity is one statement and the backend-seconds it was seen active.
type activity struct {
	query   string
	seconds float64
}

// activitySampler polls pg_stat_activity for the active client backends of
// one database and adds activityInterval per backend seen to its
// statement (whitespace collapsed, cut to 90 characters), so the totals
// show where the server spent a load's time.
type activitySampler struct {
	cancel context.CancelFunc
	out    chan map[string]float64
}

func startActivity(ctx context.Context, adminURL, dbName string) *activitySampler {
	ctx, cancel := context.WithCancel(ctx)
	a := &activitySampler{cancel: cancel, out: make(chan map[string]float64, 1)}
	go func() {
		seen := map[string]float64{}
		defer func() { a.out <- seen }()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		tick := time.NewTicker(activityInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rows, err := conn.Query(ctx, `SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 90)
				FROM pg_stat_activity
				WHERE datname = $1 AND state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, dbName)
			if err != nil {
				return
			}
			for rows.Next() {
				var q string
				if rows.Scan(&q) == nil {
					seen[q] += activityInterval.Seconds()
				}
			}
			rows.Close()
		}
	}()
	return a
}

// stop ends the sampling and returns the n statements seen longest.
func (a *activitySampler) stop(n int) []activity {
	a.cancel()
	seen := <-a.out
	out := make([]activity, 0, len(seen))
	for q, sec := range seen {
		out = append(out, activity{q, sec})
	}
	slices.SortFunc(out, func(x, y activity) int { return cmp.Compare(y.seconds, x.seconds) })
	return out[:min(n, len(out))]
}

// Database administration over the admin URL.

func countRows(ctx context.Context, dbURL, table string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	return n, err
}

// The Part D file.

// partDHeader is the header of the CMS Medicare Part D Prescribers by
// Provider and Drug file (data year 2024, 22 columns).
const partDHeader = "Prscrbr_NPI,Prscrbr_Last_Org_Name,Prscrbr_First_Name,Prscrbr_City,Prscrbr_State_Abrvtn,Prscrbr_State_FIPS,Prscrbr_Type,Prscrbr_Type_Src,Brnd_Name,Gnrc_Name,Tot_Clms,Tot_30day_Fills,Tot_Day_Suply,Tot_Drug_Cst,Tot_Benes,GE65_Sprsn_Flag,GE65_Tot_Clms,GE65_Tot_30day_Fills,GE65_Tot_Drug_Cst,GE65_Tot_Day_Suply,GE65_Bene_Sprsn_Flag,GE65_Tot_Benes\n"

type drug struct {
	brand, generic string
	costPerClaim   float64
}

var (
	pdDrugs = []drug{
		{"Eliquis", "Apixaban", 540}, {"Xarelto", "Rivaroxaban", 510}, {"Jardiance", "Empagliflozin", 560},
		{"Farxiga", "Dapagliflozin", 530}, {"Ozempic", "Semaglutide", 890}, {"Trulicity", "Dulaglutide", 860},
		{"Januvia", "Sitagliptin Phosphate", 480}, {"Entresto", "Sacubitril/Valsartan", 570},
		{"Amlodipine Besylate", "Amlodipine Besylate", 9}, {"Atorvastatin Calcium", "Atorvastatin Calcium", 12},
		{"Lisinopril", "Lisinopril", 7}, {"Losartan Potassium", "Losartan Potassium", 11},
		{"Metformin HCl", "Metformin HCl", 8}, {"Levothyroxine Sodium", "Levothyroxine Sodium", 14},
		{"Omeprazole", "Omeprazole", 10}, {"Gabapentin", "Gabapentin", 13}, {"Rosuvastatin Calcium", "Rosuvastatin Calcium", 12},
		{"Furosemide", "Furosemide", 6}, {"Hydrochlorothiazide", "Hydrochlorothiazide", 5}, {"Sertraline HCl", "Sertraline HCl", 9},
		{"Tamsulosin HCl", "Tamsulosin HCl", 11}, {"Metoprolol Succinate", "Metoprolol Succinate", 15},
		{"Carvedilol", "Carvedilol", 8}, {"Pantoprazole Sodium", "Pantoprazole Sodium", 10},
		{"Donepezil HCl", "Donepezil HCl", 12}, {"Clopidogrel", "Clopidogrel Bisulfate", 10},
		{"Spiriva", "Tiotropium Bromide", 470}, {"Symbicort", "Budesonide/Formoterol Fumarate", 380},
		{"Lantus Solostar", "Insulin Glargine,Hum.Rec.Anlog", 420}, {"Humira(Cf) Pen", "Adalimumab", 7100},
		{"Xtandi", "Enzalutamide", 13900}, {"Ibrance", "Palbociclib", 14200}, {"Amoxicillin", "Amoxicillin", 7},
		{"Prednisone", "Prednisone", 5}, {"Tramadol HCl", "Tramadol HCl", 9}, {"Meloxicam", "Meloxicam", 8},
		{"Latanoprost", "Latanoprost", 14}, {"Timolol Maleate", "Timolol Maleate", 16}, {"Chlorhexidine Gluconate", "Chlorhexidine Gluconate", 6},
		{"Warfarin Sodium", "Warfarin Sodium", 9},
	}
	pdLast  = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Nguyen", "Patel", "O'Brien"}
	pdFirst = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Priya", "Wei", "Ana", "Mohammed"}
	pdCity  = []struct{ city, state, fips string }{
		{"Birmingham", "AL", "01"}, {"Phoenix", "AZ", "04"}, {"Los Angeles", "CA", "06"}, {"San Diego", "CA", "06"},
		{"Denver", "CO", "08"}, {"Hartford", "CT", "09"}, {"Jacksonville", "FL", "12"}, {"Miami", "FL", "12"},
		{"Atlanta", "GA", "13"}, {"Chicago", "IL", "17"}, {"Indianapolis", "IN", "18"}, {"Louisville", "KY", "21"},
		{"New Orleans", "LA", "22"}, {"Baltimore", "MD", "24"}, {"Boston", "MA", "25"}, {"Detroit", "MI", "26"},
		{"Minneapolis", "MN", "27"}, {"Saint Louis", "MO", "29"}, {"Omaha", "NE", "31"}, {"Las Vegas", "NV", "32"},
		{"Newark", "NJ", "34"}, {"New York", "NY", "36"}, {"Charlotte", "NC", "37"}, {"Columbus", "OH", "39"},
		{"Portland", "OR", "41"}, {"Philadelphia", "PA", "42"}, {"Nashville", "TN", "47"}, {"Houston", "TX", "48"},
		{"Dallas", "TX", "48"}, {"Salt Lake City", "UT", "49"}, {"Seattle", "WA", "53"}, {"Milwaukee", "WI", "55"},
	}
	pdType = []string{"Internal Medicine", "Family Practice", "Nurse Practitioner", "Physician Assistant", "Cardiology",
		"Endocrinology", "Psychiatry", "Neurology", "Dentist", "Ophthalmology", "Optometry", "Urology",
		"Hematology-Oncology", "Pulmonary Disease", "Rheumatology", "Podiatry", "General Practice", "Geriatric Medicine"}
)

// writePartD writes a Part D file of exactly rows drug lines: NPIs
// ascending with valid check digits, one to eight distinct drugs each,
// claims of 11 and more, CMS suppression of small counts.
func writePartD(w io.Writer, rows int, seed int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(partDHeader)
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	var l []byte
	base := 100_000_000
	written := 0
	for written < rows {
		base += 1 + r.IntN(97)
		b9 := strconv.Itoa(base)
		npi := b9 + string(dataset.NPICheckDigit(b9))
		last, first := pdLast[r.IntN(len(pdLast))], pdFirst[r.IntN(len(pdFirst))]
		place := pdCity[r.IntN(len(pdCity))]
		typ := pdType[r.IntN(len(pdType))]
		n := min(1+r.IntN(8), rows-written)
		for _, di := range r.Perm(len(pdDrugs))[:n] {
			d := pdDrugs[di]
			claims := 11 + r.IntN(400)
			fills := float64(claims) * (1 + r.Float64()*0.6)
			days := int(fills * 30)
			cost := d.costPerClaim * float64(claims) * (0.8 + r.Float64()*0.4)
			benes := 1 + r.IntN(claims)
			l = l[:0]
			for _, s := range []string{npi, last, first, place.city, place.state, place.fips, typ, "S", d.brand, d.generic} {
				l = appendField(l, s)
				l = append(l, ',')
			}
			l = strconv.AppendInt(l, int64(claims), 10)
			l = append(l, ',')
			l = strconv.AppendFloat(l, math.Round(fills*10)/10, 'f', -1, 64)
			l = append(l, ',')
			l = strconv.AppendInt(l, int64(days), 10)
			l = append(l, ',')
			l = strconv.AppendFloat(l, math.Round(cost*100)/100, 'f', -1, 64)
			l = append(l, ',')
			if benes >= 11 {
				l = strconv.AppendInt(l, int64(benes), 10)
			}
			l = append(l, ',')
			ge65 := r.IntN(claims + 1)
			if ge65 < 11 {
				l = append(l, "*,,,,,"...)
			} else {
				share := float64(ge65) / float64(claims)
				l = append(l, ',')
				l = strconv.AppendInt(l, int64(ge65), 10)
				l = append(l, ',')
				l = strconv.AppendFloat(l, math.Round(fills*share*10)/10, 'f', -1, 64)
				l = append(l, ',')
				l = strconv.AppendFloat(l, math.Round(cost*share*100)/100, 'f', -1, 64)
				l = append(l, ',')
				l = strconv.AppendInt(l, int64(float64(days)*share), 10)
				l = append(l, ',')
			}
			switch ge65Benes := benes * 3 / 4; {
			case benes < 11:
				l = append(l, "#,"...)
			case ge65Benes < 11:
				l = append(l, "*,"...)
			default:
				l = append(l, ',')
				l = strconv.AppendInt(l, int64(ge65Benes), 10)
			}
			l = append(l, '\n')
			if _, err := bw.Write(l); err != nil {
				return err
			}
			written++
		}
	}
	return bw.Flush()
}

// appendField appends s as a CSV field, quoted only when it must be.
func appendField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\n\r") {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

// Files and the machine.

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
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fn(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// tail returns the last n lines of the file at path.
func tail(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return lines[max(0, len(lines)-n):]
}

// cpuSample holds CPU clock ticks used so far (USER_HZ, 100 a second on
// Linux): by the machine, from /proc/stat, and by the PostgreSQL server's
// processes on this machine.
type cpuSample struct {
	at                  time.Time
	busy, iowait, total float64
	steal               float64
	postgres            float64
	ok, postgresOK      bool
}

// cpuUse is CPU used over an interval, in percent of one core.
type cpuUse struct {
	machine, iowait, postgres float64
	steal                     float64 // taken by the hypervisor for other guests
	cores                     int
	valid, postgresValid      bool
}

func (u cpuUse) String() string {
	if !u.valid {
		return "machine cpu: n/a"
	}
	s := fmt.Sprintf("machine cpu %.0f%% of %d00%% (iowait %.0f%%, steal %.0f%%)", u.machine, u.cores, u.iowait, u.steal)
	if u.postgresValid {
		s += fmt.Sprintf(", of which postgres server %.0f%%", u.postgres)
	}
	return s
}

const userHZ = 100

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	s.postgres, s.postgresOK = postgresTicks()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	var v [8]float64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
		s.total += v[i]
	}
	// Busy is what ran on this machine; steal (time the hypervisor gave
	// other guests) is counted apart.
	s.iowait, s.steal = v[4], v[7]
	s.busy = s.total - v[3] - v[4] - v[7]
	s.ok = true
	return s
}

func (s cpuSample) since(s0 cpuSample) cpuUse {
	dt := s.total - s0.total
	if !s.ok || !s0.ok || dt <= 0 {
		return cpuUse{}
	}
	cores := runtime.NumCPU()
	u := cpuUse{
		machine: (s.busy - s0.busy) / dt * float64(cores) * 100,
		iowait:  (s.iowait - s0.iowait) / dt * float64(cores) * 100,
		steal:   (s.steal - s0.steal) / dt * float64(cores) * 100,
		cores:   cores, valid: true,
	}
	if wall := s.at.Sub(s0.at).Seconds(); s.postgresOK && s0.postgresOK && wall > 0 {
		u.postgres = (s.postgres - s0.postgres) / userHZ / wall * 100
		u.postgresValid = true
	}
	return u
}

// postgresTicks sums utime+stime of every process named postgres on this
// machine, plus cutime+cstime of the postmaster(s) (backends that exited
// and were reaped). It serves whatever databases the server holds, so
// other users of the same server count too; on a remote server it finds
// nothing and reports false.
func postgresTicks() (float64, bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	pg := map[string]bool{}
	type stat struct {
		ppid                 string
		self, reapedChildren float64
	}
	stats := map[string]stat{}
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || string(b[open+1:end]) != "postgres" {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 15 { // state ppid … utime(12) stime(13) cutime(14) cstime(15), 1-based after ")"
			continue
		}
		var v [4]float64
		for i := range v {
			v[i], _ = strconv.ParseFloat(f[11+i], 64)
		}
		pg[pid] = true
		stats[pid] = stat{ppid: f[1], self: v[0] + v[1], reapedChildren: v[2] + v[3]}
	}
	if len(stats) == 0 {
		return 0, false
	}
	total := 0.0
	for _, st := range stats {
		total += st.self
		if !pg[st.ppid] { // the postmaster: its children are postgres processes
			total += st.reapedChildren
		}
	}
	return total, true
}
