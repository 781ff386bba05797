package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Load modes.
const (
	ModeFull      = "full"      // the file is the whole dataset: replace the live data
	ModeIncrement = "increment" // NPPES weekly file: upsert by NPI
)

// DefaultMaxRejectRatio is the share of rejected rows above which a load
// fails when LoadInput.MaxRejectRatio is 0.
const DefaultMaxRejectRatio = 0.01

// progressEvery is how many rows pass between two Progress calls.
const progressEvery = 50_000

// Centroids maps a 5-digit ZIP code to the coordinates of its centroid
// (the Census ZCTA internal point).
type Centroids interface {
	Lookup(zip5 string) (lat, lon float64, ok bool)
}

// LoadInput is what every dataset loader takes.
type LoadInput struct {
	File           string                                // base file name, used in messages, rejects and the version row
	Reader         io.Reader                             // the CSV stream (already unzipped)
	Mode           string                                // "full" (default) or "increment" (NPPES weekly)
	DataYear       int                                   // CMS data / program year; 0 = take it from the file when the file carries it
	Rejects        io.Writer                             // rejected rows are written here as CSV "line,reason" (nil = discard)
	MaxRejectRatio float64                               // load fails when rejected/(loaded+rejected) exceeds it; 0 means the default 0.01
	Progress       func(rowsRead int64)                  // called every ~50k rows and at the end; may be nil
	Finalize       func(tx *db.Tx, res LoadResult) error // run in the swap transaction (the lead marks the dataset version); may be nil
	Centroids      Centroids                             // ZIP → coordinates for NPPES practice addresses; may be nil
	// CentroidsVersion is the id of the newest successful zcta load when
	// Centroids were read (0: none, the embedded table): a gazetteer that
	// commits during the load is caught up with in the swap (see
	// catchUpCentroids).
	CentroidsVersion int64
	// ReleaseDate is the release the file's name gives (zero: it gives
	// none). An NPPES increment of a release no older than every release
	// loaded applies all its records (see LoadNPPES).
	ReleaseDate time.Time
	// Reopen, when set, opens the file again from its first byte, for a
	// second look at a load that failed: the lines of a key the file
	// repeats (see duplicateError). Nil for a source read only once (a
	// pipe, standard input, a remote object).
	Reopen func(ctx context.Context) (io.ReadCloser, error)
}

// LoadResult says what a load did.
type LoadResult struct {
	Loaded, Rejected int64
	// Skipped counts the rows of empty fields (",,,,", left by a
	// spreadsheet that re-saved the file) and blank lines passed over:
	// neither loaded nor rejected.
	Skipped int64
	// Stale counts the records of an NPPES increment left out because the
	// record loaded already is newer (see LoadNPPES); they are not in
	// Loaded.
	Stale    int64
	DataYear int
}

// mode returns the load mode, defaulting to full, or an error for an
// unknown mode.
func (in LoadInput) mode() (string, error) {
	switch in.Mode {
	case "", ModeFull:
		return ModeFull, nil
	case ModeIncrement:
		return ModeIncrement, nil
	default:
		return "", fmt.Errorf("%s: unknown load mode %q (want %q or %q)", in.File, in.Mode, ModeFull, ModeIncrement)
	}
}

// rowReader is what finishing a load needs of a dataset reader: the error
// that stopped it, and the rows of empty fields it skipped.
type rowReader interface {
	Err() error
	Skipped() int64
}

// Tally counts a loader's rows, writes its rejects and reports progress.
// Every loader uses one so that rejects files, progress and the reject
// threshold behave the same for every dataset.
type Tally struct {
	file     string
	rejects  io.Writer
	progress func(int64)
	maxRatio float64
	// replaces is true for a full load, which swaps the live data for
	// the file's rows: an empty result would wipe what is served.
	replaces bool

	Loaded, Rejected int64
	// Skipped is LoadResult.Skipped, set by the loader from its reader
	// before Done.
	Skipped int64
	// Stale is how many of Loaded were left out after all (see
	// LoadResult.Stale).
	Stale int64
	read  int64
	next  int64
	line  []byte
	werr  error
	// first is the first rejected row, "line N: reason", quoted by the
	// threshold error so that it says what is wrong with the file (an
	// encoding, a date format) and not only how much.
	first string
}

