package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/debug"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "migrate", stderr)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	d, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer d.close()
	n, err := applySchema(ctx, d.db, d.logger)
	if err != nil {
		return err
	}
	migrate.WarnIfNewer(ctx, d.db, d.logger, migrationSets...)
	fmt.Fprintf(stdout, "applied %d migration(s) on %s\n", n, d.db.Dialect)
	return nil
}

func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", "healthcheck [--url http://127.0.0.1:8081/readyz]", stderr)
	target := fs.String("url", "", "URL to probe (default: /readyz at the address serve listens on, LISTEN_ADDR or LISTEN_ADDR_FILE, with 127.0.0.1 for a wildcard host)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	u, usage, err := health.ProbeURL(*target, func() (string, error) { return listenAddr(config.Env{Getenv: getenv}) }, "http://127.0.0.1:8081/readyz")
	if err != nil {
		if usage {
			fs.Usage()
		}
		return err
	}
	if !health.RunProbe(ctx, u, stdout, stderr) {
		return errSilent
	}
	return nil
}

// cmdIngest loads one file: `medsales ingest DATASET SOURCE`.
func cmdIngest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("ingest", "ingest [--if-changed] [--allow-shrink] [--mode full|increment] [--data-year YYYY] [--max-reject-ratio 0.01] [--progress auto|bar|log|none] DATASET SOURCE", stderr)
	ifChanged := fs.Bool("if-changed", false, "skip the load when the source has not changed since the load served now (same file path, size and modification time; same S3 or HTTP ETag, or Last-Modified, and size)")
	mode := fs.String("mode", "", "full or increment (default: recognised from the file name; NPPES weekly files are increments)")
	year := fs.Int("data-year", 0, "data / program year (default: from the file name)")
	ratio := fs.Float64("max-reject-ratio", 0, "share of rejected rows that fails the load, 0 to 1; 0 allows no rejected row (default 0.01)")
	allowShrink := fs.Bool("allow-shrink", false, "let a whole file replace a load served now of more than twice its rows (refused otherwise: the file may be cut short)")
	progressFlag := fs.String("progress", "auto", "auto (a bar on a terminal, log lines otherwise), bar, log or none")
	if err := reorderFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		fs.Usage()
		return fmt.Errorf("ingest needs DATASET and SOURCE (datasets: %s)", datasetNames())
	case fs.NArg() == 1:
		// One argument is a dataset without its file: one line saying
		// what is missing, or that the dataset is unknown, as with both.
		if d := medsales.Dataset(fs.Arg(0)); !d.Valid() {
			return withFlagValue(fs, flagError(ingest.Request{Dataset: d}.Validate(time.Now())))
		}
		return fmt.Errorf("ingest %s needs SOURCE: a local path, s3://bucket/key or https:// URL of the file to load", fs.Arg(0))
	case fs.NArg() > 2:
		fs.Usage()
		return fmt.Errorf("ingest takes DATASET and SOURCE only: unexpected extra argument %q", fs.Arg(2))
	}
	// A request's MaxRejectRatio 0 means the default 1% (as an absent or 0
	// maxRejectRatio in POST /v1/ingestions); --max-reject-ratio 0 given on
	// the command line asks for no rejected row at all: the smallest ratio
	// above 0, which one rejected row exceeds.
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "max-reject-ratio" && *ratio == 0 {
			*ratio = math.SmallestNonzeroFloat64
		}
	})
	req := ingest.Request{Dataset: medsales.Dataset(fs.Arg(0)), Source: fs.Arg(1), Mode: *mode, DataYear: *year, MaxRejectRatio: *ratio, IfChanged: *ifChanged, AllowShrink: *allowShrink}
	// A bad value is the operator's mistake, as a missing argument is:
	// the usage goes with the error, which quotes the value. What is wrong
	// with the source's name (dates that cannot be, a release date in the
	// future, a weekly companion file) is not a matter of syntax: the
	// error alone says it; nor is an unknown dataset, whose error lists
	// the known ones (the issue asks for one line). It is refused before
	// the database is opened, so nothing is recorded in the history.
	if err := req.Validate(time.Now()); err != nil {
		if e, ok := err.(*errs.Error); !ok || (e.Field != "source" && e.Field != "dataset") {
			fs.Usage()
		}
		return withFlagValue(fs, flagError(err))
	}
	switch *progressFlag {
	case "auto", "bar", "log", "none":
	default:
		fs.Usage()
		return fmt.Errorf("--progress: must be auto, bar, log or none; got %q", *progressFlag)
	}
	// A local file that is not there is refused before the database is
	// opened: a mistyped path created and migrated an empty database.
	if source.IsLocal(req.Source) {
		if err := checkLocalSource(req.Source); err != nil {
			return err
		}
	}
	// So is a REJECTS_DIR the load could not write to.
	if err := checkRejectsDirSetting(getenv); err != nil {
		return err
	}
	d, err := open(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	defer d.close()
	// A long load can be profiled like the server.
	if err := debug.Serve(ctx, getenv("PPROF_ADDR"), d.logger); err != nil {
		return err
	}
	svc := d.ingester(nil)
	var progress ingest.Progress
	switch *progressFlag {
	case "bar":
		progress = ingest.NewBarProgress(stderr, string(req.Dataset), -1, time.Now)
	case "log":
		progress = ingest.NewLogProgress(ctx, d.logger, string(req.Dataset), 10*time.Second, time.Now)
	case "auto":
		if isTerminal(stderr) {
			progress = ingest.NewBarProgress(stderr, string(req.Dataset), -1, time.Now)
		} else {
			progress = ingest.NewLogProgress(ctx, d.logger, string(req.Dataset), 10*time.Second, time.Now)
		}
	}
	res, err := svc.Run(ctx, req, progress)
	if err != nil {
		// The rejected rows are often why the load failed.
		if res.RejectsFile != "" {
			fmt.Fprintf(stderr, "rejected rows: %s\n", res.RejectsFile)
		}
		// Stopped (Ctrl-C, SIGTERM) rather than refused: the operator
		// is told the live data is as it was. (A refused file's error
		// stays the one line it is.)
		if ctx.Err() != nil && res.StillServed != "" {
			fmt.Fprintln(stderr, res.StillServed)
		}
		return flagError(err)
	}
	if res.Unchanged {
		fmt.Fprintf(stdout, "%s: skipped: %s has not changed since version %d, which is served now; nothing loaded (run without --if-changed to load it anyway)\n",
			req.Dataset, res.File, res.ServedVersionID)
		return nil
	}
	// Rows of empty fields (a spreadsheet's) are said only when there are
	// some, so the line of a clean file reads as it always has.
	skipped := ""
	if res.Skipped > 0 {
		skipped = fmt.Sprintf(", skipped %d empty", res.Skipped)
	}
	fmt.Fprintf(stdout, "%s: loaded %d rows, rejected %d%s (%s, %s) in %s as version %d\n",
		req.Dataset, res.Loaded, res.Rejected, skipped, res.File, res.Mode, res.Duration.Round(time.Millisecond), res.VersionID)
	if res.Stale > 0 {
		fmt.Fprintf(stdout, "left out %d records older than those already loaded\n", res.Stale)
	}
	if res.RejectsFile != "" {
		fmt.Fprintf(stdout, "rejected rows: %s\n", res.RejectsFile)
	}
	return nil
}

