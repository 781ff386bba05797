package api

import (
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/fhir"
	"github.com/medplatform/medplatform/internal/adherence/report"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/rfc3339"
)

// countsJSON is a dose-level adherence summary.
type countsJSON struct {
	Scheduled          int      `json:"scheduled"`
	OnTime             int      `json:"onTime"`
	Late               int      `json:"late"`
	Skipped            int      `json:"skipped"`
	Missed             int      `json:"missed"`
	Excluded           int      `json:"excluded"`
	Pending            int      `json:"pending"`
	OrphanEvents       int      `json:"orphanEvents"`
	PossibleDoubleDose int      `json:"possibleDoubleDoses"`
	TakingAdherence    *float64 `json:"takingAdherence"`
	TimingAdherence    *float64 `json:"timingAdherence"`
}

func countsOut(c adherence.DoseCounts) countsJSON {
	return countsJSON{
		Scheduled: c.Scheduled, OnTime: c.OnTime, Late: c.Late, Skipped: c.Skipped, Missed: c.Missed,
		Excluded: c.Excluded, Pending: c.Pending, OrphanEvents: c.Orphans, PossibleDoubleDose: c.DoubleDoses,
		TakingAdherence: ratio4(c.OnTime+c.Late, c.Denominator()), TimingAdherence: ratio4(c.OnTime, c.Denominator()),
	}
}

// ratio4 is n/d rounded to 4 decimals (report.Round4, which rounds the
// exact ratio), nil while d is 0: the ratios of adherence.DoseCounts.
func ratio4(n, d int) *float64 {
	if d <= 0 {
		return nil
	}
	r := report.Round4(int64(n), int64(d))
	return &r
}

// reportWindow is the default and largest window of dose-level reports.
const (
	reportDefault = 30 * 24 * time.Hour
	reportMax     = 366 * 24 * time.Hour
)

// handlePatientAdherence answers GET /v1/patients/{id}/adherence?from=&to=
// with the patient's counts and adherence, overall and per plan.
func (s *server) handlePatientAdherence(w http.ResponseWriter, r *http.Request) {
	pat, _, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionRead, "AdherenceReport", pat.ID, pat.ID)
	from, to, err := s.window(r, reportDefault, reportMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	total, err := s.Store.DoseCounts(ctx, pat.OrgID, store.ReportFilter{PatientID: pat.ID, From: from, To: to})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	plans, err := s.Store.ListPlans(ctx, pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type planCounts struct {
		PlanID string `json:"planId"`
		countsJSON
	}
	perPlan := []planCounts{}
	for _, p := range plans {
		c, err := s.Store.DoseCounts(ctx, pat.OrgID, store.ReportFilter{PatientID: pat.ID, PlanID: p.ID, From: from, To: to})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		perPlan = append(perPlan, planCounts{PlanID: p.ID, countsJSON: countsOut(c)})
	}
	if err := s.auditRead(r, "AdherenceReport", pat.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"patientId": pat.ID, "from": from, "to": to, "total": countsOut(total), "plans": perPlan,
	})
}

// handlePlanAdherence answers GET /v1/plans/{id}/adherence?from=&to=.
func (s *server) handlePlanAdherence(w http.ResponseWriter, r *http.Request) {
	plan, _, _, err := s.readablePlan(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionRead, "AdherenceReport", plan.ID, plan.PatientID)
	from, to, err := s.window(r, reportDefault, reportMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Store.DoseCounts(r.Context(), plan.OrgID, store.ReportFilter{PlanID: plan.ID, From: from, To: to})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "AdherenceReport", plan.ID, plan.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"planId": plan.ID, "patientId": plan.PatientID, "from": from, "to": to, "total": countsOut(c)})
}

// patientRow is a patient of the cohort report's below-threshold list.
type patientRow struct {
	PatientID string `json:"patientId"`
	countsJSON
	adherence float64 // taking adherence, unrounded
}

// sortLowest orders rows by taking adherence, lowest first, then patient
// id. It compares the unrounded values: the rounded ones in the answer tie
// for near values, and a limit would then cut the list at the wrong patient.
func sortLowest(rows []patientRow) {
	sort.Slice(rows, func(i, j int) bool {
		if a, b := rows[i].adherence, rows[j].adherence; a != b {
			return a < b
		}
		return rows[i].PatientID < rows[j].PatientID
	})
}

