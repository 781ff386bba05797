package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// handleProvider is GET /v1/providers/{npi}: the registry record with
// everything the datasets say about the provider, read in one snapshot
// (one round trip on PostgreSQL, see store.Store.Profile).
func (s *server) handleProvider(w http.ResponseWriter, r *http.Request) {
	out, err := s.Store.Profile(r.Context(), r.PathValue("npi"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// datasetsView is GET /v1/datasets: what is served now per dataset, and
// the load history.
type datasetsView struct {
	Current map[medsales.Dataset]store.Freshness `json:"current"`
	History []store.Version                      `json:"history"`
}

func (s *server) handleDatasets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := medsales.Dataset(q.Get("dataset"))
	if d != "" && !d.Valid() {
		s.fail(w, r, errs.Invalid("dataset", "unknown dataset %q", d))
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := httpx.ParseInt(v) // digits only: "+5" is refused
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, errs.Invalid("limit", "must be a number from 1 to 1000"))
			return
		}
		limit = int(n)
	}
	// One snapshot for both reads, so a load finishing between them cannot
	// make current and history disagree.
	var cur map[medsales.Dataset]store.Freshness
	var hist []store.Version
	err := s.Store.Snapshot(r.Context(), func(st *store.Store) error {
		var err error
		if cur, err = st.LatestLoads(r.Context()); err != nil {
			return err
		}
		hist, err = st.Versions(r.Context(), d, limit)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d != "" {
		for k := range cur {
			if k != d {
				delete(cur, k)
			}
		}
	}
	if hist == nil {
		hist = []store.Version{}
	}
	httpx.WriteJSON(w, http.StatusOK, datasetsView{Current: cur, History: hist})
}

// deadJobsTimeout bounds the look for dead jobs before a load is queued:
// a few queries and the dataset's lock.
const deadJobsTimeout = 30 * time.Second

// handleCreateIngestion enqueues a load: 202 with the job id. The worker
// records it in the dataset history when it starts. The same request
// while one is queued or running is not queued again (duplicate: true,
// with that job's id), unless that job's worker died mid-load.
func (s *server) handleCreateIngestion(w http.ResponseWriter, r *http.Request) {
	var req ingest.Request
	if err := httpx.Decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	// The server's clock bounds the release date the source's name
	// carries: a file named with a future one is refused now, not
	// queued to be refused by its worker.
	now := s.Now()
	// The fields first, then whether this server may read the source
	// (403), then what the source's name tells: a client told to fix the
	// data year of a file it may not load was then refused for the
	// source (QA).
	if err := req.ValidateFields(); err != nil {
		s.fail(w, r, err)
		return
	}
	if ingest.Climbs(req.Source) {
		s.fail(w, r, &errs.Error{Code: errs.CodeForbidden, Field: "source",
			Message: `this source is not allowed: a source must not contain "..", plain or percent-encoded (%2e%2e), which could climb out of the prefixes in INGEST_ALLOWED_SOURCES`})
		return
	}
	if !ingest.SourceAllowed(s.AllowedSources, req.Source) {
		s.fail(w, r, &errs.Error{Code: errs.CodeForbidden, Field: "source",
			Message: "this source is not allowed: sources must start with one of the prefixes in INGEST_ALLOWED_SOURCES"})
		return
	}
	if err := req.Validate(now); err != nil {
		s.fail(w, r, err)
		return
	}
	// The request becomes the job's args, kept in River's jobs table:
	// a source with credentials in it is refused, never stored.
	if err := req.ValidateQueued(now); err != nil {
		s.fail(w, r, err)
		return
	}
	// The same load with its defaults spelled out is the same job.
	req = req.Normalized()
	// A job of this dataset whose worker died mid-load would stay
	// running for hours, and the same request would be answered as its
	// duplicate: discard it first, so the load is queued again now. The
	// discard and the history update run on a context the client cannot
	// cancel: a disconnect between them would leave the history showing
	// the dead load running until the dataset's next load.
	if s.Store != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), deadJobsTimeout)
		if _, err := ingest.DiscardDeadJobs(ctx, s.Store, req.Dataset, s.Now, s.Logger); err != nil {
			s.Logger.WarnContext(r.Context(), "look for dead ingest jobs", "dataset", string(req.Dataset), "error", err.Error())
		}
		cancel()
	}
	// The prefixes go with the job: its worker follows the source's
	// redirects only within them.
	opts, err := ingest.QueuedOpts(s.AllowedSources, telemetry.RequestID(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.Jobs.Insert(r.Context(), ingest.JobArgs{Request: req}, opts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]any{
		"jobId": res.Job.ID, "dataset": req.Dataset, "source": req.Source, "duplicate": res.UniqueSkippedAsDuplicate,
	})
}