// NewTally starts counting the rows of in.
func NewTally(in LoadInput) *Tally {
	ratio := in.MaxRejectRatio
	if ratio <= 0 {
		ratio = DefaultMaxRejectRatio
	}
	// An unknown mode is refused by the loader before any row is read;
	// only an increment leaves the rows it does not carry alone.
	replaces := in.Mode != ModeIncrement
	return &Tally{file: in.File, rejects: in.Rejects, progress: in.Progress, maxRatio: ratio, replaces: replaces, next: progressEvery}
}

// Row counts a row read from the file (loaded or rejected) and reports
// progress every ~50k rows.
func (t *Tally) Row() {
	t.read++
	if t.progress != nil && t.read >= t.next {
		t.progress(t.read)
		t.next = t.read + progressEvery
	}
}

// Reject records a rejected row: it counts it and writes "line,reason" as a
// CSV record to the rejects writer. A failure to write the rejects file is
// kept and returned by Err.
func (t *Tally) Reject(line int, reason string) {
	t.Rejected++
	if t.first == "" {
		t.first = fmt.Sprintf("line %d: %s", line, reason)
	}
	if t.rejects == nil || t.werr != nil {
		return
	}
	b := strconv.AppendInt(t.line[:0], int64(line), 10)
	b = append(b, ',')
	b = appendCSVField(b, reason)
	b = append(b, '\n')
	t.line = b
	if _, err := t.rejects.Write(b); err != nil {
		t.werr = fmt.Errorf("%s: write rejects: %w", t.file, err)
	}
}

// Err returns the error writing the rejects file, if any.
func (t *Tally) Err() error { return t.werr }

// Done reports the final progress and checks the reject threshold: it
// returns an error naming the file when rejected/(loaded+rejected) exceeds
// the maximum ratio, or when the rejects could not be written. A full
// load that loaded no row fails too: a truncated download or a file cut
// down to its header must not replace the live data with nothing, while an
// empty weekly increment simply changes nothing.
func (t *Tally) Done() error {
	if t.progress != nil {
		t.progress(t.read)
	}
	if t.werr != nil {
		return t.werr
	}
	total := t.Loaded + t.Rejected
	if share := float64(t.Rejected) / float64(total); total > 0 && share > t.maxRatio {
		got, allowed := percents(share, t.maxRatio)
		return fmt.Errorf("%s: %d of %d rows rejected (%s), more than the allowed %s: nothing loaded; the first: %s",
			t.file, t.Rejected, total, got, allowed, t.first)
	}
	switch {
	case t.replaces && total == 0 && t.Skipped > 0:
		return fmt.Errorf("%s: no data rows (%d empty rows skipped): refusing to replace the live data with an empty file", t.file, t.Skipped)
	case t.replaces && total == 0:
		return fmt.Errorf("%s: no data rows: refusing to replace the live data with an empty file", t.file)
	case t.replaces && t.Loaded == 0:
		return fmt.Errorf("%s: all %d rows rejected: refusing to replace the live data with an empty file; the first: %s", t.file, t.Rejected, t.first)
	}
	return nil
}

// percents writes a share of rejected rows above the maximum share max as
// percentages, with two decimals or as many more as it takes for them to
// differ: 1001 of 100000 rows is 1.001%, more than the allowed 1.000%, not
// 1.00%, more than the allowed 1.00%.
func percents(share, max float64) (got, allowed string) {
	for prec := 2; ; prec++ {
		got = strconv.FormatFloat(100*share, 'f', prec, 64) + "%"
		allowed = strconv.FormatFloat(100*max, 'f', prec, 64) + "%"
		if got != allowed || prec == 9 {
			return got, allowed
		}
	}
}

// Result returns the counts as a LoadResult.
func (t *Tally) Result(dataYear int) LoadResult {
	return LoadResult{Loaded: t.Loaded - t.Stale, Rejected: t.Rejected, Skipped: t.Skipped, Stale: t.Stale, DataYear: dataYear}
}

