package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestReportCountsAgreeWithDoses: the cohort report (CohortCounts, per
// patient) and the patient, plan and org reports (DoseCounts) count what
// the dose instances and orphan events of the window say, whichever query
// answers them: every status, double doses, orphans of patients with no
// dose in the window, the window's bounds (from in, to out), and nothing of
// another org or of events that scored.
func TestReportCountsAgreeWithDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a := f.patient("America/New_York")
		a1 := f.plan(a.ID, timeOfDay("08:00", "14:00", "20:00"))
		a2 := f.plan(a.ID, timeOfDay("09:00"))
		b := f.patient("America/Chicago")
		b1 := f.plan(b.ID, timeOfDay("08:00", "20:00"))
		c := f.patient("America/New_York")
		c1 := f.plan(c.ID, timeOfDay("08:00"))
		otherOrg, otherActor := f.otherOrg()
		op := adherence.Patient{OrgID: otherOrg, TimeZone: "America/New_York", Language: "en"}
		if err := f.s.CreatePatient(f.ctx, otherActor, &op); err != nil {
			t.Fatal(err)
		}
		opl := adherence.Plan{OrgID: otherOrg, PatientID: op.ID, Medication: adherence.Medication{RxNorm: "314076"}, Timing: timeOfDay("08:00")}
		if err := f.s.CreatePlan(f.ctx, otherActor, &opl); err != nil {
			t.Fatal(err)
		}

		// The window starts and ends on a dose of a1.
		from, to := local(2026, 3, 2, 8, 0), local(2026, 3, 6, 14, 0)
		statuses := []adherence.DoseStatus{adherence.DoseTakenOnTime, adherence.DoseTakenLate, adherence.DoseSkipped,
			adherence.DoseMissed, adherence.DoseExcluded, adherence.DoseScheduled, adherence.DoseTakenOnTime}
		var ids []int64
		rows, err := f.d.SQL.QueryContext(f.ctx, `SELECT id FROM dose_instances ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			f.exec(`UPDATE dose_instances SET status = $1, double_dose = $2 WHERE id = $3`, string(statuses[i%len(statuses)]), i%5 == 0, id)
		}
		// c has no dose in the window, only an orphan.
		f.exec(`DELETE FROM dose_instances WHERE patient_id = $1`, c.ID)

		type orphan struct {
			org, patient, plan string
			at                 time.Time
			result             string
		}
		orphans := []orphan{
			{f.org, a.ID, a1.ID, from, "orphan"},                         // at from: in
			{f.org, a.ID, a2.ID, local(2026, 3, 4, 3, 0), "orphan"},      // in
			{f.org, a.ID, a1.ID, to, "orphan"},                           // at to: out
			{f.org, a.ID, a1.ID, local(2026, 3, 4, 8, 5), "scored"},      // not an orphan
			{f.org, b.ID, b1.ID, local(2026, 3, 1, 23, 0), "orphan"},     // before: out
			{f.org, c.ID, c1.ID, local(2026, 3, 5, 12, 0), "orphan"},     // in
			{otherOrg, op.ID, opl.ID, local(2026, 3, 4, 3, 0), "orphan"}, // another org
		}
		for i, o := range orphans {
			f.exec(`INSERT INTO events (id, org_id, patient_id, plan_id, kind, occurred_at, received_at, source,
				client_event_id, result, actor_id) VALUES ($1, $2, $3, $4, 'taken', $5, $5, 'app', $6, $7, 'x')`,
				fmt.Sprintf("01890000-0000-7000-8000-%012d", i), o.org, o.patient, o.plan, o.at.UTC(), fmt.Sprint("c-", i), o.result)
		}

		// What the reports must say, counted here from the rows.
		add := func(c *adherence.DoseCounts, d adherence.DoseInstance) {
			c.Scheduled++
			switch d.Status {
			case adherence.DoseTakenOnTime:
				c.OnTime++
			case adherence.DoseTakenLate:
				c.Late++
			case adherence.DoseSkipped:
				c.Skipped++
			case adherence.DoseMissed:
				c.Missed++
			case adherence.DoseExcluded:
				c.Excluded++
			default:
				c.Pending++
			}
			if d.DoubleDose {
				c.DoubleDoses++
			}
		}
		in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
		byPatient, byPlan := map[string]adherence.DoseCounts{}, map[string]adherence.DoseCounts{}
		var total adherence.DoseCounts
		for _, pl := range []adherence.Plan{a1, a2, b1, c1} {
			for _, d := range f.allDoses(pl.ID) {
				if !in(d.DueAt) {
					continue
				}
				p, q := byPatient[pl.PatientID], byPlan[pl.ID]
				add(&p, d)
				add(&q, d)
				add(&total, d)
				byPatient[pl.PatientID], byPlan[pl.ID] = p, q
			}
		}
		for _, o := range orphans {
			if o.org != f.org || o.result != "orphan" || !in(o.at) {
				continue
			}
			p, q := byPatient[o.patient], byPlan[o.plan]
			p.Orphans++
			q.Orphans++
			total.Orphans++
			byPatient[o.patient], byPlan[o.plan] = p, q
		}
		if len(byPatient) != 3 || byPatient[c.ID].Scheduled != 0 || byPatient[c.ID].Orphans != 1 || total.DoubleDoses == 0 {
			t.Fatalf("the fixture does not cover what it should: %+v", byPatient)
		}
		for _, s := range statuses {
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE org_id = $1 AND status = $2 AND due_at >= $3 AND due_at < $4`,
				f.org, string(s), from.UTC(), to.UTC()); n == 0 {
				t.Fatalf("no %s dose in the window", s)
			}
		}

		cohort, err := f.s.CohortCounts(f.ctx, f.org, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(byPatient, cohort); diff != "" {
			t.Errorf("CohortCounts (-want +got):\n%s", diff)
		}
		for _, tc := range []struct {
			name string
			flt  store.ReportFilter
			want adherence.DoseCounts
		}{
			{"org", store.ReportFilter{}, total},
			{"patient a", store.ReportFilter{PatientID: a.ID}, byPatient[a.ID]},
			{"patient c", store.ReportFilter{PatientID: c.ID}, byPatient[c.ID]},
			{"plan a1", store.ReportFilter{PlanID: a1.ID}, byPlan[a1.ID]},
			{"plan a2 of a", store.ReportFilter{PatientID: a.ID, PlanID: a2.ID}, byPlan[a2.ID]},
			{"plan b1", store.ReportFilter{PlanID: b1.ID}, byPlan[b1.ID]},
			{"plan b1 of a", store.ReportFilter{PatientID: a.ID, PlanID: b1.ID}, adherence.DoseCounts{}},
		} {
			tc.flt.From, tc.flt.To = from, to
			got, err := f.s.DoseCounts(f.ctx, f.org, tc.flt)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DoseCounts %s (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

// TestCohortQueryReadsEachPatientsWindow: on SQLite the cohort counts are
// read patient by patient, each patient's window a range of
// dose_instances_patient_due (its due_at bounded in the index, not
// filtered), grouped as they come without a temporary b-tree. Read the
// other way round, as one scan of the org's instances grouped by patient,
// the report read every instance the org ever had.
func TestCohortQueryReadsEachPatientsWindow(t *testing.T) {
	// SQLite only: on PostgreSQL the lateral subquery runs once per
	// patient by construction.
	f := newFixture(t, dbtest.SQLite(t, sets...))
	plan := f.sqlitePlan(store.CohortCountsSQL(db.SQLite), f.org, start, start.Add(30*24*time.Hour))
	const inner = "SEARCH d USING COVERING INDEX dose_instances_patient_due (org_id=? AND patient_id=? AND due_at>? AND due_at<?)"
	if len(plan) != 2 || !strings.HasPrefix(plan[0], "SEARCH p USING COVERING INDEX ") || !strings.HasSuffix(plan[0], " (org_id=?)") || plan[1] != inner {
		t.Errorf("query plan:\n%s\nwant: the org's patients through an index on (org_id, id), then for each\n%s", strings.Join(plan, "\n"), inner)
	}
}
