// Package ingest loads one public dataset file end to end: it opens the
// source (local path, s3:// or https://, zipped or not), recognises the
// release and load mode from the file name, records the attempt in the
// dataset-version history, runs the dataset's loader, writes rejected rows
// to a rejects file and updates the ingestion metrics. The same Service
// backs the `medsales ingest` command and the River job the API enqueues.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Request names one file to load.
type Request struct {
	Dataset medsales.Dataset `json:"dataset"`
	// Source is a local path, s3://bucket/key or https://… URL.
	Source string `json:"source"`
	// Mode is "full" or "increment"; empty recognises it from the file
	// name (NPPES weekly files are increments).
	Mode string `json:"mode,omitempty"`
	// DataYear overrides the data / program year read from the file name.
	DataYear int `json:"dataYear,omitempty"`
	// MaxRejectRatio overrides the share of rejected rows that fails the
	// load (default 1%).
	MaxRejectRatio float64 `json:"maxRejectRatio,omitempty"`
	// IfChanged skips the load when the source has not changed: when the
	// load served now in the same scope (dataset, mode, data year; see
	// store.ServedWithStamp) has the source's stamp (source.File.Stamp).
	// A source without a stamp is always loaded. Scheduled loads set it.
	IfChanged bool `json:"ifChanged,omitempty"`
	// AllowShrink lets a whole file replace a load served now of more
	// than twice its rows (see ErrShrink).
	AllowShrink bool `json:"allowShrink,omitempty"`
	// JobID is the River job running the load (0: none, a load from the
	// command line), recorded with its history entry. It is not part of
	// the job's args: the same load queued again is the same job.
	JobID int64 `json:"-"`
}

// ErrShrink fails a whole-file load that would replace the load served
// now, in its scope, by fewer than half its rows, unless the request
// allows it (AllowShrink): such a file is more likely cut short than
// meant. A download read to its end without a length to check it
// against (an HTTP answer without Content-Length whose connection closed
// early) is taken as the whole file: QA saw NUCC go from 48 codes served
// to 21 that way. The publishers' files grow or stay about the same
// from one release to the next.
var ErrShrink = errors.New("fewer than half the rows served now")

// MaxSourceBytes is the longest source a request may name: Linux's
// PATH_MAX, longer than any S3 URL (a key has at most 1024 bytes) or
// download URL. The source is kept in the jobs table and, for a URL, whole
// in the load history that GET /v1/datasets lists, so a longer one is
// refused rather than stored.
const MaxSourceBytes = 4096

// Validate checks the request before anything is opened. now bounds the
// release date the source's name carries, as source.CheckDates does (a
// day after it at most): a request (medsales ingest, POST
// /v1/ingestions) passes its clock's time, so that a file named with a
// future release date is refused at once, like a name whose dates cannot
// be, and nothing is recorded or queued. A zero now checks no bound: Run
// checks the names of the file it opens with its clock, and records the
// refusal in the history.
func (r Request) Validate(now time.Time) error {
	if err := r.ValidateFields(); err != nil {
		return err
	}
	return r.validateSource(now)
}

// ValidateFields checks the request's fields on their own: the dataset,
// that a source is given, the mode, the data year's range and the reject
// ratio. What the source's name tells (its dates, weekly or not, its data
// year) is Validate's: the API checks first that it may read the source
// at all (403), then what its name says.
func (r Request) ValidateFields() error {
	switch {
	case r.Dataset == "":
		return errs.Invalid("dataset", "is required")
	case !r.Dataset.Valid():
		return errs.Invalid("dataset", "unknown dataset %q (known: %s)", r.Dataset, datasetList())
	case strings.TrimSpace(r.Source) == "":
		return errs.Invalid("source", "is required: a local path, s3://bucket/key or https:// URL")
	case len(r.Source) > MaxSourceBytes:
		// Not echoed: it may be a URL with credentials.
		return errs.Invalid("source", "is %d bytes long, more than the %d a local path, an s3:// URL or an http(s):// URL may have", len(r.Source), MaxSourceBytes)
	case r.Mode != "" && r.Mode != store.ModeFull && r.Mode != store.ModeIncrement:
		return errs.Invalid("mode", "must be %q or %q", store.ModeFull, store.ModeIncrement)
	case r.Mode == store.ModeIncrement && r.Dataset != medsales.NPPES:
		return errs.Invalid("mode", "increments exist for nppes only")
	case r.DataYear != 0 && (r.DataYear < 2000 || r.DataYear > 2100):
		return errs.Invalid("dataYear", "must be a year between 2000 and 2100")
	case r.DataYear != 0 && !r.Dataset.ByYear() && r.Dataset != medsales.ZCTA:
		// It would be recorded as the load's data year and shown as the
		// dataset's, though nothing of the file depends on it.
		return errs.Invalid("dataYear", "%s has no data year: only partb, partd, openpayments and zcta take one", r.Dataset)
	case !(r.MaxRejectRatio >= 0 && r.MaxRejectRatio <= 1):
		// Written so that NaN (accepted by --max-reject-ratio) is refused:
		// it fails both comparisons, and no share of rejects exceeds it.
		return errs.Invalid("maxRejectRatio", "must be between 0 and 1")
	}
	return nil
}