// appendCSVField appends s as one CSV field, quoted when it needs to be.
func appendCSVField(b []byte, s string) []byte {
	quote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', ',', '\n', '\r':
			quote = true
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// maxIndexedValue is the longest value, in bytes, that a loader writes to a
// text column PostgreSQL indexes (B-tree): an index entry holds at most
// about 2,700 bytes, and a longer value failed the whole PostgreSQL load
// while its indexes were built, where SQLite stored it. The row is
// rejected on both engines instead (see checkIndexed). Two such values of
// a two-column index (last and first name, state and city) still fit
// together; the publishers' values are a few dozen characters.
const maxIndexedValue = 1000

// checkIndexed returns why a value of n bytes of column, which an index
// covers, is too long to load, or nil. The reason names the column as
// header (the reader's ColumnName) says the file writes it, asked only
// for a value too long: the file may use an alias of the loader's name.
func checkIndexed(column string, n int, header func(name string) string) error {
	if n > maxIndexedValue {
		return fmt.Errorf("%s is %d bytes long, more than the %d an indexed value may have", header(column), n, maxIndexedValue)
	}
	return nil
}

// uniqueKey is a key of a loaded table that the file must not repeat.
type uniqueKey struct {
	table  string // live table
	column string // key column
	label  string // what messages call it ("NPI", "taxonomy code")
	header string // the file's header name of its column ("NPI", "Code")
}

// duplicateError turns a unique violation met while committing a load
// (building a unique index on a staging table, or merging staged rows into
// the live table) into a one-line error naming the file and the repeated
// key, found by reading the staged rows of keys in order. It returns nil
// when err is not a unique violation. The staging tables must still exist
// (the caller has not aborted the load yet).
func duplicateError(ctx context.Context, in LoadInput, rep *Replace, keys []uniqueKey, err error) error {
	if !db.IsUniqueViolation(err) {
		return nil
	}
	for _, k := range keys {
		v, ok := rep.duplicate(ctx, k.table, k.column)
		if ok {
			where := ""
			if lines := keyLines(ctx, in, k.header, v); len(lines) == 2 {
				where = fmt.Sprintf(" (lines %d and %d)", lines[0], lines[1])
			}
			return &errs.Error{Code: errs.CodeInvalid,
				Message: fmt.Sprintf("%s: %s %s occurs more than once%s: nothing loaded", in.File, k.label, v, where)}
		}
	}
	return &errs.Error{Code: errs.CodeInvalid,
		Message: fmt.Sprintf("%s: a key occurs more than once (%s): nothing loaded", in.File, uniqueDetail(err))}
}

// keyLines reads the file again (in.Reopen) for the lines of the first two
// records whose column header holds v, so that the operator is told where
// the repeated key is: the staged rows keep no line numbers, and a set of
// every key read would not fit in a load's constant memory (15 million
// Open Payments records a year). It returns nil when the file cannot be
// read again or the two are not found (a record rejected for another
// reason holds v, say, or the file changed).
func keyLines(ctx context.Context, in LoadInput, header, v string) []int {
	if in.Reopen == nil || header == "" {
		return nil
	}
	rc, err := in.Reopen(ctx)
	if err != nil {
		return nil
	}
	defer rc.Close()
	rd, err := dataset.NewReader(rc, in.File, []dataset.Column{{Name: header, Required: true}}, dataset.Options{})
	if err != nil {
		return nil
	}
	var lines []int
	for rd.Next() && ctx.Err() == nil {
		if strings.EqualFold(strings.TrimSpace(rd.String(0)), v) {
			if lines = append(lines, rd.Line()); len(lines) == 2 {
				return lines
			}
		}
	}
	return nil
}

// uniqueDetail is what the engine says about a unique violation without
// naming a staging table or index: PostgreSQL's detail ("Key (npi)=(…) is
// duplicated."), SQLite's column list.
func uniqueDetail(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Detail != "" {
		return strings.TrimSuffix(pgErr.Detail, ".")
	}
	msg := err.Error()
	if _, cols, ok := strings.Cut(msg, "UNIQUE constraint failed: "); ok {
		if i := strings.IndexAny(cols, "\n("); i >= 0 {
			cols = cols[:i]
		}
		return "columns " + strings.TrimSpace(stagingRE2.ReplaceAllString(cols, "$1"))
	}
	return "unique key"
}

// stagingRE2 matches a staging table name inside a message, capturing the
// live table's name.
var stagingRE2 = regexp.MustCompile(`([a-z_][a-z0-9_]*)` + stagingInfix + `[0-9a-f]{8}`)