// checkLocalSource refuses a local SOURCE that does not exist, cannot be
// read or is a directory, naming it.
func checkLocalSource(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return errs.Invalid("SOURCE", "%s: %v", path, err)
	}
	if st.IsDir() {
		return errs.Invalid("SOURCE", "%s is a directory: name a file", path)
	}
	return nil
}

// ingestFlags names, for each field of an ingest.Request, what the
// operator typed it as: validation errors carry the API's field names,
// which mean nothing on a command line.
var ingestFlags = map[string]string{
	"dataset":        "DATASET",
	"source":         "SOURCE",
	"mode":           "--mode",
	"dataYear":       "--data-year",
	"maxRejectRatio": "--max-reject-ratio",
}

// flagError renames the field of a request validation error to its flag.
// Only an *errs.Error returned as is is renamed: a wrapping error has
// already formatted the field into its message.
func flagError(err error) error {
	e, ok := err.(*errs.Error)
	if !ok {
		return err
	}
	name, ok := ingestFlags[e.Field]
	if !ok {
		return err
	}
	renamed := *e
	renamed.Field = name
	return &renamed
}

// withFlagValue adds the value the operator gave to a validation error
// that names a flag of fs (as flagError renamed it), quoted. A flag left
// unset has no value to quote (a data year missing from the file name).
func withFlagValue(fs *flag.FlagSet, err error) error {
	e, ok := err.(*errs.Error)
	if !ok || !strings.HasPrefix(e.Field, "--") {
		return err
	}
	var f *flag.Flag
	fs.Visit(func(set *flag.Flag) {
		if "--"+set.Name == e.Field {
			f = set
		}
	})
	if f == nil {
		return err
	}
	quoted := *e
	quoted.Message = fmt.Sprintf("%s; got %q", e.Message, f.Value.String())
	return &quoted
}

