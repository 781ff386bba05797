package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// ScheduleEntry is one periodic load: every Every, load Request. ID names
// it for River: its dataset and source, and the data year the entry gave.
type ScheduleEntry struct {
	Request Request
	Every   time.Duration
	ID      string
}

// ParseSchedule reads INGEST_SCHEDULE: entries separated by ";", each
// "DATASET SOURCE EVERY [always] [year=YYYY]", for example
//
//	nppes s3://drop/nppes/weekly.zip 24h; partd s3://drop/cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h
//
// EVERY is a Go duration of at least one minute. A scheduled load is
// conditional (Request.IfChanged): it is skipped while the source has not
// changed since the load served now, since re-reading an 11 GB NPPES
// file the publisher has not changed only costs; "always" after EVERY
// loads it every time. "year=YYYY" gives the data year, as --data-year
// and dataYear do: for a Part B or Part D file whose name carries none,
// or to pick one year's file from an archive holding several (which can
// then be scheduled once per year). The options come in either order,
// each at most once. Errors name the entry.
func ParseSchedule(s string) ([]ScheduleEntry, error) {
	var out []ScheduleEntry
	seen := map[string]bool{}
	for n, raw := range strings.Split(s, ";") {
		fields := strings.Fields(raw)
		if len(fields) == 0 {
			continue
		}
		where := fmt.Sprintf("INGEST_SCHEDULE entry %d (%q)", n+1, redactFields(fields))
		if len(fields) < 3 || len(fields) > 5 {
			return nil, fmt.Errorf("%s: want DATASET SOURCE EVERY [always] [year=YYYY]", where)
		}
		every, err := time.ParseDuration(fields[2])
		if err != nil || every < time.Minute {
			return nil, fmt.Errorf("%s: EVERY must be a duration of at least 1m, like 24h", where)
		}
		req := Request{Dataset: medsales.Dataset(fields[0]), Source: fields[1], IfChanged: true}
		yearGiven := false
		for _, opt := range fields[3:] {
			switch {
			case opt == "always" && req.IfChanged:
				req.IfChanged = false
			case strings.HasPrefix(opt, "year=") && !yearGiven:
				y, err := strconv.Atoi(strings.TrimPrefix(opt, "year="))
				if err != nil || y == 0 {
					return nil, fmt.Errorf("%s: %q: the data year must be written year=YYYY, like year=2024", where, opt)
				}
				req.DataYear, yearGiven = y, true
			case opt == "always" || strings.HasPrefix(opt, "year="):
				return nil, fmt.Errorf("%s: %q is given twice", where, strings.SplitAfter(opt, "=")[0])
			default:
				return nil, fmt.Errorf("%s: after EVERY come only \"always\" (load even when the source has not changed) and \"year=YYYY\" (the data year); got %q", where, opt)
			}
		}
		// Queued as a River job: a source's credentials would be kept
		// in the jobs table. The release date is not bounded here: the
		// schedule is read once, at start, for loads that run as long as
		// the server does; each load checks it when it runs (Run), and
		// records a refusal in the history.
		if err := req.ValidateQueued(time.Time{}); err != nil {
			// The way medsales ingest and POST /v1/ingestions give a
			// missing data year is not the entry's.
			var e *errs.Error
			if name, yearless := req.yearless(); yearless && errors.As(err, &e) && e.Field == "dataYear" {
				return nil, fmt.Errorf("%s: dataYear: %s: the file name carries no data year (such as _D24_ or _DY24_): give it after EVERY as year=YYYY, or schedule a file whose name carries it", where, name)
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		id := scheduleID(req)
		if seen[id] {
			return nil, fmt.Errorf("%s: the same dataset, source and data year are scheduled twice", where)
		}
		seen[id] = true
		// Normalized, as POST /v1/ingestions queues it, so that the
		// same load queued by either is one job (a POST with ifChanged
		// for a conditional entry, without it for an "always" one).
		out = append(out, ScheduleEntry{Request: req.Normalized(), Every: every, ID: id})
	}
	return out, nil
}

// PeriodicJobs turns the schedule into River periodic jobs: the elected
// leader enqueues each load on its interval (and once at start), and
// JobArgs' unique options keep a load from queuing twice while one waits
// or runs.
func PeriodicJobs(entries []ScheduleEntry) []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, e := range entries {
		req := e.Request
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(e.Every), func() (river.JobArgs, *river.InsertOpts) {
			return JobArgs{Request: req}, nil
		}, &river.PeriodicJobOpts{ID: e.ID, RunOnStart: true}))
	}
	return out
}

// scheduleID names a periodic load for River (letters, digits and a few
// signs only): the dataset, a digest of the source and the data year its
// entry gave, if any (an entry without one keeps the name it had before
// entries could give one). r is the entry's request as written, before
// Normalized fills in a year from the file name.
func scheduleID(r Request) string {
	sum := sha256.Sum256([]byte(r.Source))
	id := "ingest-" + string(r.Dataset) + "-" + hex.EncodeToString(sum[:6])
	if r.DataYear != 0 {
		id += "-" + strconv.Itoa(r.DataYear)
	}
	return id
}

// redactFields returns an entry's fields for an error message, each URL
// (s3://, http://, https://) by its scheme, host and path only: a source
// with credentials is refused, and the message must not repeat them.
func redactFields(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f
		if carriesCredentials(f) {
			out[i] = source.RedactURL(f)
		}
	}
	return strings.Join(out, " ")
}