// handleCohortAdherence answers GET /v1/reports/adherence?from=&to=
// &threshold=0.8&limit=500 (staff): the org's totals and the patients whose
// taking adherence is below threshold, lowest first.
func (s *server) handleCohortAdherence(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	from, to, err := s.window(r, reportDefault, reportMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	threshold := report.DefaultThreshold
	if v := q.Get("threshold"); v != "" {
		threshold, err = httpx.ParseFloat(v)
		if err != nil || threshold < 0 || threshold > 1 {
			s.fail(w, r, errs.Invalid("threshold", "must be a decimal from 0 to 1 written with digits on both sides of any point, such as 0.8 or 1 (not .8, 8e-1)"))
			return
		}
	}
	lim, err := queryLimit(q, 500, 5000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byPatient, err := s.Store.CohortCounts(r.Context(), p.OrgID, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var total adherence.DoseCounts
	var below []patientRow
	for id, c := range byPatient {
		total.Add(c)
		if a := c.TakingAdherence(); a != nil && *a < threshold {
			below = append(below, patientRow{PatientID: id, countsJSON: countsOut(c), adherence: *a})
		}
	}
	sortLowest(below)
	belowCount := len(below)
	if len(below) > lim {
		below = below[:lim]
	}
	ids := make([]string, 0, len(below))
	for _, b := range below {
		ids = append(ids, b.PatientID)
	}
	if len(ids) > 0 {
		if err := s.auditReads(r, "AdherenceReport", ids); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if below == nil {
		below = []patientRow{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"from": from, "to": to, "threshold": threshold, "patients": len(byPatient), "total": countsOut(total),
		"belowThresholdCount": belowCount, "belowThreshold": below,
	})
}

// pdcJSON is the PDC of one drug class.
type pdcJSON struct {
	Class       string   `json:"class"`
	Drugs       []string `json:"drugs"`
	IndexDate   *string  `json:"indexDate"`
	Days        int      `json:"days"`
	CoveredDays int      `json:"coveredDays"`
	PDC         *float64 `json:"pdc"`
	MPR         *float64 `json:"mpr"`
	Threshold   float64  `json:"threshold"`
	Eligible    bool     `json:"eligible"`
	Adherent    bool     `json:"adherent"`
	Fills       int      `json:"fills"`
	Reason      string   `json:"reason,omitempty"`
}

// handlePatientPDC answers GET /v1/patients/{id}/pdc?from=YYYY-MM-DD
// &to=YYYY-MM-DD&class= with the PQA PDC per drug class from the recorded
// fills. A plan's class is its drugClass (else its ingredient, else its
// RxNorm code); refills of the same ingredient are shifted. The threshold
// is 0.90 for antiretrovirals, 0.80 otherwise.
func (s *server) handlePatientPDC(w http.ResponseWriter, r *http.Request) {
	pat, v, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull && !pat.ShareMedicationWithCaregivers {
		s.fail(w, r, s.medicationNotShared(r, audit.ActionRead, "PDCReport", pat.ID, pat.ID))
		return
	}
	s.attempting(r, audit.ActionRead, "PDCReport", pat.ID, pat.ID)
	q := r.URL.Query()
	from, err := periodDay(q, "from", "the first day of the measurement period")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to, err := periodDay(q, "to", "the last day of the measurement period")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A period still running is measured through today, in the patient's
	// time zone: the days to come are neither covered nor missed yet, and
	// counting them as uncovered would show a patient who refills on time
	// as non-adherent until the period ends.
	loc := zoneOf(pat.TimeZone)
	now := s.Now().In(loc)
	today := report.Date{Year: now.Year(), Month: now.Month(), Day: now.Day()}
	start, end := time.Date(from.Year, from.Month, from.Day, 0, 0, 0, 0, time.UTC), time.Date(to.Year, to.Month, to.Day, 0, 0, 0, 0, time.UTC)
	switch {
	case end.Before(start):
		s.fail(w, r, errs.Invalid("to", "is before from"))
		return
	case end.After(start.AddDate(5, 0, 0)):
		s.fail(w, r, errs.Invalid("to", "the measurement period may span at most 5 years"))
		return
	case start.After(time.Date(today.Year, today.Month, today.Day, 0, 0, 0, 0, time.UTC)):
		s.fail(w, r, errs.Invalid("from", "the measurement period has not started: it is %s in the patient's time zone", today))
		return
	}
	through := to
	if end.After(time.Date(today.Year, today.Month, today.Day, 0, 0, 0, 0, time.UTC)) {
		through = today
	}
	ctx := r.Context()
	plans, err := s.Store.ListPlans(ctx, pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Classes are grouped ignoring letter case and surrounding space;
	// plans come in creation order, so a class is named as its oldest plan
	// spells it (report.Classes).
	var classes report.Classes
	want := report.ClassKey(q.Get("class"))
	for _, p := range plans {
		drug := strings.ToLower(strings.TrimSpace(p.Ingredient))
		if drug == "" {
			drug = "rxnorm:" + p.Medication.RxNorm
		}
		name := strings.TrimSpace(p.DrugClass)
		if name == "" {
			name = drug
		}
		if want != "" && report.ClassKey(name) != want {
			continue
		}
		fills, err := s.Store.ListFills(ctx, pat.OrgID, p.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rf := make([]report.Fill, 0, len(fills))
		for _, f := range fills {
			d, err := report.ParseDate(f.FillDate)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			rf = append(rf, report.Fill{Drug: drug, Date: d, DaysSupply: f.DaysSupply})
		}
		classes.Add(name, drug, rf)
	}
	out := []pdcJSON{}
	for _, c := range classes.List() {
		threshold := report.DefaultThreshold
		if strings.Contains(strings.ToLower(c.Name), "antiretroviral") {
			threshold = report.AntiretroviralThreshold
		}
		res, err := report.PDC(c.Fills, from, through, threshold)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		row := pdcJSON{Class: c.Name, Drugs: c.Drugs, Days: res.Days, CoveredDays: res.CoveredDays, PDC: res.PDC, MPR: res.MPR,
			Threshold: threshold, Eligible: res.Eligible, Adherent: res.Adherent, Fills: res.Fills, Reason: res.Reason}
		if res.IndexDate != nil {
			d := res.IndexDate.String()
			row.IndexDate = &d
		}
		out = append(out, row)
	}
	if err := s.auditRead(r, "PDCReport", pat.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"patientId": pat.ID, "from": from.String(), "to": to.String(),
		"through": through.String(), "classes": out})
}

// handleFHIRAdministrations answers GET /fhir/MedicationAdministration
// ?patient=…&date=ge…&date=lt… with the patient's doses that have an
// outcome, as a searchset Bundle.
func (s *server) handleFHIRAdministrations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	patientID := s.patientSearchID(r, q.Get("patient"))
	if patientID == "" {
		s.fail(w, r, noPatientSearched(r))
		return
	}
	// Access first: a caller who may not read the patient is refused (and
	// audited) whatever the rest of the search says.
	pat, v, err := s.readablePatient(r, patientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionExecute, "MedicationAdministration", "*", pat.ID)
	if err := s.onePatient(r, q["patient"], patientID); err != nil {
		s.fail(w, r, err)
		return
	}
	from, to, err := fhirDateRange(q, s.Now().UTC())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := fhirPaging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull && !pat.ShareMedicationWithCaregivers {
		s.fail(w, r, s.medicationNotShared(r, "E", "MedicationAdministration", "*", pat.ID))
		return
	}
	ctx := r.Context()
	// The range applies to each entry's effectiveDateTime (what R4's
	// effective-time searches): when a taken dose was taken, else its due
	// time. A taking falls at most a matching window from its dose's due
	// time (on time up to 12 h before, late up to 24 h after, a repeat a
	// little beyond), so the doses due within effectiveMargin of the range
	// hold every match; filtering on the due time left out a dose due
	// before the range and taken in it, and put in one taken after it (QA).
	doses, err := s.Store.ListDoses(ctx, pat.OrgID, store.DoseFilter{
		PatientID: pat.ID, From: from.Add(-effectiveMargin), To: to.Add(effectiveMargin), Limit: store.MaxDoseList,
		Statuses: []adherence.DoseStatus{adherence.DoseTakenOnTime, adherence.DoseTakenLate, adherence.DoseSkipped, adherence.DoseMissed},
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Twice the limit read, so that the doses of the margins do not make
	// a range of fewer matches too large; a list cut there is refused.
	cut := len(doses) >= store.MaxDoseList
	doses = slices.DeleteFunc(doses, func(d adherence.DoseInstance) bool {
		e := fhir.Effective(d)
		return e.Before(from) || !e.Before(to)
	})
	if cut || len(doses) > maxExported {
		s.fail(w, r, errs.E(errs.CodeTooLarge, "more than %d doses in the window: narrow the date range", maxExported))
		return
	}
	plans, err := s.Store.ListPlans(ctx, pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byID := map[string]adherence.Plan{}
	for _, p := range plans {
		byID[p.ID] = p
	}
	if err := s.audit(r, "E", "MedicationAdministration", "*", pat.ID, 0); err != nil {
		s.fail(w, r, err)
		return
	}
	b := fhir.Searchset[fhir.MedicationAdministration]()
	base := s.fhirBase(r)
	var all []fhir.BundleEntry[fhir.MedicationAdministration]
	for _, d := range doses {
		ma, ok := fhir.FromDose(d, byID[d.PlanID])
		if !ok {
			continue
		}
		all = append(all, fhir.BundleEntry[fhir.MedicationAdministration]{FullURL: base + "MedicationAdministration/" + ma.ID, Resource: ma})
	}
	// The links state the search run: the patient and the date range as
	// applied (defaults filled in) and the page, without the parameters
	// ignored.
	run := url.Values{"patient": {pat.ID}, "date": {"ge" + from.UTC().Format(time.RFC3339Nano), fhirUpperBound(to)}}
	pageSearchset(&b, all, page, base+"MedicationAdministration", run)
	writeFHIR(w, http.StatusOK, b)
}

// effectiveMargin is how far from its dose's due time a taking may be
// (the longest on-time and late windows, 12 and 24 hours, and a repeat of
// the taking beyond them), and more.
const effectiveMargin = 48 * time.Hour

// fhirUpperBound writes the exclusive end of a date range as a search
// parameter: lt and the instant, or, for a range reaching the end of the
// year 9999 (date=eq9999), le and its last microsecond, since the year
// 10000 cannot be written in a FHIR dateTime and a link with it would be
// refused.
func fhirUpperBound(to time.Time) string {
	to = to.UTC()
	if to.Year() > 9999 {
		return "le" + to.Add(-time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00")
	}
	return "lt" + to.Format(time.RFC3339Nano)
}

// pageSearchset fills b with the page of the matches all: total counts
// every match, the entries are the page's, and the self, previous and next
// links are the search search?run with the page's _count and _offset.
func pageSearchset[T any](b *fhir.Bundle[T], all []fhir.BundleEntry[T], page fhirPage, search string, run url.Values) {
	b.Total = len(all)
	b.Entry = all[min(page.offset, len(all)):min(page.end(), len(all))]
	link := func(offset int) string {
		v := maps.Clone(run)
		if page.count >= 0 {
			v.Set("_count", strconv.Itoa(page.count))
			if offset > 0 {
				v.Set("_offset", strconv.Itoa(offset))
			}
		}
		return search + "?" + v.Encode()
	}
	b.Link = []fhir.BundleLink{{Relation: "self", URL: link(page.offset)}}
	if page.count > 0 && page.offset > 0 {
		// From a page past the last match, previous is the last page that
		// holds matches: stepping back by _count led through empty pages.
		prev := page.offset - page.count
		if prev >= len(all) {
			prev = len(all) - page.count
		}
		b.Link = append(b.Link, fhir.BundleLink{Relation: "previous", URL: link(max(prev, 0))})
	}
	if page.count > 0 && page.end() < len(all) {
		b.Link = append(b.Link, fhir.BundleLink{Relation: "next", URL: link(page.end())})
	}
}

// fhirPage is the page of a FHIR search: at most count entries from
// offset (count -1: all of them).
type fhirPage struct{ count, offset int }

func (p fhirPage) end() int {
	if p.count < 0 {
		return math.MaxInt
	}
	return p.offset + p.count
}

// fhirPaging reads _count (0 to maxExported: the server must not return
// more entries than asked; 0 asks for the total alone) and _offset (the
// entries to skip, as the next and previous links write it).
func fhirPaging(q url.Values) (fhirPage, error) {
	p := fhirPage{count: -1}
	for _, c := range []struct {
		name string
		max  int
		to   *int
	}{{"_count", maxExported, &p.count}, {"_offset", maxExported, &p.offset}} {
		vs := q[c.name]
		if len(vs) == 0 {
			continue
		}
		n, err := httpx.ParseInt(vs[0])
		if len(vs) > 1 || err != nil || n < 0 || n > int64(c.max) {
			return p, errs.Invalid(c.name, "must be one integer between 0 and %d", c.max)
		}
		*c.to = int(n)
	}
	if p.count < 0 && p.offset > 0 {
		return p, errs.Invalid("_offset", "is only meaningful with _count")
	}
	return p, nil
}

// handleFHIRAdministrationRead answers GET /fhir/MedicationAdministration/
// dose-{doseInstanceId}: one resource of the export, where its Bundle
// entry's fullUrl points, under the export's access rules. An id that names
// no dose of the caller's organization, or a dose without an outcome (not
// exported), is 404.
func (s *server) handleFHIRAdministrationRead(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	id := r.PathValue("id")
	if p.Role == auth.RoleIntegration {
		s.audit(r, audit.ActionRead, "MedicationAdministration", id, "", audit.OutcomeMinorFailure)
		s.fail(w, r, errs.Forbidden("role %s may not read patient records", p.Role))
		return
	}
	// Only the id the export writes: dose-01 or dose-+1 would read dose-1.
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "dose-"), 10, 64)
	if err != nil || n <= 0 || id != "dose-"+strconv.FormatInt(n, 10) {
		s.fail(w, r, errs.NotFound("MedicationAdministration"))
		return
	}
	ctx := r.Context()
	d, err := s.Store.GetDose(ctx, p.OrgID, n)
	if err != nil {
		if errs.Is(err, errs.CodeNotFound) {
			// Another organization's dose is answered as a missing one,
			// and the attempt recorded as any refused read is.
			s.audit(r, audit.ActionRead, "MedicationAdministration", id, "", audit.OutcomeMinorFailure)
			err = errs.NotFound("MedicationAdministration")
		}
		s.fail(w, r, err)
		return
	}
	pat, v, err := s.readablePatient(r, d.PatientID)
	if err != nil {
		if errs.Is(err, errs.CodeNotFound) {
			err = errs.NotFound("MedicationAdministration")
		}
		s.fail(w, r, err)
		return
	}
	if v != viewFull && !pat.ShareMedicationWithCaregivers {
		s.fail(w, r, s.medicationNotShared(r, audit.ActionRead, "MedicationAdministration", id, pat.ID))
		return
	}
	s.attempting(r, audit.ActionRead, "MedicationAdministration", id, pat.ID)
	plan, err := s.Store.GetPlan(ctx, p.OrgID, d.PlanID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ma, ok := fhir.FromDose(d, plan)
	if !ok {
		s.fail(w, r, errs.NotFound("MedicationAdministration"))
		return
	}
	if err := s.auditRead(r, "MedicationAdministration", ma.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, ma)
}

// fhirDateRange reads the FHIR date search parameters of q (ge, gt, le,
// lt, eq prefixes; a date or a dateTime) into a half-open [from, to)
// window: date, and effective-time, the name R4 (and US Core) gives this
// parameter of MedicationAdministration, which an R4 client sends and
// which, unknown, would be ignored and answered with the default window.
// Repeated parameters all apply (FHIR ANDs them): the window is the
// intersection of their bounds, whatever their order. Without an upper
// bound the window ends fhirAhead after now (events may be recorded a day
// ahead, so doses due tomorrow can already have an outcome); without a
// lower bound it starts 30 days before the earlier of its end and now.
// The window spans at most a year.
func fhirDateRange(q url.Values, now time.Time) (time.Time, time.Time, error) {
	var from, to time.Time
	fromSet, toSet := false, false
	lower := func(t time.Time) {
		if !fromSet || t.After(from) {
			from, fromSet = t, true
		}
	}
	upper := func(t time.Time) {
		if !toSet || t.Before(to) {
			to, toSet = t, true
		}
	}
	type param struct{ name, value string }
	var params []param
	for _, name := range []string{"date", "effective-time"} {
		for _, v := range q[name] {
			params = append(params, param{name, v})
		}
	}
	for _, pv := range params {
		prefix, p := "eq", pv.value
		if len(p) > 2 && p[0] >= 'a' && p[0] <= 'z' {
			prefix, p = p[:2], p[2:]
		}
		t, end, err := parseFHIRDate(p) // end: the end of the value's precision
		if errors.Is(err, errFHIRDateYears) {
			return from, to, errs.Invalid("date", "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
		}
		if err != nil {
			return from, to, errs.Invalid(pv.name, "must be a FHIR date or dateTime with an optional ge, gt, le, lt or eq prefix%s", plusHint(p))
		}
		switch prefix {
		case "ge":
			lower(t)
		case "gt":
			lower(end)
		case "lt":
			upper(t)
		case "le":
			upper(end)
		case "eq":
			lower(t)
			upper(end)
		default:
			return from, to, errs.Invalid(pv.name, "prefix %q is not supported; use ge, gt, le, lt or eq", prefix)
		}
	}
	if !toSet {
		to = now.Add(fhirAhead)
	}
	if !fromSet {
		start := to
		if now.Before(start) {
			start = now
		}
		from = notBeforeYear1(start.Add(-reportDefault))
	}
	if !to.After(from) {
		return from, to, errs.Invalid("date", "the range is empty: it starts %s and ends %s",
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	if to.Sub(from) > reportMax {
		return from, to, errs.Invalid("date", "the range may span at most 366 days")
	}
	return from, to, nil
}

// fhirAhead is how far past now a FHIR date search without an upper bound
// reaches: events may be recorded up to a day ahead, and a dose matches
// events a few hours around its due time.
const fhirAhead = 48 * time.Hour

// errFHIRDateYears is parseFHIRDate's error for a dateTime whose offset
// carries it out of the years 1 to 9999 in UTC (9999-12-31T23:00:00-05:00
// is in the year 10000), as parseTimeParam refuses it: the Bundle's self
// link could not state it.
var errFHIRDateYears = errors.New("out of the years 1 to 9999")

// parseFHIRDate reads a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD, a UTC
// day, month or year) or dateTime and returns its start and the end of its
// precision (FHIR search: a value stands for the whole range it names): the
// next day, month or year; for a dateTime the next minute, second or
// fraction of a second, as precise as it is written.
func parseFHIRDate(v string) (time.Time, time.Time, error) {
	for _, p := range []struct {
		layout     string
		y, m, days int
	}{{"2006-01-02", 0, 0, 1}, {"2006-01", 0, 1, 0}, {"2006", 1, 0, 0}} {
		if t, err := time.Parse(p.layout, v); err == nil {
			return t, t.AddDate(p.y, p.m, p.days), nil
		}
	}
	// A dateTime is strictly RFC 3339 (rfc3339.Strict; to the minute,
	// as with its seconds written :00): time.Parse also takes an offset of
	// 24 hours or more (+24:00 moved the range a whole day), a comma
	// before the fraction and a one-digit hour.
	if t, err := time.Parse("2006-01-02T15:04Z07:00", v); err == nil {
		if len(v) < 16 || !rfc3339.Strict(v[:16]+":00"+v[16:]) {
			return time.Time{}, time.Time{}, errors.New("not an RFC 3339 dateTime")
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return time.Time{}, time.Time{}, errFHIRDateYears
		}
		return t.UTC(), t.UTC().Add(time.Minute), nil
	}
	if strings.Contains(v, ",") {
		// time.Parse takes a comma for the decimal point; FHIR does not,
		// and the precision below is counted after a '.' only (08:00:00,5
		// would have stood for [08:00:00.5, 08:00:01.5)).
		return time.Time{}, time.Time{}, errors.New("a dateTime's fraction of a second follows a '.'")
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, t, err
	}
	if !rfc3339.Strict(v) {
		return time.Time{}, time.Time{}, errors.New("not an RFC 3339 dateTime")
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, time.Time{}, errFHIRDateYears
	}
	step := time.Second
	if i := strings.IndexByte(v, '.'); i >= 0 {
		digits := 0
		for _, c := range v[i+1:] {
			if c < '0' || c > '9' {
				break
			}
			digits++
		}
		// Exactly as precise as written, to the nanosecond: doses are
		// due on whole microseconds, and the store rounds each bound up
		// to one, so a value finer than that selects exactly the doses
		// of its range (le …14:29:59.9999999Z none due at 14:30:00).
		// Widened to a microsecond, it reached past the next one.
		for range min(digits, 9) {
			step /= 10
		}
	}
	return t.UTC(), t.UTC().Add(step), nil
}

type windowsJSON struct {
	OnTimeMinutes     *int `json:"onTimeMinutes"`
	LateMaxMinutes    *int `json:"lateMaxMinutes"`
	OpenDedupeMinutes *int `json:"openDedupeMinutes"`
}

func windowsOut(w adherence.Windows) windowsJSON {
	on, late, dedupe := int(w.OnTime/time.Minute), int(w.LateMax/time.Minute), int(w.OpenDedupe/time.Minute)
	return windowsJSON{&on, &late, &dedupe}
}

// handleGetWindows answers GET /v1/settings/windows (staff): the org's
// dose matching windows.
func (s *server) handleGetWindows(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.Store.Windows(r.Context(), p.OrgID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, windowsOut(ws))
}

// maxWindowMinutes is more minutes than any matching window may have
// (the store's limits are 720 and 1440).
const maxWindowMinutes = 7 * 24 * 60

// handleSetWindows answers PUT /v1/settings/windows (admin). Every field
// is required.
func (s *server) handleSetWindows(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in windowsJSON
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case in.OnTimeMinutes == nil:
		s.fail(w, r, errs.Invalid("onTimeMinutes", "is required"))
		return
	case in.LateMaxMinutes == nil:
		s.fail(w, r, errs.Invalid("lateMaxMinutes", "is required"))
		return
	case in.OpenDedupeMinutes == nil:
		s.fail(w, r, errs.Invalid("openDedupeMinutes", "is required"))
		return
	}
	// The store checks the ranges on whole minutes. A count beyond a few
	// days is out of every range; clamped before the multiplication, which
	// would wrap it around (2^53 + 30 minutes is 30 minutes as a
	// time.Duration) into a value the store accepts.
	minutes := func(n int) time.Duration { return time.Duration(min(max(n, -1), maxWindowMinutes+1)) * time.Minute }
	ws := adherence.Windows{
		OnTime: minutes(*in.OnTimeMinutes), LateMax: minutes(*in.LateMaxMinutes), OpenDedupe: minutes(*in.OpenDedupeMinutes),
	}
	if err := s.Store.SetWindows(r.Context(), actor(r), p.OrgID, ws); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, windowsOut(ws))
}

// handleListOutbox answers GET /v1/outbox?topic=&after=&pending=true&limit=
// (admin): the org's outbox records in id order.
func (s *server) handleListOutbox(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := store.OutboxFilter{Topic: q.Get("topic")}
	switch f.Topic {
	case "", store.TopicDoseMissed, store.TopicDoseResolved:
	default:
		// A misspelt topic must not look like "nothing was missed".
		s.fail(w, r, errs.Invalid("topic", "must be %s or %s", store.TopicDoseMissed, store.TopicDoseResolved))
		return
	}
	var err error
	if f.PendingOnly, err = parseBoolParam(q, "pending"); err != nil {
		s.fail(w, r, err)
		return
	}
	if v := q.Get("after"); v != "" {
		n, err := httpx.ParseInt(v)
		if err != nil || n < 0 {
			s.fail(w, r, errs.Invalid("after", "must be a record id"))
			return
		}
		f.After = n
	}
	if f.Limit, err = queryLimit(q, f.Limit, 1000); err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.Store.ListOutbox(r.Context(), p.OrgID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type recJSON struct {
		ID          int64      `json:"id"`
		Topic       string     `json:"topic"`
		Key         string     `json:"key"`
		Payload     any        `json:"payload"`
		CreatedAt   time.Time  `json:"createdAt"`
		ProcessedAt *time.Time `json:"processedAt,omitempty"`
	}
	out := make([]recJSON, 0, len(recs))
	seen := map[string]bool{}
	var patients []string
	for _, rec := range recs {
		out = append(out, recJSON{ID: rec.ID, Topic: rec.Topic, Key: rec.DedupeKey, Payload: rec.Payload, CreatedAt: rec.CreatedAt, ProcessedAt: rec.ProcessedAt})
		if rec.PatientID != "" && !seen[rec.PatientID] {
			seen[rec.PatientID] = true
			patients = append(patients, rec.PatientID)
		}
	}
	// The records name patients and their doses: PHI, audited per patient.
	if err := s.auditReads(r, "Outbox", patients); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"records": out})
}

// maxExported is the most dose records one MedicationAdministration search
// returns; a larger window is refused rather than silently cut.
const maxExported = 10000

// periodDay reads the date query parameter name of a PDC period: missing
// and malformed are told apart.
func periodDay(q url.Values, name, what string) (report.Date, error) {
	v := q.Get(name)
	if v == "" {
		return report.Date{}, errs.Invalid(name, "is required: %s, YYYY-MM-DD", what)
	}
	d, err := report.ParseDate(v)
	if err != nil {
		return report.Date{}, errs.Invalid(name, "must be a date YYYY-MM-DD (%s)", what)
	}
	return d, nil
}