// validateSource checks what the source and its name tell (see Validate).
func (r Request) validateSource(now time.Time) error {
	// A source whose form cannot name a file (s3:// without bucket or
	// key, a URL without host) is refused here, not queued to fail later.
	if err := source.CheckForm(r.Source); err != nil {
		return errs.Invalid("source", "%s", err.Error())
	}
	// What the file's name tells is checked here too, so that the API
	// refuses at once what a worker would refuse later (Run checks again
	// with the name of the file it opened, a zip archive's member).
	name := source.NameOf(r.Source)
	if err := source.CheckDates(name, now); err != nil {
		return errs.Invalid("source", "%s", err.Error())
	}
	if source.IsWeekly(name) {
		switch {
		case r.Dataset != medsales.NPPES:
			return errs.Invalid("source", "%s is a weekly file: %s loads the monthly full file only", name, r.Dataset)
		case r.Mode == store.ModeFull:
			return errs.Invalid("mode", "%s is a weekly increment: loading it as a full file would replace the registry with one week of changes", name)
		}
	}
	if r.DataYear != 0 {
		if err := checkYear(r.DataYear, "", now); err != nil {
			return err
		}
	}
	if y, named := store.YearFromName(r.Dataset, name); named {
		if err := checkYear(y, name, now); err != nil {
			return err
		}
	}
	// So is a data year that a zip archive's name contradicts, as the
	// load would refuse it once the archive is open (Run), after a
	// history entry for it: a command given a contradiction is refused
	// before anything is opened or recorded, as a queued one is.
	if y, named := store.YearFromName(r.Dataset, name); named && r.DataYear != 0 && y != r.DataYear {
		if strings.EqualFold(path.Ext(name), ".zip") {
			return errs.Invalid("dataYear", "%s: the archive's name says %d, the data year given (--data-year or dataYear) says %d", name, y, r.DataYear)
		}
		return errs.Invalid("dataYear", "%s: the file name says %d, the data year given says %d", name, y, r.DataYear)
	}
	// Part B and Part D know their year only from the file name or the
	// year given: without either their loader refuses the file, so the
	// request is refused now, not queued (or opened) to fail.
	if name, ok := r.yearless(); ok {
		// A file named as another dataset's is most likely that file: to
		// ask for its data year would send the operator after the wrong
		// problem (QA: the NUCC file given as Part B).
		if other, named := source.DatasetOf(name); named && other != r.Dataset {
			return errs.Invalid("source", "%s is named as a file of dataset %s, not %s, and carries no data year: wrong file for the dataset (give the %s file, or its data year with --data-year or dataYear if it is one)", name, other, r.Dataset, r.Dataset)
		}
		return errs.Invalid("dataYear", "%s: the file name carries no data year (such as _D24_ or _DY24_): give it (--data-year, or dataYear in POST /v1/ingestions)", name)
	}
	return nil
}

// checkYear refuses a data year after now's year (when now is set): no
// publisher has released data of a year not begun, and a typo in a file
// name (_D42_) loaded a phantom year that the profiles then listed (QA).
// name is the file the year was read from, "" for a year given.
func checkYear(y int, name string, now time.Time) error {
	if now.IsZero() || y <= now.UTC().Year() {
		return nil
	}
	if name == "" {
		return errs.Invalid("dataYear", "%d is after the current year, %d: no data of it is published yet", y, now.UTC().Year())
	}
	return errs.Invalid("dataYear", "%s: its data year, %d, is after the current year, %d: rename the file with the year its publisher gave it, or give the year (--data-year or dataYear)", name, y, now.UTC().Year())
}

// yearless returns the name of a partb or partd source whose year nothing
// gives: no data year given and none in the file name. A zip archive is
// never yearless: the member read may carry the year.
func (r Request) yearless() (name string, ok bool) {
	if (r.Dataset != medsales.PartB && r.Dataset != medsales.PartD) || r.DataYear != 0 {
		return "", false
	}
	name = source.NameOf(r.Source)
	if _, named := store.YearFromName(r.Dataset, name); named || strings.EqualFold(path.Ext(name), ".zip") {
		return "", false
	}
	if name == "" { // a URL without a path: named by its host
		name = source.RedactURL(r.Source)
	}
	return name, true
}

