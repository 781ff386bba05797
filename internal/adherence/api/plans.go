package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/report"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/rfc3339"
)

func (s *server) handleCreatePlan(w http.ResponseWriter, r *http.Request) {
	pat, err := s.writablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in planInput
	nulls, err := decodeWithNulls(w, r, &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.takeNulls(nulls); err != nil {
		s.fail(w, r, err)
		return
	}
	plan := adherence.Plan{OrgID: pat.OrgID, PatientID: pat.ID, Status: adherence.PlanActive, StartAt: s.Now().UTC()}
	if err := in.apply(&plan, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.CreatePlan(r.Context(), actor(r), &plan); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/plans/"+plan.ID)
	httpx.WriteJSON(w, http.StatusCreated, planOut(plan, pat, viewFull))
}

func (s *server) handleListPlans(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pat, v, err := s.readablePatient(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	plans, err := s.Store.ListPlans(r.Context(), pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "MedicationRequest", "*", pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]planJSON, 0, len(plans))
	for _, p := range plans {
		out = append(out, planOut(p, pat, v))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"plans": out})
}

// handleGetPlan returns a plan; ?include=doses adds its dose instances in
// [from, to) (default: now .. now+14 days).
func (s *server) handleGetPlan(w http.ResponseWriter, r *http.Request) {
	plan, pat, v, err := s.readablePlan(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		planJSON
		Doses []doseJSON `json:"doses,omitempty"`
		// DosesTruncated says the window holds more doses than limit.
		DosesTruncated bool `json:"dosesTruncated,omitempty"`
	}{planJSON: planOut(plan, pat, v)}
	// include names what to add: only doses. Another value (a typo, include=dose)
	// answered the plan alone with a 200, as if the doses had been left out.
	inc := r.URL.Query().Get("include")
	if inc != "" && inc != "doses" {
		s.fail(w, r, errs.Invalid("include", "must be doses"))
		return
	}
	include := inc == "doses"
	if include {
		// The window is checked before anything is read or recorded.
		f, err := s.doseFilter(r.URL.Query())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f.PlanID = plan.ID
		doses, truncated, err := s.listDoses(r, plan.OrgID, f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Doses, out.DosesTruncated = dosesOut(doses), truncated
	}
	if err := s.auditRead(r, "MedicationRequest", plan.ID, plan.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	// The included doses are a read of the patient's dose instances, as
	// GET /v1/plans/{id}/doses is, and are recorded as one.
	if include {
		if err := s.auditRead(r, "DoseInstance", "*", plan.PatientID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (s *server) handleUpdatePlan(w http.ResponseWriter, r *http.Request) {
	plan, err := s.writablePlan(r, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in planInput
	nulls, err := decodeWithNulls(w, r, &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.takeNulls(nulls); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkVersion(in.Version); err != nil {
		s.fail(w, r, err)
		return
	}
	for attempt := 1; ; attempt++ {
		expected := plan.Version
		if in.Version != nil {
			expected = *in.Version
		}
		if err := in.apply(&plan, false); err != nil {
			s.fail(w, r, err)
			return
		}
		err := s.Store.UpdatePlan(r.Context(), actor(r), &plan, expected)
		if retryPatch(err, in.Version, attempt) {
			// Another request changed the plan since it was read: the
			// change is applied to what that one stored.
			if plan, err = s.Store.GetPlan(r.Context(), plan.OrgID, plan.ID); err == nil {
				continue
			}
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		break
	}
	httpx.WriteJSON(w, http.StatusOK, planOut(plan, adherence.Patient{}, viewFull))
}

func (s *server) handleSetPlanStatus(status adherence.PlanStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if err := auth.Require(p, staff...); err != nil {
			s.auditPlanWriteRefused(r, err, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
			s.fail(w, r, err)
			return
		}
		if err := noBody(w, r); err != nil {
			s.auditPlanWriteRefused(r, err, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
			s.fail(w, r, err)
			return
		}
		plan, err := s.Store.SetPlanStatus(r.Context(), actor(r), p.OrgID, r.PathValue("id"), status)
		if err != nil {
			s.auditPlanWriteRefused(r, err, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
			s.fail(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, planOut(plan, adherence.Patient{}, viewFull))
	}
}

// noBody refuses a body an action takes nothing from (pause, resume, stop,
// deactivate, reactivate, acknowledge) unless it is empty or {}: a
// malformed one or one with a field was ignored while the action was
// carried out (QA), where every other request refuses it.
func noBody(w http.ResponseWriter, r *http.Request) error {
	var none struct{}
	return httpx.DecodeOptional(w, r, &none)
}

// minFillDate is the earliest fill date taken.
const minFillDate = "1970-01-01"

// maxFillQuantity bounds a fill's quantity: a year's supply of the most
// frequent dosing is far below it.
const maxFillQuantity = 100000

type fillJSON struct {
	ID         string    `json:"id,omitempty"`
	PlanID     string    `json:"planId,omitempty"`
	FillDate   string    `json:"fillDate"`
	DaysSupply int       `json:"daysSupply"`
	Quantity   *float64  `json:"quantity,omitempty"`
	FillID     *string   `json:"fillId,omitempty"`
	CreatedAt  time.Time `json:"createdAt,omitzero"`
}

func fillOut(f adherence.Fill) fillJSON {
	out := fillJSON{ID: f.ID, PlanID: f.PlanID, FillDate: f.FillDate, DaysSupply: f.DaysSupply, CreatedAt: f.CreatedAt}
	if f.Quantity > 0 {
		out.Quantity = &f.Quantity
	}
	if f.FillID != "" {
		out.FillID = &f.FillID
	}
	return out
}

// handleAddFill answers POST /v1/plans/{id}/fills: 201 with the recorded
// fill; a retry with the same fillId and content gets the original fill,
// 200 with Idempotent-Replayed: true, and other content with it is 409.
func (s *server) handleAddFill(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	plan, err := s.writablePlan(r, r.PathValue("id"), audit.ActionCreate, "Fill")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in fillJSON
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.ID != "" || in.PlanID != "" || !in.CreatedAt.IsZero() {
		s.fail(w, r, errs.Invalid("id", "id, planId and createdAt are assigned by the server"))
		return
	}
	// report.ParseDate, the parser PDC reads fills with: a date it refuses
	// (year 0000) would fail every PDC of the patient.
	if _, err := report.ParseDate(in.FillDate); err != nil {
		s.fail(w, r, errs.Invalid("fillDate", "must be a date YYYY-MM-DD"))
		return
	}
	// A pharmacy fill of before 1970 is a typing mistake (0001-01-01, a
	// year of two digits), not a claim.
	if in.FillDate < minFillDate {
		s.fail(w, r, errs.Invalid("fillDate", "must be %s or later", minFillDate))
		return
	}
	// A fill date is a civil date where the patient lives: today there may
	// already be tomorrow in UTC (Sydney in the morning), or still
	// yesterday.
	pat, err := s.Store.GetPatient(r.Context(), p.OrgID, plan.PatientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	loc := zoneOf(pat.TimeZone)
	if today := s.Now().In(loc).Format("2006-01-02"); in.FillDate > today {
		s.fail(w, r, errs.Invalid("fillDate", "must not be in the future (today is %s in the patient's time zone %s)", today, loc))
		return
	}
	if in.DaysSupply < 1 || in.DaysSupply > 366 {
		s.fail(w, r, errs.Invalid("daysSupply", "must be between 1 and 366"))
		return
	}
	// Optional; when given, a number of units dispensed. 0 and -0 were
	// taken and then left out of the answer as if not given, and 1e308 was
	// taken as it was (QA).
	if in.Quantity != nil && !(*in.Quantity > 0 && *in.Quantity <= maxFillQuantity) {
		s.fail(w, r, errs.Invalid("quantity", "must be more than 0 and at most %d (units dispensed); leave it out when unknown", maxFillQuantity))
		return
	}
	f := adherence.Fill{PlanID: plan.ID, FillDate: in.FillDate, DaysSupply: in.DaysSupply}
	if in.Quantity != nil {
		f.Quantity = *in.Quantity
	}
	if in.FillID != nil {
		if *in.FillID == "" {
			s.fail(w, r, errs.Invalid("fillId", "must be 1 to 128 printable ASCII characters without spaces"))
			return
		}
		f.FillID = *in.FillID
	}
	replayed, err := s.Store.AddFill(r.Context(), actor(r), p.OrgID, &f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		httpx.WriteJSON(w, http.StatusOK, fillOut(f))
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, fillOut(f))
}

func (s *server) handleListFills(w http.ResponseWriter, r *http.Request) {
	plan, _, v, err := s.readablePlan(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull {
		s.fail(w, r, s.caregiverRefused(r, audit.ActionRead, "Fill", plan.ID, plan.PatientID, "caregivers may not read pharmacy fills"))
		return
	}
	fills, err := s.Store.ListFills(r.Context(), plan.OrgID, plan.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "Fill", plan.ID, plan.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]fillJSON, 0, len(fills))
	for _, f := range fills {
		out = append(out, fillOut(f))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"fills": out})
}

func (s *server) handleListPatientDoses(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pat, _, err := s.readablePatient(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionRead, "DoseInstance", "*", pat.ID)
	f, err := s.doseFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.PatientID = pat.ID
	s.writeDoses(w, r, pat.OrgID, pat.ID, f)
}

func (s *server) handleListPlanDoses(w http.ResponseWriter, r *http.Request) {
	plan, _, _, err := s.readablePlan(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionRead, "DoseInstance", "*", plan.PatientID)
	f, err := s.doseFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.PlanID = plan.ID
	s.writeDoses(w, r, plan.OrgID, plan.PatientID, f)
}

// listDoses returns the doses f selects, at most f.Limit, and whether the
// window holds more: it reads one more than asked, so that an answer cut
// at the limit says so instead of ending silently.
func (s *server) listDoses(r *http.Request, orgID string, f store.DoseFilter) ([]adherence.DoseInstance, bool, error) {
	limit := f.Limit
	f.Limit++
	doses, err := s.Store.ListDoses(r.Context(), orgID, f)
	if err != nil {
		return nil, false, err
	}
	if len(doses) > limit {
		return doses[:limit], true, nil
	}
	return doses, false, nil
}

func (s *server) writeDoses(w http.ResponseWriter, r *http.Request, orgID, patientID string, f store.DoseFilter) {
	doses, truncated, err := s.listDoses(r, orgID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "DoseInstance", "*", patientID); err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"doses": dosesOut(doses)}
	if truncated {
		out["truncated"] = true
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// doseFilter reads from/to (RFC 3339; default now .. now+14 days, at most
// 92 days apart) and limit (≤ 5000).
func (s *server) doseFilter(q url.Values) (store.DoseFilter, error) {
	now := s.Now().UTC()
	f := store.DoseFilter{From: now, To: now.Add(14 * 24 * time.Hour), Limit: 1000}
	// Given or not is read off the query, not the value, as in window:
	// 0001-01-01T00:00:00Z is Go's zero time and a valid bound.
	if t, err := parseTimeParam(q, "from"); err != nil {
		return f, err
	} else if q.Get("from") != "" {
		f.From = t
		if q.Get("to") == "" {
			f.To = t.Add(14 * 24 * time.Hour)
		}
	}
	if t, err := parseTimeParam(q, "to"); err != nil {
		return f, err
	} else if q.Get("to") != "" {
		f.To = t
	}
	// With only to given, from is now: the errors say so, since the client
	// named no from (a to in the past asks for doses already due, which
	// need a from).
	fromDefault := ""
	if q.Get("from") == "" {
		fromDefault = " (from default: now)"
	}
	if !f.To.After(f.From) {
		return f, errs.Invalid("to", "must be after from%s", fromDefault)
	}
	if f.To.Sub(f.From) > 92*24*time.Hour {
		return f, errs.Invalid("to", "the window may span at most 92 days%s", fromDefault)
	}
	var err error
	f.Limit, err = queryLimit(q, f.Limit, 5000)
	return f, err
}

func parseTimeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	// Strictly RFC 3339 (rfc3339.Strict): time.Parse also takes an offset
	// of 24 hours or more (+24:00 moved the window a whole day), a comma
	// before the fraction and a one-digit hour.
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || !rfc3339.Strict(v) {
		return time.Time{}, errs.Invalid(name, "must be an RFC 3339 timestamp such as 2026-03-08T00:00:00Z%s", plusHint(v))
	}
	// An offset can carry a valid timestamp out of the years 1 to 9999 in
	// UTC (9999-12-31T23:00:00-05:00 is in the year 10000), where the
	// answer's JSON cannot state it: refused here, not a 500 later.
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, errs.Invalid(name, "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
	}
	return t.UTC(), nil
}

// plusHint explains a query value with a space in it: an unencoded + of a
// UTC offset ("…T08:00:00+01:00") arrives as a space.
func plusHint(v string) string {
	if strings.Contains(v, " ") {
		return " (a + in a URL query stands for a space: send the offset's + as %2B)"
	}
	return ""
}

// parseBoolParam reads an optional boolean query parameter: absent or
// empty is false, "true" and "false" are themselves, and anything else is
// a 400 naming the parameter rather than a silent false.
func parseBoolParam(q url.Values, name string) (bool, error) {
	switch q.Get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, errs.Invalid(name, "must be true or false")
}

// atoi reads an integer query parameter as httpx.ParseInt does: digits
// only, so "+5" or " 5" is refused rather than read as 5.
func atoi(s string) (int, error) {
	n, err := httpx.ParseInt(s)
	return int(n), err
}

// firstPage cuts list, read with a limit of limit+1, to its first limit
// items, and reports whether more followed: the lists read one record
// ahead so that "next" is given only when a page follows (a full last
// page gave a next that led to an empty page).
func firstPage[T any](list []T, limit int) ([]T, bool) {
	if len(list) > limit {
		return list[:limit], true
	}
	return list, false
}

// queryLimit reads the query's limit: def when absent, else an integer
// from 1 to max, or a 400 naming limit.
func queryLimit(q url.Values, def, max int) (int, error) {
	l := q.Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := atoi(l)
	if err != nil || n < 1 || n > max {
		return 0, errs.Invalid("limit", "must be an integer between 1 and %d", max)
	}
	return n, nil
}

// checkVersion refuses a PATCH's version that no record ever had: versions
// start at 1. It was answered 409 "changed by someone else", which sends a
// client to read the record again and retry the same mistake.
func checkVersion(v *int) error {
	if v != nil && *v < 1 {
		return errs.Invalid("version", "must be 1 or more: the version of the record as a GET returned it")
	}
	return nil
}

// patchAttempts bounds the attempts of a PATCH without a version that
// keeps meeting another request's change (see retryPatch). An attempt
// fails only when another change committed, so each of n PATCHes racing
// on one record makes at most n attempts; a failed one costs a read and
// a row lock (the version is checked before any other work).
const patchAttempts = 50

// retryPatch reports whether a PATCH whose update failed with err should
// read the record again and apply its change to it: the client sent no
// version (version nil), so a change committed by another request since
// the record was read is not a conflict of the client's, and the last
// writer wins field by field, as if the two requests had come one after
// the other. A client that sent a version gets the 409 it asked for.
func retryPatch(err error, version *int, attempt int) bool {
	return err != nil && version == nil && errors.Is(err, store.ErrStaleVersion) && attempt < patchAttempts
}
