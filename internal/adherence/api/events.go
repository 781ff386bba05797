package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// MaxBatchEvents is the most events one POST /v1/events:batch may carry
// (the body is also capped at httpx.MaxBodyBytes, 1 MiB).
const MaxBatchEvents = 1000

// maxFuture is how far ahead of the server clock an event may claim to
// have happened (device clocks drift; more than a day is a bad clock).
const maxFuture = 24 * time.Hour

// eventInput is one event as a client sends it.
type eventInput struct {
	PatientID     string         `json:"patientId"`
	PlanID        string         `json:"planId"`
	DoseID        *int64         `json:"doseId"` // a pointer: 0 is an invalid id, not "none"
	Kind          string         `json:"kind"`
	Reason        string         `json:"reason"`
	SnoozeMinutes int            `json:"snoozeMinutes"`
	OccurredAt    *httpx.Instant `json:"occurredAt"`
	Source        string         `json:"source"`
	ClientEventID string         `json:"clientEventId"`
	DeviceID      string         `json:"deviceId"`
}

type matchJSON struct {
	DoseInstanceID     int64  `json:"doseInstanceId,omitempty"`
	Result             string `json:"result"`
	DoseStatus         string `json:"doseStatus,omitempty"`
	PossibleDoubleDose bool   `json:"possibleDoubleDose"`
}

type eventJSON struct {
	ID            string    `json:"id"`
	PatientID     string    `json:"patientId"`
	PlanID        string    `json:"planId"`
	DoseID        int64     `json:"doseId,omitempty"`
	Kind          string    `json:"kind"`
	Reason        string    `json:"reason,omitempty"`
	SnoozeMinutes int       `json:"snoozeMinutes,omitempty"`
	OccurredAt    time.Time `json:"occurredAt"`
	ReceivedAt    time.Time `json:"receivedAt"`
	Source        string    `json:"source"`
	ClientEventID string    `json:"clientEventId"`
	DeviceID      string    `json:"deviceId,omitempty"`
	Match         matchJSON `json:"match"`
}

func eventOut(e adherence.Event) eventJSON {
	return eventJSON{
		ID: e.ID, PatientID: e.PatientID, PlanID: e.PlanID, DoseID: e.RequestedDose, Kind: string(e.Kind),
		Reason: e.Reason, SnoozeMinutes: e.SnoozeMinutes, OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt,
		Source: string(e.Source), ClientEventID: e.ClientEventID, DeviceID: e.DeviceID,
		Match: matchJSON{DoseInstanceID: e.DoseInstanceID, Result: string(e.Result), DoseStatus: string(e.DoseStatus), PossibleDoubleDose: e.DoubleDose},
	}
}