// ValidateQueued checks a request to be queued as a River job (POST
// /v1/ingestions, INGEST_SCHEDULE): Validate's checks and a source URL
// without user info, query or fragment. The job's args are the request,
// kept in River's jobs table, and shown by whatever lists jobs, for as
// long as the job is kept: a password, a token or a presigned URL's
// signature there would be readable by anyone reading the table. A file
// behind credentials is queued from where the worker's own credentials
// reach it (an s3:// bucket, an allowed https:// host), or loaded with
// the ingest command, which keeps only the source's redacted name. now
// bounds the release date the source's name carries, as in Validate.
func (r Request) ValidateQueued(now time.Time) error {
	if err := r.Validate(now); err != nil {
		return err
	}
	if carriesCredentials(r.Source) {
		return errs.Invalid("source", "%s: a queued load's source must not carry user info, a query or a fragment (a password, a token or a presigned signature would be kept in the jobs table): queue a file the worker's own credentials reach, or load it with medsales ingest",
			source.RedactURL(r.Source))
	}
	return nil
}

// Normalized returns the request with the defaults it leaves to the
// worker spelled out wherever the source's name settles them, so that
// the same load written with or without them is the same River job
// (JobArgs' unique options compare the args as encoded): maxRejectRatio
// 0 is store.DefaultMaxRejectRatio; mode is "full" for a dataset other
// than nppes, "increment" for an NPPES file named as a weekly one, and
// "full" for an NPPES file that is not a .zip archive and is not named
// as a weekly one; dataYear is the year the name of a file that is not a
// .zip archive carries. The mode and data year of an archive not named
// as a weekly file are left as given: they depend on the member read.
// Call it on a valid request (Validate).
func (r Request) Normalized() Request {
	if r.MaxRejectRatio == 0 {
		r.MaxRejectRatio = store.DefaultMaxRejectRatio
	}
	name := source.NameOf(r.Source)
	if name == "" {
		return r // a URL without a path: named by its host when opened
	}
	zipped := strings.EqualFold(path.Ext(name), ".zip")
	if r.Mode == "" {
		switch {
		case r.Dataset != medsales.NPPES:
			r.Mode = store.ModeFull
		case source.IsWeekly(name):
			r.Mode = store.ModeIncrement
		case !zipped:
			r.Mode = store.ModeFull
		}
	}
	if y, ok := store.YearFromName(r.Dataset, name); ok && r.DataYear == 0 && !zipped {
		r.DataYear = y
	}
	return r
}

// carriesCredentials reports whether src is an s3:// or http(s):// URL
// with user info, a query or a fragment, where credentials go. A local
// path is read as written: a "?" or "#" in it is part of a file name.
func carriesCredentials(src string) bool {
	lower := strings.ToLower(src)
	if !strings.HasPrefix(lower, "s3://") && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return false
	}
	_, rest, _ := strings.Cut(src, "://")
	authority, _, _ := strings.Cut(rest, "/")
	return strings.Contains(authority, "@") || strings.ContainsAny(src, "?#")
}

func datasetList() string {
	names := make([]string, len(medsales.Datasets))
	for i, d := range medsales.Datasets {
		names[i] = string(d)
	}
	return strings.Join(names, ", ")
}

// Result is what a load did.
type Result struct {
	VersionID int64  `json:"versionId"`
	File      string `json:"file"`
	Mode      string `json:"mode"`
	Loaded    int64  `json:"loaded"`
	Rejected  int64  `json:"rejected"`
	// Skipped counts the file's rows of empty fields (left by a
	// spreadsheet that re-saved it) and blank lines: neither loaded nor
	// rejected.
	Skipped int64 `json:"skipped,omitempty"`
	// Stale counts the records of an NPPES increment left out because the
	// loaded record is newer.
	Stale       int64  `json:"stale,omitempty"`
	DataYear    int    `json:"dataYear,omitempty"`
	RejectsFile string `json:"rejectsFile,omitempty"`
	Duration    time.Duration
	// Unchanged is true when a load asked for only if its source changed
	// (Request.IfChanged) was skipped: nothing was loaded or recorded, and
	// VersionID is 0. ServedVersionID is then the load served now, of the
	// same source version.
	Unchanged       bool  `json:"unchanged,omitempty"`
	ServedVersionID int64 `json:"servedVersionId,omitempty"`
	// StillServed, after a failed load (recorded as failed), says that
	// the live data did not change and names what it is.
	StillServed string `json:"-"`
}

// Progress is told how far a load has come: rows read so far, and bytes
// read of total (total -1 when unknown). Done is told how the load ended:
// nil when it succeeded, else why it failed.
type Progress interface {
	Update(rows, bytes, total int64)
	Done(err error)
}

// Service runs loads.
type Service struct {
	Store   *store.Store
	Logger  *slog.Logger
	Metrics *Metrics // may be nil
	Now     func() time.Time
	// Source configures how sources are opened (HTTP client, S3 endpoint).
	Source source.Options
	// RejectsDir receives one rejects file per load that rejected rows
	// (default ./data/rejects).
	RejectsDir string
}

// loader is a dataset's store loader.
type loader func(ctx context.Context, in store.LoadInput) (store.LoadResult, error)