// reorderFlags lets flags follow the positional arguments
// (`ingest nppes FILE --mode increment`), as operators type them.
func reorderFlags(fs *flag.FlagSet, args []string) error {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			// A flag that takes a value takes the next argument whatever
			// it looks like, as package flag does: "--max-reject-ratio -1"
			// is a (bad) ratio, not two flags. A boolean flag takes none
			// ("--if-changed nucc FILE": nucc is DATASET); an unknown flag
			// takes the next argument unless it is a flag, and Parse then
			// refuses it naming it.
			if !strings.Contains(a, "=") && i+1 < len(args) {
				switch known, value := takesValue(fs, a); {
				case known && value, !known && !strings.HasPrefix(args[i+1], "-"):
					flags = append(flags, args[i+1])
					i++
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	return fs.Parse(append(append(flags, "--"), pos...))
}

// takesValue reports whether arg ("-name" or "--name") is a flag of fs
// (known), and whether it is one that is not boolean, and so needs a
// value.
func takesValue(fs *flag.FlagSet, arg string) (known, value bool) {
	f := fs.Lookup(strings.TrimLeft(arg, "-"))
	if f == nil {
		return false, false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return true, !ok || !b.IsBoolFlag()
}

func datasetNames() string {
	var names []string
	for _, d := range medsales.Datasets {
		names = append(names, string(d))
	}
	return strings.Join(names, ", ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// cmdDatasets prints what is loaded and the recent load history.
func cmdDatasets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("datasets", "datasets [--json] [--history N]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	n := fs.Int("history", 20, "how many past loads to list, 0 to 1000 (0: none)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	// The store reads at most 1000 loads and takes any other count as
	// its default of 100: refuse such a count rather than list 100.
	if *n < 0 || *n > 1000 {
		fs.Usage()
		return fmt.Errorf("--history: must be between 0 and 1000; got %q", strconv.Itoa(*n))
	}
	// A listing must not create the database it lists, nor migrate it: a
	// wrong working directory or DATABASE_URL would show an empty one as
	// "never" loaded, and another application's database was given the
	// medsales schema (QA).
	d, err := openExisting(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	latest, err := d.store.LatestLoads(ctx)
	if err != nil {
		return err
	}
	var hist []store.Version
	if *n > 0 {
		if hist, err = d.store.Versions(ctx, "", *n); err != nil {
			return err
		}
	}
	if hist == nil {
		hist = []store.Version{} // an empty history is [] in JSON, not null
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"current": latest, "history": hist})
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tRECORDS\tDATA YEAR\tLAST LOADED\tSOURCE FILE")
	for _, ds := range medsales.Datasets {
		f, ok := latest[ds]
		if !ok {
			fmt.Fprintf(tw, "%s\t-\t-\tnever\t-\n", ds)
			continue
		}
		year := "-"
		if f.DataYear != nil {
			year = fmt.Sprint(*f.DataYear)
		}
		// A dataset loaded year by year serves every year loaded, not
		// only the newest load's: a back-filled older year would hide
		// the newer ones.
		if len(f.DataYears) > 0 {
			years := make([]string, len(f.DataYears))
			for i, y := range f.DataYears {
				years[i] = strconv.Itoa(y)
			}
			year = strings.Join(years, ",")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", ds, f.RecordCount, year, f.LastIngested.Format(time.RFC3339), f.SourceFile)
	}
	tw.Flush()
	if *n == 0 {
		return nil
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDATASET\tMODE\tSTATUS\tLOADED\tREJECTED\tSKIPPED\tSTARTED\tSOURCE FILE\tERROR")
	for _, v := range hist {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", v.ID, v.Dataset, v.Mode, v.Status, v.RowsLoaded, v.RowsRejected,
			v.RowsSkipped, v.StartedAt.Format(time.RFC3339), v.SourceFile, v.Error)
	}
	return tw.Flush()
}

// cmdSample writes sample files in the real formats.
func cmdSample(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("sample", "sample --out DIR [--providers N] [--seed S]", stderr)
	out := fs.String("out", "", "directory to write the files into (created if missing)")
	n := fs.Int("providers", 1000, fmt.Sprintf("number of providers, 1 to %d (NPIs are unique up to there)", sample.MaxProviders))
	seed := fs.Int64("seed", 1, "random seed (the same seed writes the same files)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("--out is required")
	}
	if *n < 1 {
		fs.Usage()
		return fmt.Errorf("--providers: must be at least 1; got %q", strconv.Itoa(*n))
	}
	// Above it the generator's NPIs would repeat.
	if *n > sample.MaxProviders {
		fs.Usage()
		return fmt.Errorf("--providers: must be at most %d (NPIs repeat above); got %q", sample.MaxProviders, strconv.Itoa(*n))
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		return fmt.Errorf("--out: cannot create the directory %s: %w", *out, err)
	}
	files, err := writeSample(ctx, *out, *n, *seed)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "%-17s %s\n", f.dataset, f.path)
	}
	return nil
}

// cmdGeocode geocodes practice addresses that are not in the cache yet.
func cmdGeocode(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("geocode", "geocode [--url https://geocoding.geo.census.gov] [--limit N]", stderr)
	url := fs.String("url", "", "Census geocoder base URL (default GEOCODER_URL or the public service)")
	limit := fs.Int("limit", 0, "geocode at most N new addresses (0 = all)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *limit < 0 {
		fs.Usage()
		return fmt.Errorf("--limit: must be a number of addresses, or 0 for all; got %q", strconv.Itoa(*limit))
	}
	// Geocoding needs loaded providers: a wrong working directory or
	// DATABASE_URL must not create an empty database and report nothing
	// to geocode.
	if err := requireDatabase(getenv); err != nil {
		return err
	}
	d, err := open(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	defer d.close()
	base := *url
	if base == "" {
		base = d.settings.GeocoderURL
	}
	g, err := geo.NewCensus(geo.CensusOptions{BaseURL: base})
	if err != nil {
		return err
	}
	// A batch takes minutes against the public service and a national run
	// hours: each committed batch is logged, as loads log their progress.
	start := time.Now()
	progress := func(done int) {
		elapsed := time.Since(start)
		perSecond := int64(0)
		if elapsed > 0 {
			perSecond = int64(float64(done) / elapsed.Seconds())
		}
		d.logger.InfoContext(ctx, "geocode progress", "addresses", done, "addresses_per_s", perSecond, "elapsed_s", int64(elapsed.Seconds()))
	}
	res, err := d.store.GeocodeProviders(ctx, g, store.GeocodeOptions{Limit: *limit, Progress: progress})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "geocoded %d addresses in %d batches: %d matched, %d unmatched, %d unanswered, %d invalid; coordinates updated for %d providers and %d practice locations\n",
		res.Addresses, res.Batches, res.Matched, res.Unmatched, res.Unanswered, res.Invalid, res.ProvidersUpdated, res.LocationsUpdated)
	return nil
}

// openExisting opens the database for a command that only reads it: it
// must exist and be medsales's, migrated and with no migration pending
// (those are for 'medsales migrate' to apply, as the release runs it),
// and nothing is written to it.
func openExisting(ctx context.Context, getenv func(string) string, stderr io.Writer) (*deps, error) {
	if err := requireDatabase(getenv); err != nil {
		return nil, err
	}
	d, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return nil, err
	}
	ok, err := hasOwnSchema(ctx, d.db)
	if err == nil && !ok {
		err = errors.New("the database is not a migrated medsales database (no dataset_versions table): run 'medsales migrate' first, or set DATABASE_URL to medsales's database")
	}
	if err == nil {
		var pending bool
		if pending, err = migrate.Pending(ctx, d.db, migrationSets...); err == nil && pending {
			err = errors.New("the database has migrations pending (an older medsales wrote it): run 'medsales migrate' first")
		}
	}
	if err != nil {
		d.close()
		return nil, err
	}
	migrate.WarnIfNewer(ctx, d.db, d.logger, migrationSets...)
	return d, nil
}

// requireDatabase fails when DATABASE_URL names a SQLite file that does
// not exist, for commands that read a loaded database and must not create
// an empty one.
func requireDatabase(getenv func(string) string) error {
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	if path := db.SQLitePath(s.DatabaseURL); path != "" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no database at %s: run 'medsales serve' or 'medsales ingest' first, or set DATABASE_URL", path)
		}
	}
	return nil
}