// ingestionView is the answer of GET /v1/ingestions/{id}.
type ingestionView struct {
	JobID   int64            `json:"jobId"`
	Dataset medsales.Dataset `json:"dataset,omitempty"`
	Source  string           `json:"source,omitempty"`
	// State is River's (available, running, completed, cancelled,
	// discarded, …); absent once River has deleted the finished job (a
	// day after it completed or was cancelled, a week after it was
	// discarded), when only its loads are left to tell.
	State       rivertype.JobState `json:"state,omitempty"`
	Attempt     int                `json:"attempt,omitempty"`
	MaxAttempts int                `json:"maxAttempts,omitempty"`
	CreatedAt   *time.Time         `json:"createdAt,omitempty"`
	AttemptedAt *time.Time         `json:"attemptedAt,omitempty"`
	FinalizedAt *time.Time         `json:"finalizedAt,omitempty"`
	Errors      []attemptError     `json:"errors"`
	// Loads are the history entries the job recorded (GET /v1/datasets
	// lists them too), oldest first: none before it starts or when it
	// was skipped as unchanged, more than one when a shutdown stopped
	// it and it ran again.
	Loads []store.Version `json:"loads"`
}

type attemptError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// handleGetIngestion answers GET /v1/ingestions/{id}: where the load
// POST /v1/ingestions queued stands (River's state of its job and the
// errors of its attempts) and the history entries it recorded. A job id
// that is no load's is a 404.
func (s *server) handleGetIngestion(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.ParseInt(r.PathValue("id"))
	if err != nil || id < 1 {
		s.fail(w, r, errs.NotFound("ingestion job"))
		return
	}
	ctx := r.Context()
	v := ingestionView{JobID: id, Errors: []attemptError{}, Loads: []store.Version{}}
	job, err := s.Jobs.Job(ctx, id)
	switch {
	case errors.Is(err, rivertype.ErrNotFound):
		job = nil
	case err != nil:
		s.fail(w, r, err)
		return
	case job.Kind != (ingest.JobArgs{}).Kind():
		s.fail(w, r, errs.NotFound("ingestion job"))
		return
	}
	if job != nil {
		var args ingest.JobArgs
		if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
			s.fail(w, r, fmt.Errorf("read the args of job %d: %w", id, err))
			return
		}
		v.Dataset, v.Source, v.State = args.Dataset, args.Source, job.State
		v.Attempt, v.MaxAttempts, v.AttemptedAt, v.FinalizedAt = job.Attempt, job.MaxAttempts, utcPtr(job.AttemptedAt), utcPtr(job.FinalizedAt)
		created := job.CreatedAt.UTC()
		v.CreatedAt = &created
		for _, e := range job.Errors {
			// The trace stays in River: it names the server's files. A
			// load refused as bad input was cancelled (river.JobCancel),
			// whose prefix tells an operator nothing.
			v.Errors = append(v.Errors, attemptError{At: e.At.UTC(), Attempt: e.Attempt, Error: strings.TrimPrefix(e.Error, "JobCancelError: ")})
		}
	}
	if s.Store != nil {
		loads, err := s.Store.JobVersions(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(loads) > 0 {
			v.Loads = loads
			v.Dataset = loads[0].Dataset
		}
	}
	if job == nil && len(v.Loads) == 0 {
		s.fail(w, r, errs.NotFound("ingestion job"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, v)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