func (s *Service) loader(d medsales.Dataset) loader {
	switch d {
	case medsales.NPPES:
		return s.Store.LoadNPPES
	case medsales.NPPESLocations:
		return s.Store.LoadNPPESLocations
	case medsales.NPPESOtherNames:
		return s.Store.LoadNPPESOtherNames
	case medsales.NPPESEndpoints:
		return s.Store.LoadNPPESEndpoints
	case medsales.NUCC:
		return s.Store.LoadNUCC
	case medsales.PartB:
		return s.Store.LoadPartB
	case medsales.PartD:
		return s.Store.LoadPartD
	case medsales.OpenPayments:
		return s.Store.LoadOpenPayments
	case medsales.ZCTA:
		return s.Store.LoadZCTA
	}
	return nil
}

// Interruption is why a load was stopped before it finished. A caller
// that stops a load gives one as the cause of the load's context
// (context.WithCancelCause): Run then records its text as the reason the
// load failed, instead of whichever step happened to see the context end
// ("copy into providers: context canceled").
type Interruption string

func (i Interruption) Error() string { return string(i) }

// The reasons a load is stopped before it finishes.
const (
	// WorkerStopping: the worker running the load's job is shutting down
	// (SIGTERM) and cancelled it after its grace period; River puts the
	// job back in the queue, and the load runs again from the start.
	WorkerStopping Interruption = "interrupted: the worker is shutting down; the load will run again"
	// JobTimedOut: the load ran past its job's Timeout.
	JobTimedOut Interruption = "interrupted: the load ran past its job's time limit"
	// JobCancelled: the job was cancelled through River.
	JobCancelled Interruption = "interrupted: the job was cancelled"
	// timedOut: the load's context passed its deadline (not a job's).
	timedOut Interruption = "interrupted: the load ran past its time limit"
)

// interruption is the reason a load whose context ended records: the
// context's cause when it is an Interruption, else a plain one.
func interruption(ctx context.Context) Interruption {
	cause := context.Cause(ctx)
	var i Interruption
	switch {
	case errors.As(cause, &i):
		return i
	case errors.Is(cause, context.DeadlineExceeded):
		return timedOut
	}
	return "interrupted: the load was cancelled before it finished"
}

// interrupted returns, for a load that failed with err because ctx
// ended, the reason to record and the error to return, which begins with
// that reason and wraps ctx's error.
func interrupted(ctx context.Context, err error) (string, error) {
	stopped := interruption(ctx)
	if !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	if strings.Contains(err.Error(), string(stopped)) {
		return string(stopped), err // a step already said why (context.Cause)
	}
	return string(stopped), fmt.Errorf("%s: %w", stopped, err)
}

// logUnfinished logs the end of a load that did not succeed: at ERROR as
// msg, except for a load stopped because its context ended for a stop
// that was asked for (a shutdown, Ctrl-C, a River job cancelled), logged
// at WARN as "ingest interrupted". A load that ran past its time limit
// (its job's or its context's) is a failure and stays at ERROR.
func logUnfinished(ctx context.Context, log *slog.Logger, msg string, attrs ...any) {
	if ctx.Err() != nil {
		if i := interruption(ctx); i != JobTimedOut && i != timedOut {
			log.WarnContext(ctx, "ingest interrupted", attrs...)
			return
		}
	}
	log.ErrorContext(ctx, msg, attrs...)
}

