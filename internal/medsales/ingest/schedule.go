package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// ScheduleEntry is one periodic load: every Every, load Request.
type ScheduleEntry struct {
	Request Request
	Every   time.Duration
}

// ParseSchedule reads INGEST_SCHEDULE: entries separated by ";", each
// "DATASET SOURCE EVERY [always]", for example
//
//	nppes s3://drop/nppes/weekly.zip 24h; partd s3://drop/cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h
//
// EVERY is a Go duration of at least one minute. A scheduled load is
// conditional (Request.IfChanged): it is skipped while the source has not
// changed since the load served now, since re-reading an 11 GB NPPES
// file the publisher has not changed only costs; "always" after EVERY
// loads it every time. An entry cannot give a data year: a Part B or Part
// D file's name must carry it. Errors name the entry.
func ParseSchedule(s string) ([]ScheduleEntry, error) {
	var out []ScheduleEntry
	seen := map[string]bool{}
	for n, raw := range strings.Split(s, ";") {
		fields := strings.Fields(raw)
		if len(fields) == 0 {
			continue
		}
		where := fmt.Sprintf("INGEST_SCHEDULE entry %d (%q)", n+1, redactFields(fields))
		if len(fields) != 3 && len(fields) != 4 {
			return nil, fmt.Errorf("%s: want DATASET SOURCE EVERY [always]", where)
		}
		if len(fields) == 4 && fields[3] != "always" {
			return nil, fmt.Errorf("%s: the field after EVERY can only be \"always\" (load even when the source has not changed); got %q", where, fields[3])
		}
		every, err := time.ParseDuration(fields[2])
		if err != nil || every < time.Minute {
			return nil, fmt.Errorf("%s: EVERY must be a duration of at least 1m, like 24h", where)
		}
		req := Request{Dataset: medsales.Dataset(fields[0]), Source: fields[1], IfChanged: len(fields) == 3}
		// Queued as a River job: a source's credentials would be kept
		// in the jobs table.
		if err := req.ValidateQueued(); err != nil {
			// The way medsales ingest and POST /v1/ingestions give a
			// missing data year does not exist in an entry.
			var e *errs.Error
			if name, yearless := req.yearless(); yearless && errors.As(err, &e) && e.Field == "dataYear" {
				return nil, fmt.Errorf("%s: dataYear: %s: the file name carries no data year (such as _D24_ or _DY24_), and an INGEST_SCHEDULE entry cannot give one: schedule a file whose name carries it, or a .zip archive whose member's name does", where, name)
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		id := scheduleID(req)
		if seen[id] {
			return nil, fmt.Errorf("%s: the same dataset and source are scheduled twice", where)
		}
		seen[id] = true
		// Normalized, as POST /v1/ingestions queues it, so that the
		// same load queued by either is one job (a POST with ifChanged
		// for a conditional entry, without it for an "always" one).
		out = append(out, ScheduleEntry{Request: req.Normalized(), Every: every})
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
		}, &river.PeriodicJobOpts{ID: scheduleID(req), RunOnStart: true}))
	}
	return out
}

// scheduleID names a periodic load for River (letters, digits and a few
// signs only): the dataset and a digest of the source.
func scheduleID(r Request) string {
	sum := sha256.Sum256([]byte(r.Source))
	return "ingest-" + string(r.Dataset) + "-" + hex.EncodeToString(sum[:6])
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
