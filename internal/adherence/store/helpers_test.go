package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

var sets = []migrate.Set{audit.Migrations, store.Migrations}

// start is the default clock of a fixture: one week before the 2026 US
// daylight-saving change (2026-03-08).
var start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// fixture is a store on a fresh database with a settable clock and one
// organization.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	d     *db.DB
	s     *store.Store
	log   *audit.Log
	now   time.Time
	org   string
	actor adherence.Actor
}

// each runs fn on both engines, each with a new fixture.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		fn(t, newFixture(t, d))
	})
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), d: d, now: start}
	clock := func() time.Time { return f.now }
	f.log = audit.New(d, clock, nil)
	f.s = store.New(d, f.log, clock)
	o, err := f.s.CreateOrg(f.ctx, "Org A")
	if err != nil {
		t.Fatal(err)
	}
	f.org = o.ID
	f.actor = adherence.Actor{ID: "key-admin", Role: "admin", OrgID: o.ID, RequestID: "req-1", ClientAddr: "192.0.2.1"}
	return f
}

// otherOrg creates a second organization and returns its id and an actor
// of it.
func (f *fixture) otherOrg() (string, adherence.Actor) {
	f.t.Helper()
	o, err := f.s.CreateOrg(f.ctx, "Org B")
	if err != nil {
		f.t.Fatal(err)
	}
	return o.ID, adherence.Actor{ID: "key-b", Role: "admin", OrgID: o.ID}
}

// patient enrols a patient in the fixture's org.
func (f *fixture) patient(zone string) adherence.Patient {
	f.t.Helper()
	p := adherence.Patient{
		OrgID: f.org, GivenName: phi.New("Ana María"), FamilyName: phi.New("O'Brien-Núñez"),
		BirthDate: phi.New("1948-07-04"), Phone: phi.New("+15551234567"), Email: phi.New("ana@example.org"),
		TimeZone: zone, Language: "es", SMSConsent: true,
	}
	if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
		f.t.Fatalf("create patient: %v", err)
	}
	return p
}

// plan creates an active plan for patient with the given timing.
func (f *fixture) plan(patientID string, t schedule.Timing) adherence.Plan {
	f.t.Helper()
	p := adherence.Plan{
		OrgID: f.org, PatientID: patientID,
		Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
		Dose:       "1 tablet", Instructions: "with water", DaysSupply: 30, Timing: t,
	}
	if err := f.s.CreatePlan(f.ctx, f.actor, &p); err != nil {
		f.t.Fatalf("create plan: %v", err)
	}
	return p
}

func timeOfDay(times ...string) schedule.Timing {
	return schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: times}}
}

// countedTimeOfDay is timeOfDay with repeat.count n.
func countedTimeOfDay(n int, times ...string) schedule.Timing {
	t := timeOfDay(times...)
	t.Repeat.Count = &n
	return t
}

// doses lists a plan's instances due in [from, to).
func (f *fixture) doses(planID string, from, to time.Time) []adherence.DoseInstance {
	f.t.Helper()
	ds, err := f.s.ListDoses(f.ctx, f.org, store.DoseFilter{PlanID: planID, From: from, To: to, Limit: 10000})
	if err != nil {
		f.t.Fatalf("list doses: %v", err)
	}
	return ds
}

// updatePlanTwice updates pl (its changes already made) twice, at its
// current version, and fails the test unless after each update the plan's
// doses due in [from, to) (no bound where zero, as in doses), each
// formatted by line, are want, in order: the second update must change
// nothing.
func (f *fixture) updatePlanTwice(pl *adherence.Plan, from, to time.Time, line func(adherence.DoseInstance) string, want []string) {
	f.t.Helper()
	for i := range 2 {
		if err := f.s.UpdatePlan(f.ctx, f.actor, pl, pl.Version); err != nil {
			f.t.Fatalf("update %d of the plan: %v", i+1, err)
		}
		f.dosesAre(fmt.Sprintf("update %d of the plan", i+1), pl.ID, from, to, line, want)
	}
}

// updatePatientTwice is updatePlanTwice for a change of patient p (a move
// of zone), checking the doses of plan planID; p is reloaded after each
// update, so it ends at the stored version.
func (f *fixture) updatePatientTwice(p *adherence.Patient, planID string, from, to time.Time, line func(adherence.DoseInstance) string, want []string) {
	f.t.Helper()
	for i := range 2 {
		if err := f.s.UpdatePatient(f.ctx, f.actor, p, p.Version); err != nil {
			f.t.Fatalf("update %d of the patient: %v", i+1, err)
		}
		f.dosesAre(fmt.Sprintf("update %d of the patient", i+1), planID, from, to, line, want)
		stored, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			f.t.Fatalf("update %d of the patient: reload: %v", i+1, err)
		}
		*p = stored
	}
}