// Run loads req. The live data changes only when the load succeeds; a
// failed load is recorded in the history with its reason and returns an
// error naming the file, with the Result so far (its RejectsFile says
// where the rows rejected before the failure are). When another load of
// the dataset is running, Run returns at once an error for which
// errors.Is(err, store.ErrLoadRunning) holds, and records nothing.
//
// A load with req.IfChanged whose source has a stamp the load served now
// in its scope has too (the same file, object or URL version, see
// store.ServedWithStamp) is skipped once the source is opened: Run
// records nothing, logs "ingest skipped" and returns a Result with
// Unchanged set and no error.
//
// A load stopped by the end of ctx records why (interruption: the cause
// of ctx when it is an Interruption) rather than the error of the step it
// was in, and returns an error that begins with that reason and wraps
// ctx's error. Its cleanup (dropping its staging tables, recording the
// failure) runs on contexts detached from ctx.
func (s *Service) Run(ctx context.Context, req Request, progress Progress) (Result, error) {
	// No bound on the release date yet: the names of the file opened
	// are checked against s.Now below, and a future one is recorded as
	// refused, so that the history of a queued load says why.
	if err := req.Validate(time.Time{}); err != nil {
		return Result{}, err
	}
	release, err := s.Store.LockDataset(ctx, req.Dataset)
	if err != nil {
		return Result{}, err
	}
	defer release()

	start := s.Now()
	log := s.Logger.With("dataset", string(req.Dataset))
	v := store.Version{Dataset: req.Dataset, Mode: req.Mode, SourceFile: displayName(req.Source), StartedAt: start, JobID: req.JobID}
	if req.DataYear != 0 {
		v.DataYear = &req.DataYear
	}
	// names are the source's names that may carry its data year: the
	// one given until it is open, then the file's (a zip member's first)
	// and its archive's.
	names := []string{source.NameOf(req.Source)}
	// refuse records a load that could not start in the history, so an
	// operator who queued it through the API can see why.
	refuse := func(err error) (Result, error) {
		if v.Mode == "" {
			v.Mode = store.ModeFull
		}
		for _, name := range names {
			// The year the name carries, as a load that starts records
			// it (data-model.md: a failed load shows it too).
			if y, ok := store.YearFromName(req.Dataset, name); ok && v.DataYear == nil && name != "" {
				v.DataYear = &y
			}
		}
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		reason := err.Error()
		if ctx.Err() != nil {
			reason, err = interrupted(ctx, err)
		}
		if id, serr := s.Store.StartVersion(c, v); serr == nil {
			if ferr := s.Store.FailVersion(c, id, reason, 0, 0, s.Now()); ferr != nil {
				log.ErrorContext(ctx, "record refused load", "error", ferr.Error())
			}
		}
		s.Metrics.failed(req.Dataset, ctx.Err() != nil)
		logUnfinished(ctx, log, "ingest refused", "error", err.Error())
		return Result{}, err
	}

	opts := s.Source
	opts.Dataset = req.Dataset // read the zip member named like the dataset's file
	// An archive holding the dataset's files of several years is refused
	// unless the year given picks one: loading the largest would replace
	// a year the operator did not choose.
	opts.YearOf = func(name string) (int, bool) { return store.YearFromName(req.Dataset, name) }
	opts.Year = req.DataYear
	// A zip that cannot be read by range would be downloaded whole before
	// its member, and so its stamp, is known: a conditional load asks
	// first whether the archive is the one served now.
	var servedArchive store.Version
	if req.IfChanged {
		opts.SkipArchive = func(stamp string) (bool, error) {
			year := req.DataYear
			if year == 0 {
				year, _ = store.YearFromName(req.Dataset, source.NameOf(req.Source))
			}
			var same bool
			var err error
			servedArchive, same, err = s.Store.ServedFromArchive(ctx, req.Dataset, req.Mode, year, stamp)
			return same, err
		}
	}
	f, err := source.Open(ctx, req.Source, opts)
	if errors.Is(err, source.ErrSkipped) {
		v.Mode = servedArchive.Mode
		s.skipped(ctx, log, v, servedArchive)
		res := Result{File: source.NameOf(req.Source), Mode: servedArchive.Mode, Unchanged: true, ServedVersionID: servedArchive.ID}
		if servedArchive.DataYear != nil {
			res.DataYear = *servedArchive.DataYear
		}
		return res, nil
	}
	if err != nil {
		if errors.Is(err, source.ErrInput) && ctx.Err() == nil {
			// The source names nothing to load, or nothing loadable
			// (a missing file, HTTP 404, an archive without the
			// dataset's file): bad input another attempt would meet
			// again, so a queued load is cancelled, not counted a
			// failure of the worker. A network failure or an HTTP 5xx
			// stays unclassified. The source's error is kept as the
			// cause, so errors.Is(err, fs.ErrNotExist) and errors.As to
			// it still hold on Run's result.
			err = &errs.Error{Code: errs.CodeInvalid, Message: "source cannot be loaded as given", Err: err}
		}
		return refuse(err)
	}
	defer f.Close()
	names = []string{f.Name, f.Archive}
	v.SourceFile = f.Name
	if f.Archive != "" {
		v.SourceFile = f.Archive + "/" + f.Name
	}
	// The names' dates give the load its release date and, for NPPES,
	// its mode: dates no publisher wrote are refused, not loaded by.
	for _, name := range []string{f.Name, f.Archive} {
		if err := source.CheckDates(name, s.Now()); err != nil {
			return refuse(errs.Invalid("source", "%s", err.Error()))
		}
	}
	weekly := source.IsWeekly(f.Name) || source.IsWeekly(f.Archive)
	switch {
	case weekly && req.Dataset != medsales.NPPES:
		// Weekly companion files hold a week of changes; loading one would
		// replace the whole table with it.
		return refuse(errs.Invalid("source", "%s is a weekly file: %s loads the monthly full file only", f.Name, req.Dataset))
	case weekly && req.Mode == store.ModeFull:
		return refuse(errs.Invalid("mode", "%s is a weekly increment: loading it as a full file would replace the registry with one week of changes", f.Name))
	}
	res := Result{File: f.Name, Mode: req.Mode}
	if res.Mode == "" {
		res.Mode = store.ModeFull
		if weekly {
			res.Mode = store.ModeIncrement
		}
	}
	v.Mode = res.Mode
	if t, ok := source.ReleaseDate(f.Name); ok {
		v.ReleaseDate = medsales.DatePtr(t)
	} else if t, ok := source.ReleaseDate(f.Archive); ok {
		v.ReleaseDate = medsales.DatePtr(t)
	}
	// A member named without a data year (a CMS bundle's renamed CSV, a
	// gazetteer without its year prefix) takes the year of the archive's
	// name, which then counts as the file's name does: the loader reads
	// only the member's name and would ask for --data-year, or record none.
	dataYear := req.DataYear
	if _, ok := store.YearFromName(req.Dataset, f.Name); !ok {
		if y, ok := store.YearFromName(req.Dataset, f.Archive); ok {
			if dataYear != 0 && dataYear != y {
				return refuse(errs.Invalid("dataYear", "%s: the archive's name says %d, the data year given (--data-year or dataYear) says %d", f.Archive, y, dataYear))
			}
			dataYear = y
			v.DataYear = &dataYear
		}
	}
	// The year the file name carries is recorded from the start, like one
	// given with --data-year, so a failed load's history says which year
	// it was; a successful load records the year it loaded.
	if y, ok := store.YearFromName(req.Dataset, f.Name); ok && v.DataYear == nil {
		v.DataYear = &y
	}
	if v.DataYear != nil {
		from := v.SourceFile // the name that gave the year, "" when given
		if req.DataYear != 0 {
			from = ""
		}
		if err := checkYear(*v.DataYear, from, s.Now()); err != nil {
			return refuse(err)
		}
	}
	v.SourceStamp = f.Stamp
	if req.IfChanged {
		served, unchanged, err := s.unchanged(ctx, log, req, v, f)
		if err != nil {
			return refuse(err)
		}
		if unchanged {
			res.Unchanged, res.ServedVersionID = true, served.ID
			if served.DataYear != nil {
				res.DataYear = *served.DataYear
			}
			return res, nil
		}
	}
	// The start is recorded on a context that an interrupt does not end:
	// ended during the commit, which the database may have applied, the
	// row would stay running with no one to record why the load stopped.
	// An interrupt is seen by the next step, which records it.
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	id, err := s.Store.StartVersion(c, v)
	cancel()
	if err != nil {
		return Result{}, err
	}
	res.VersionID = id
	log = log.With("file", v.SourceFile, "version", id, "mode", res.Mode)
	log.InfoContext(ctx, "ingest started")
	// Said at once: the clean-up that follows an interrupt waits for the
	// database, up to seconds when it has stopped answering, and the
	// operator who pressed Ctrl-C saw nothing until it ended (QA).
	defer context.AfterFunc(ctx, func() {
		log.Warn("interrupted: stopping the load and cleaning up; the live data is replaced only by a load that completes")
	})()

	var rowsRead int64
	var rejects *rejectsFile
	// counted is the loader's count of rejected rows, when it returned
	// one with its error: once the rejects file cannot be written, the
	// rows rejected after it are counted but not written. skipped is its
	// count of rows of empty fields.
	var counted, skipped int64
	fail := func(err error) (Result, error) {
		// Record the failure even when ctx was cancelled (SIGTERM), with
		// the rows rejected before it (often why it failed).
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		rejected := counted
		if rejects != nil {
			rejected = max(rejected, rejects.rows)
		}
		reason := err.Error()
		if ctx.Err() != nil {
			// Stopped: whichever step saw the context end says only
			// "context canceled"; the history says why it ended.
			reason, err = interrupted(ctx, err)
		}
		var stopped *store.StoppedError
		if ferr := s.Store.FailVersion(c, id, reason, rejected, skipped, s.Now()); errors.As(ferr, &stopped) {
			// The step's error only says that the tables the other
			// load swapped in are gone; the operator is told why.
			log.WarnContext(ctx, "load stopped by another load", "step_error", err.Error())
			err = stopped
		} else if ferr != nil {
			log.ErrorContext(ctx, "record failed load", "error", ferr.Error())
		} else {
			// The live data is as it was: the operator is told so, and
			// what it is, not left to wonder (QA: an interrupted
			// ingest said only "interrupted").
			res.StillServed = s.stillServed(c, req.Dataset)
		}
		s.Metrics.failed(req.Dataset, ctx.Err() != nil)
		attrs := []any{"error", err.Error(), "rows_read", rowsRead}
		if res.StillServed != "" {
			attrs = append(attrs, "live_data", res.StillServed)
		}
		if res.RejectsFile != "" {
			// The rejected rows are often why the load failed.
			attrs = append(attrs, "rejects_file", res.RejectsFile)
		}
		logUnfinished(ctx, log, "ingest failed", attrs...)
		return res, err
	}

	if err := s.Store.DropStaleStaging(ctx); err != nil {
		return fail(err)
	}
	rejects = s.openRejects(req.Dataset, id)
	cr := &countingReader{r: f}
	in := store.LoadInput{
		File: f.Name, Reader: cr, Mode: res.Mode, DataYear: dataYear,
		Rejects: rejects, MaxRejectRatio: req.MaxRejectRatio,
	}
	if v.ReleaseDate != nil {
		in.ReleaseDate = v.ReleaseDate.Time
	}
	in.Reopen = reopener(req.Source, opts, f.Stamp)
	in.Progress = func(rows int64) {
		rowsRead = rows
		if progress != nil {
			progress.Update(rows, cr.n, f.Size)
		}
	}
	// Main and secondary practice addresses are both placed at their ZIP
	// centroid until the Census geocoder matches them.
	// The centroids' version is read first: a gazetteer load committing
	// between the two reads is then caught up with (needlessly) at the
	// swap, never missed.
	if req.Dataset == medsales.NPPES || req.Dataset == medsales.NPPESLocations {
		v, err := s.Store.CentroidsVersion(ctx)
		if err != nil {
			return fail(err)
		}
		c, err := s.Store.Centroids(ctx)
		if err != nil {
			return fail(err)
		}
		in.Centroids, in.CentroidsVersion = c, v
	}
	in.Finalize = func(tx *db.Tx, r store.LoadResult) error {
		if res.Mode != store.ModeIncrement && !req.AllowShrink {
			if err := s.checkShrink(ctx, req.Dataset, r); err != nil {
				return err
			}
		}
		// The whole source has been read: its digest is complete.
		return store.FinishVersionTx(ctx, tx, id, r, f.SHA256(), s.Now())
	}
	out, err := s.loader(req.Dataset)(ctx, in)
	counted, skipped = out.Rejected, out.Skipped
	rejectsPath, rerr := rejects.close()
	if err == nil && rerr != nil {
		err = rerr
	}
	if errors.Is(err, source.ErrDamaged) {
		// The rows rejected were parsed from the damaged bytes (a stored
		// member's are caught by its checksum only at its end): listing
		// them, and counting them in the history, sent the operator to
		// rows the publisher never wrote (QA). The error says to download
		// the archive again.
		rejects.remove()
		rejectsPath, counted = "", 0
	}
	res.RejectsFile = rejectsPath
	if progress != nil {
		// A failed load's bar stops where the load did.
		progress.Done(err)
	}
	if err != nil {
		if !strings.Contains(err.Error(), f.Name) {
			err = fmt.Errorf("%s: %w", f.Name, err)
		}
		return fail(err)
	}
	res.Loaded, res.Rejected, res.Skipped, res.Stale, res.DataYear = out.Loaded, out.Rejected, out.Skipped, out.Stale, out.DataYear
	res.Duration = s.Now().Sub(start)
	s.Metrics.succeeded(req.Dataset, out, res.Duration)
	attrs := []any{"loaded", out.Loaded, "rejected", out.Rejected, "skipped", out.Skipped, "stale", out.Stale,
		"duration_ms", res.Duration.Milliseconds(), "rows_per_s", perSecond(out.Loaded+out.Rejected+out.Stale, res.Duration)}
	if res.RejectsFile != "" {
		// The file's name is not always <dataset>-<version>.rejects.csv
		// (another database's load may have taken it): for a load run by
		// the worker, this line is where the operator finds it.
		attrs = append(attrs, "rejects_file", res.RejectsFile)
	}
	log.InfoContext(ctx, "ingest finished", attrs...)
	return res, nil
}