var (
	reasonCode = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	clientID   = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`) // printable ASCII, no spaces
)

// event validates in and turns it into a store input for the caller at
// received. Field names in errors are the JSON names. An item without a
// patient id is an error; once the item names a patient, its refusal
// (a field that fails validation, a patient the caller may not reach) is
// the item's Refusal, which the store answers and audits as a failed
// attempt on that patient's record, with the items it commits.
func (s *server) event(r *http.Request, in eventInput, received time.Time) (store.EventInput, error) {
	switch {
	case in.PatientID == "":
		return store.EventInput{}, errs.Invalid("patientId", "is required")
	case !isUUID(in.PatientID):
		return store.EventInput{}, errs.Invalid("patientId", "must be a patient id")
	}
	item, err := s.checkEvent(r, in, received)
	if err != nil {
		if !isRefusal(err) {
			return store.EventInput{}, err // not the caller's attempt failing (a database error)
		}
		p := principalOf(r)
		item = store.EventInput{Actor: actor(r), Event: adherence.Event{OrgID: p.OrgID, PatientID: in.PatientID}, Refusal: err}
	}
	return item, nil
}

// checkEvent validates in, whose patientId is an id, and checks that the
// caller may record it.
func (s *server) checkEvent(r *http.Request, in eventInput, received time.Time) (store.EventInput, error) {
	p := principalOf(r)
	var dose int64
	if in.DoseID != nil {
		dose = *in.DoseID
	}
	e := adherence.Event{
		OrgID: p.OrgID, PatientID: in.PatientID, PlanID: in.PlanID, RequestedDose: dose,
		Kind: adherence.EventKind(in.Kind), Reason: in.Reason, SnoozeMinutes: in.SnoozeMinutes,
		Source: adherence.EventSource(in.Source), ClientEventID: in.ClientEventID, DeviceID: in.DeviceID,
		ReceivedAt: received,
	}
	switch {
	case in.PlanID == "" && in.DoseID == nil:
		return store.EventInput{}, errs.Invalid("planId", "planId or doseId is required")
	case in.PlanID != "" && !isUUID(in.PlanID):
		return store.EventInput{}, errs.Invalid("planId", "must be a plan id")
	case in.DoseID != nil && *in.DoseID <= 0:
		return store.EventInput{}, errs.Invalid("doseId", "must be a dose instance id")
	}
	switch e.Kind {
	case adherence.EventTaken, adherence.EventSkipped, adherence.EventSnoozed, adherence.EventOpened:
	case "":
		return store.EventInput{}, errs.Invalid("kind", "is required")
	default:
		return store.EventInput{}, errs.Invalid("kind", "must be one of taken, skipped, snoozed, opened")
	}
	switch e.Source {
	case adherence.SourceApp, adherence.SourceSMS, adherence.SourceDevice, adherence.SourceClinician:
	case "":
		return store.EventInput{}, errs.Invalid("source", "is required")
	default:
		return store.EventInput{}, errs.Invalid("source", "must be one of app, sms, device, clinician")
	}
	if e.Kind == adherence.EventSkipped {
		if in.Reason == "" {
			return store.EventInput{}, errs.Invalid("reason", "a skip needs a reason code (for example side_effects, forgot, ran_out, felt_better, cost, doctor_advised, other)")
		}
		if !reasonCode.MatchString(in.Reason) {
			return store.EventInput{}, errs.Invalid("reason", "must be a code of lowercase letters, digits and underscores, at most 64 characters")
		}
	} else if in.Reason != "" {
		return store.EventInput{}, errs.Invalid("reason", "only skipped events carry a reason")
	}
	if e.Kind == adherence.EventSnoozed {
		if in.SnoozeMinutes < 0 || in.SnoozeMinutes > 1440 {
			return store.EventInput{}, errs.Invalid("snoozeMinutes", "must be between 0 and 1440 minutes (0 or absent: unspecified)")
		}
	} else if in.SnoozeMinutes != 0 {
		return store.EventInput{}, errs.Invalid("snoozeMinutes", "only snoozed events carry snoozeMinutes")
	}
	if e.Kind == adherence.EventOpened && e.Source != adherence.SourceDevice {
		return store.EventInput{}, errs.Invalid("kind", "opened events come from source device")
	}
	if in.OccurredAt == nil {
		return store.EventInput{}, errs.Invalid("occurredAt", "is required")
	}
	e.OccurredAt = in.OccurredAt.UTC().Truncate(time.Microsecond)
	if e.OccurredAt.After(received.Add(maxFuture)) {
		return store.EventInput{}, errs.Invalid("occurredAt", "is more than 24 hours in the future")
	}
	if !clientID.MatchString(in.ClientEventID) {
		return store.EventInput{}, errs.Invalid("clientEventId", "is required: 1 to 128 printable ASCII characters without spaces")
	}
	if utf8.RuneCountInString(in.DeviceID) > 128 || adherence.HasControl(in.DeviceID) {
		return store.EventInput{}, errs.Invalid("deviceId", "must be at most 128 characters, without control characters")
	}
	if in.DeviceID != "" && adherence.Blank(in.DeviceID) {
		// Spaces or a zero-width character name no device (QA).
		return store.EventInput{}, errs.Invalid("deviceId", "must have a visible character, or be left out")
	}

	// Who may record what: staff and integrations for any patient of
	// their org (the store checks the org); caregivers for linked
	// patients; patients for themselves. Clinician-sourced events come
	// from staff or integrations only.
	notVisible := func() (store.EventInput, error) {
		return store.EventInput{}, &errs.Error{Code: errs.CodeNotFound, Field: "patientId", Message: "patient not found"}
	}
	switch p.Role {
	case auth.RoleAdmin, auth.RoleClinician, auth.RoleIntegration:
	case auth.RolePatient:
		if p.Subject != in.PatientID {
			return notVisible()
		}
	case auth.RoleCaregiver:
		linked, err := s.Store.IsLinked(r.Context(), p.OrgID, in.PatientID, p.Subject)
		if err != nil {
			return store.EventInput{}, err
		}
		if !linked {
			return notVisible()
		}
	default:
		return store.EventInput{}, errs.Forbidden("role %s may not record events", p.Role)
	}
	if e.Source == adherence.SourceClinician && p.Role != auth.RoleAdmin && p.Role != auth.RoleClinician && p.Role != auth.RoleIntegration {
		return store.EventInput{}, errs.Invalid("source", "clinician events are recorded by clinical staff")
	}
	return store.EventInput{Actor: actor(r), Event: e}, nil
}

// handleRecordEvent answers POST /v1/events: 201 with the recorded event
// once it is committed; a retry of the same (source, clientEventId) gets
// the original event again, with Idempotent-Replayed: true.
func (s *server) handleRecordEvent(w http.ResponseWriter, r *http.Request) {
	received := s.Now()
	var in eventInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	item, err := s.event(r, in, db(received))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.Ingest.Submit(r.Context(), []store.EventInput{item}, received)
	if err != nil {
		// Not "not recorded": a request that ran out of time (REQUEST_TIMEOUT)
		// while its group waited for the database is answered here, and
		// the group may commit after all. The retry tells: a recorded
		// event comes back as a replay.
		s.fail(w, r, errs.E(errs.CodeUnavailable, "the event's commit could not be confirmed (it may or may not be recorded); retry with the same clientEventId"))
		s.submitFailed(r, "record event failed", err)
		return
	}
	if out[0].Err != nil {
		// The refused attempt was audited by the store, with the group.
		s.fail(w, r, out[0].Err)
		return
	}
	if out[0].Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpx.WriteJSON(w, http.StatusCreated, eventOut(out[0].Event))
}

type batchInput struct {
	Events []json.RawMessage `json:"events"`
}

type batchItemJSON struct {
	Index    int            `json:"index"`
	Status   int            `json:"status"`
	Replayed bool           `json:"replayed,omitempty"`
	Event    *eventJSON     `json:"event,omitempty"`
	Error    *httpx.Problem `json:"error,omitempty"`
}

// handleRecordBatch answers POST /v1/events:batch with one result per item
// (200, in request order): status 201 and the event for recorded items,
// the problem for rejected ones. Valid items are committed even when
// others are rejected.
func (s *server) handleRecordBatch(w http.ResponseWriter, r *http.Request) {
	received := s.Now()
	var whole struct {
		Events []*eventInput `json:"events"`
	}
	complete := func() bool { return !slices.Contains(whole.Events, nil) }
	var in batchInput
	decoded, err := httpx.DecodeBatch(w, r, &whole, complete, &in)
	if err != nil {
		var tooLarge *errs.Error
		if errors.As(err, &tooLarge) && tooLarge.Code == errs.CodeTooLarge && tooLarge.Field == "" {
			// Over 1 MiB: the events are too many or too large, the
			// field a batch over 1,000 events names too.
			tooLarge.Field = "events"
		}
		s.fail(w, r, err)
		return
	}
	n, null := len(in.Events), in.Events == nil
	if decoded {
		n, null = len(whole.Events), whole.Events == nil
	}
	switch {
	case null:
		s.fail(w, r, errs.Invalid("events", "is required"))
		return
	case n == 0:
		s.fail(w, r, errs.Invalid("events", "must hold at least one event"))
		return
	case n > MaxBatchEvents:
		tooMany := errs.E(errs.CodeTooLarge, "a batch holds at most %d events, this one %d", MaxBatchEvents, n)
		tooMany.Field = "events"
		s.fail(w, r, tooMany)
		return
	}
	reqID := telemetry.RequestID(r.Context())
	results := make([]batchItemJSON, n)
	var items []store.EventInput
	var idx []int
	for i := range n {
		results[i].Index = i
		var ev eventInput
		var err error
		if decoded {
			ev = *whole.Events[i]
		} else {
			err = httpx.DecodeBytes(in.Events[i], &ev)
		}
		var itemErr *errs.Error
		if errors.As(err, &itemErr) && itemErr.Field == "(body)" {
			itemErr.Field = "" // the item as a whole, named by the prefix below
		}
		var item store.EventInput
		if err == nil {
			item, err = s.event(r, ev, db(received))
		}
		if err != nil {
			s.itemFailed(r, &results[i], errs.PrefixField(err, "events["+strconv.Itoa(i)+"]"), reqID)
			continue
		}
		items = append(items, item)
		idx = append(idx, i)
	}
	if len(items) > 0 {
		out, err := s.Ingest.Submit(r.Context(), items, received)
		if err != nil {
			s.submitFailed(r, "record batch failed", err)
			s.fail(w, r, errs.E(errs.CodeUnavailable, "the batch's commit could not be confirmed (its events may or may not be recorded); retry it unchanged"))
			return
		}
		// An item whose commit could not be confirmed (the database
		// connection dropped while the group was recorded one item at a
		// time) may be recorded or not: the batch is answered 503, as a
		// batch whose commit failed is, and resent unchanged, which
		// replays what was recorded. Answered 200 with the item refused
		// (QA), a client would drop events that were never recorded.
		for _, o := range out {
			if errs.CodeOf(o.Err) == errs.CodeUnavailable {
				s.Logger.ErrorContext(r.Context(), "record batch failed", "error", o.Err.Error())
				s.fail(w, r, errs.E(errs.CodeUnavailable, "the batch's commit could not be confirmed (its events may or may not be recorded); retry it unchanged"))
				return
			}
		}
		for k, o := range out {
			res := &results[idx[k]]
			if o.Err != nil {
				// Refused attempts on patients' records were audited
				// by the store, in the transaction of the accepted
				// items.
				s.itemFailed(r, res, errs.PrefixField(o.Err, "events["+strconv.Itoa(idx[k])+"]"), reqID)
				continue
			}
			ev := eventOut(o.Event)
			res.Status, res.Event, res.Replayed = http.StatusCreated, &ev, o.Replayed
		}
	}
	accepted := 0
	for _, res := range results {
		if res.Status == http.StatusCreated {
			accepted++
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"accepted": accepted, "rejected": len(results) - accepted, "results": results})
}

// submitFailed logs an ingestion that was not confirmed: at WARN when the
// request's own context ended (the client gave up, or REQUEST_TIMEOUT
// passed while the group waited), which the docs tell clients to retry
// and is no fault of the server's own; at ERROR otherwise (QA: every
// abandoned request paged as an error).
func (s *server) submitFailed(r *http.Request, msg string, err error) {
	if r.Context().Err() != nil {
		s.Logger.WarnContext(r.Context(), msg+": the request ended before its commit was confirmed", "error", err.Error())
		return
	}
	s.Logger.ErrorContext(r.Context(), msg, "error", err.Error())
}

func (s *server) itemFailed(r *http.Request, res *batchItemJSON, err error, reqID string) {
	p, internal := httpx.ProblemFor(err, reqID)
	if internal {
		s.Logger.ErrorContext(r.Context(), "batch item failed", "error", err.Error())
	}
	res.Status, res.Error = p.Status, &p
}

// handleListEvents answers GET /v1/patients/{id}/events?from=&to=
// [&limit=&after=] with the patient's events in the window (default the
// last 14 days), orphans included, oldest first.
func (s *server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	pat, _, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionRead, "AdherenceEvent", "*", pat.ID)
	from, to, err := s.window(r, 14*24*time.Hour, 92*24*time.Hour)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Paged when asked (limit or after given): at most limit events, and
	// "next", the id to pass as after, while more follow. Without either,
	// the window is listed whole or refused, never cut short unsaid.
	q := r.URL.Query()
	after := q.Get("after")
	paged := q.Has("after") || q.Has("limit")
	n, err := queryLimit(q, maxListedEvents, maxListedEvents)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.Store.ListEvents(r.Context(), pat.OrgID, pat.ID, from, to, after, n+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var next string
	if len(events) > n {
		if !paged {
			s.fail(w, r, errs.E(errs.CodeTooLarge, "more than %d events in the window: narrow from and to, or page through them with limit and after", maxListedEvents))
			return
		}
		events = events[:n]
		next = events[n-1].ID
	}
	if err := s.auditRead(r, "AdherenceEvent", "*", pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]eventJSON, 0, len(events))
	for _, e := range events {
		out = append(out, eventOut(e))
	}
	body := map[string]any{"events": out}
	if paged {
		body["next"] = nil // the last page
		if next != "" {
			body["next"] = next
		}
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

// window reads from/to (RFC 3339) with to defaulting to now and from to
// to−def; the window may span at most max.
func (s *server) window(r *http.Request, def, max time.Duration) (time.Time, time.Time, error) {
	q := r.URL.Query()
	to, err := parseTimeParam(q, "to")
	if err != nil {
		return to, to, err
	}
	// Given or not is read off the query, not the value: 0001-01-01T00:00:00Z
	// is Go's zero time and a valid bound.
	toGiven := q.Get("to") != ""
	if !toGiven {
		to = s.Now().UTC()
	}
	from, err := parseTimeParam(q, "from")
	if err != nil {
		return from, to, err
	}
	if q.Get("from") == "" {
		from = notBeforeYear1(to.Add(-def))
	}
	if !to.After(from) {
		if !toGiven {
			// Only from was given: it is the one at fault.
			return from, to, errs.Invalid("from", "must be before to (default: now)")
		}
		return from, to, errs.Invalid("to", "must be after from")
	}
	if to.Sub(from) > max {
		if !toGiven {
			// Only from was given: it is the one too far back.
			return from, to, errs.Invalid("from", "the window may span at most %d days (to default: now)", int(max/(24*time.Hour)))
		}
		return from, to, errs.Invalid("to", "the window may span at most %d days", int(max/(24*time.Hour)))
	}
	return from, to, nil
}

// earliestInstant is the first instant a bound may be: 0001-01-01T00:00:00Z,
// the first of the years 1 to 9999 that RFC 3339 (and FHIR's dateTime)
// can write.
var earliestInstant = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// notBeforeYear1 keeps a defaulted window start (the end minus the default
// span) in the year 1: a window ending early in the year 1 started in the
// year 0, which the answer then stated ("0000-12-03T00:00:00Z").
func notBeforeYear1(t time.Time) time.Time {
	if t.Before(earliestInstant) {
		return earliestInstant
	}
	return t
}

// db truncates t as the database stores instants (UTC, microseconds).
func db(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// isUUID reports whether id is a canonical lowercase UUID, the only form
// record ids take.
func isUUID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && len(id) == 36 && u.String() == id
}

// maxListedEvents is the most events one list returns; a larger window is
// refused rather than silently cut.
const maxListedEvents = 5000