// roundTrip moves patient p to zone and, a second later, back to the zone
// it had, checking then as updatePatientTwice does that the doses of plan
// planID due in [from, to), each formatted by line, are want.
func (f *fixture) roundTrip(p *adherence.Patient, zone, planID string, from, to time.Time, line func(adherence.DoseInstance) string, want []string) {
	f.t.Helper()
	home := p.TimeZone
	p.TimeZone = zone
	if err := f.s.UpdatePatient(f.ctx, f.actor, p, p.Version); err != nil {
		f.t.Fatalf("move to %s: %v", zone, err)
	}
	stored, err := f.s.GetPatient(f.ctx, f.org, p.ID)
	if err != nil {
		f.t.Fatalf("move to %s: reload: %v", zone, err)
	}
	*p = stored
	f.now = f.now.Add(time.Second)
	p.TimeZone = home
	f.updatePatientTwice(p, planID, from, to, line, want)
}

// dosesAre fails the test, its message starting with what, unless the
// doses of plan planID due in [from, to), each formatted by line, are
// want, in order. A dose that line formats as "" is left out.
func (f *fixture) dosesAre(what, planID string, from, to time.Time, line func(adherence.DoseInstance) string, want []string) {
	f.t.Helper()
	var got []string
	for _, d := range f.doses(planID, from, to) {
		if s := line(d); s != "" {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		f.t.Fatalf("%s: doses:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// localAndStatus formats a dose as its wall time and status:
// "2026-03-04T08:00 scheduled".
func localAndStatus(d adherence.DoseInstance) string {
	return d.LocalTime + " " + string(d.Status)
}

// clockAndStatus formats a dose as its wall clock time and status, for
// the doses of one day: "08:00 scheduled".
func clockAndStatus(d adherence.DoseInstance) string {
	return d.LocalTime[11:] + " " + string(d.Status)
}

// utcLocalAndStatus formats a dose as its due instant in UTC, its wall
// time and status: "2026-03-02T16:00:00Z 2026-03-02T08:00 scheduled".
func utcLocalAndStatus(d adherence.DoseInstance) string {
	return d.DueAt.UTC().Format(time.RFC3339) + " " + d.LocalTime + " " + string(d.Status)
}

// allDoses lists every instance of a plan.
func (f *fixture) allDoses(planID string) []adherence.DoseInstance {
	f.t.Helper()
	return f.doses(planID, time.Time{}, time.Time{})
}

// eventIs fails the test unless event id is stored with result, the
// dose status it set and its possible-double-dose flag.
func (f *fixture) eventIs(id, result, status string, double bool) {
	f.t.Helper()
	if n := f.count(`SELECT COUNT(*) FROM events WHERE id = $1 AND result = $2 AND dose_status = $3 AND double_dose = $4`, id, result, status, double); n != 1 {
		f.t.Errorf("event %s is not %s/%q, double dose %v", id, result, status, double)
	}
}

// sqlitePlan returns the lines of SQLite's EXPLAIN QUERY PLAN of query.
func (f *fixture) sqlitePlan(query string, args ...any) []string {
	f.t.Helper()
	rows, err := f.d.SQL.QueryContext(f.ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			f.t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return plan
}

// count runs a COUNT(*) query.
func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.d.SQL.QueryRowContext(f.ctx, query, args...).Scan(&n); err != nil {
		f.t.Fatalf("count: %v", err)
	}
	return n
}

// exec runs a statement directly on the database.
func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.d.SQL.ExecContext(f.ctx, query, args...); err != nil {
		f.t.Fatalf("exec: %v", err)
	}
}

// auditRecords returns the audit trail of the fixture's org.
func (f *fixture) auditRecords() []audit.Record {
	f.t.Helper()
	recs, err := f.log.List(f.ctx, audit.Filter{OrgID: f.org, Limit: audit.MaxLimit})
	if err != nil {
		f.t.Fatalf("list audit records: %v", err)
	}
	return recs
}

// byStatus counts instances per status.
func byStatus(ds []adherence.DoseInstance) map[adherence.DoseStatus]int {
	m := map[adherence.DoseStatus]int{}
	for _, d := range ds {
		m[d.Status]++
	}
	return m
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if got := errs.CodeOf(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// phiEqual compares PHI values by their real content.
var phiEqual = cmp.Comparer(func(a, b phi.String) bool { return a.Reveal() == b.Reveal() })

// day is 24 hours.
const day = 24 * time.Hour

// takeNextEarly takes, at f.now, the plan's dose due within the hour.
func (f *fixture) takeNextEarly(patientID, planID, clientID string) {
	f.t.Helper()
	ds := f.doses(planID, f.now, f.now.Add(time.Hour))
	if len(ds) != 1 {
		f.t.Fatalf("doses in the next hour: %+v, want one", ds)
	}
	taken := f.ev(patientID, planID, adherence.EventTaken, f.now, clientID)
	taken.Event.RequestedDose = ds[0].ID
	if out := f.record(taken); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
		f.t.Fatalf("taking the dose due within the hour early: %+v", out[0])
	}
}