// checkShrink returns ErrShrink, wrapped with the figures, when r, a
// whole-file load of dataset d about to replace what is served, loaded
// fewer than half the rows of the whole-file load served now in its
// scope. It runs in the swap's transaction, before anything is replaced.
func (s *Service) checkShrink(ctx context.Context, d medsales.Dataset, r store.LoadResult) error {
	served, ok, err := s.Store.ServedWhole(ctx, d, r.DataYear)
	if err != nil || !ok {
		return err
	}
	if r.Loaded*2 >= served.RowsLoaded {
		return nil
	}
	return fmt.Errorf("%w: %d rows loaded would replace the %d of load %d, served now; the source may be cut short "+
		"(a download without a length that ended early reads as a whole file); if the smaller file is meant, "+
		"load it with --allow-shrink (allowShrink in POST /v1/ingestions)", ErrShrink, r.Loaded, served.RowsLoaded, served.ID)
}

// unchanged reports whether the load of req, about to record v, of the
// opened source f, would load the version of the source served now: the
// load served in its scope (v's mode, and data year when known before the
// rows are read) has f's stamp. It then logs "ingest skipped" with the
// reason and counts the skip. A source without a stamp is never
// unchanged: the log says why it is loaded whatever it holds.
func (s *Service) unchanged(ctx context.Context, log *slog.Logger, req Request, v store.Version, f *source.File) (store.Version, bool, error) {
	if f.Stamp == "" {
		log.InfoContext(ctx, "ingest not conditional: the source has no stamp, so it is loaded",
			"file", v.SourceFile, "reason", f.NoStamp)
		return store.Version{}, false, nil
	}
	year := 0
	if v.DataYear != nil {
		year = *v.DataYear
	}
	served, same, err := s.Store.ServedWithStamp(ctx, req.Dataset, v.Mode, year, f.Stamp)
	if err != nil || !same {
		return store.Version{}, false, err
	}
	s.skipped(ctx, log, v, served)
	return served, true, nil
}

// skipped logs "ingest skipped" for the load about to record v, whose
// source is the version load served read, and counts it.
func (s *Service) skipped(ctx context.Context, log *slog.Logger, v, served store.Version) {
	s.Metrics.skip(v.Dataset)
	log.InfoContext(ctx, "ingest skipped", "file", v.SourceFile, "mode", v.Mode,
		"reason", fmt.Sprintf("source unchanged: load %d, served now, read the same source version", served.ID),
		"served_version", served.ID)
}

// reopener returns store.LoadInput.Reopen for the source src that Open
// read with opts and stamped stamp: a local regular file (or a member of a
// local zip) is opened again, and only while it is the version loaded; a
// pipe or standard input (read once) and a remote object (a second
// download for an error message) get nil.
func reopener(src string, opts source.Options, stamp string) func(ctx context.Context) (io.ReadCloser, error) {
	if !strings.HasPrefix(stamp, "file:") {
		return nil
	}
	return func(ctx context.Context) (io.ReadCloser, error) {
		f, err := source.Open(ctx, src, opts)
		if err != nil {
			return nil, err
		}
		if f.Stamp != stamp {
			f.Close()
			return nil, errors.New("the file changed since the load read it")
		}
		return f, nil
	}
}

// displayName names a source in the history of a load that could not open
// it: a URL (s3://, http://, https://) as its scheme, host and path only,
// without user info, query or fragment, which may hold a password or a
// presigned URL's signature; a local path as its file name. A URL without
// a path has no file name: taking the last element of the raw string
// recorded its user info and query whole.
func displayName(src string) string {
	lower := strings.ToLower(src)
	if !strings.HasPrefix(lower, "s3://") && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return filepath.Base(src)
	}
	if u, err := url.Parse(src); err == nil && u.Host != "" {
		return source.RedactURL(src)
	}
	// Unparsable (an s3 key with a stray "%"): the last element of its
	// redacted path.
	return path.Base(source.RedactURL(src))
}

func perSecond(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// countingReader counts the bytes the loader has read, for progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// rejectsFile is created on the first rejected row, so clean loads leave
// no empty files behind.
type rejectsFile struct {
	path string
	f    *os.File
	err  error
	rows int64 // rejected rows written (store.Tally writes one per call)
}

func (s *Service) openRejects(d medsales.Dataset, id int64) *rejectsFile {
	dir := s.RejectsDir
	if dir == "" {
		dir = filepath.Join("data", "rejects")
	}
	return &rejectsFile{path: filepath.Join(dir, fmt.Sprintf("%s-%d.rejects.csv", d, id))}
}

func (r *rejectsFile) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.rows++
	if r.f == nil {
		if err := os.MkdirAll(filepath.Dir(r.path), 0o750); err != nil {
			r.err = fmt.Errorf("create rejects file: %w", err)
			return 0, r.err
		}
		f, err := createNew(r.path)
		if err != nil {
			r.err = fmt.Errorf("create rejects file: %w", err)
			return 0, r.err
		}
		r.path = f.Name()
		if _, err := f.WriteString("line,reason\n"); err != nil {
			r.err = err
			return 0, err
		}
		r.f = f
	}
	return r.f.Write(p)
}

// createNew creates path, or, when a file of that name exists, path with
// "-2", "-3", … before its extension. Version ids start again at 1 in every
// database (a new one, one restored from a backup, the embedded default
// beside a PostgreSQL one sharing REJECTS_DIR): truncating the existing
// file would destroy the only record of an earlier load's rejected rows.
func createNew(path string) (*os.File, error) {
	base, ext := strings.TrimSuffix(path, ".rejects.csv"), ".rejects.csv"
	for k := 1; ; k++ {
		p := path
		if k > 1 {
			p = fmt.Sprintf("%s-%d%s", base, k, ext)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) && k < 1000 {
			continue
		}
		return f, err
	}
}

// remove deletes the closed rejects file, if one was written, and forgets
// its rows.
func (r *rejectsFile) remove() {
	if r.f != nil {
		_ = os.Remove(r.path)
	}
	r.rows = 0
}

// close returns the rejects file's path, or "" when nothing was rejected.
func (r *rejectsFile) close() (string, error) {
	if r.f == nil {
		return "", r.err
	}
	if err := r.f.Close(); err != nil {
		return r.path, fmt.Errorf("close rejects file: %w", err)
	}
	return r.path, r.err
}

// stillServed says what of dataset d is served after a failed load: the
// data served before it, unchanged, named by its newest successful load.
func (s *Service) stillServed(ctx context.Context, d medsales.Dataset) string {
	latest, err := s.Store.LatestLoads(ctx)
	if err != nil {
		return "nothing changed: the data served before this load still is"
	}
	f, ok := latest[d]
	if !ok {
		return "nothing changed: no " + string(d) + " data was served before this load, and none is"
	}
	return fmt.Sprintf("nothing changed: the %s data served before this load still is (its last successful load: %s, %s, %d rows)",
		d, f.SourceFile, f.LastIngested.UTC().Format(time.RFC3339), f.RecordCount)
}
