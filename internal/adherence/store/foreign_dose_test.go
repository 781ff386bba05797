package store_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// TestAnotherOrgsDoseNamesNoPatient: a patient or caregiver naming a dose
// of another organization is answered as for a dose that does not exist,
// and the refusal names no patient: it named the other org's patient in
// the caller's own audit trail, which told the caller's admin, dose id by
// dose id, which ids exist elsewhere and whose they are (QA). Another
// patient of the caller's own org is still named.
func TestAnotherOrgsDoseNamesNoPatient(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		b, actorB := f.otherOrg()
		pb := adherence.Patient{OrgID: b, GivenName: phi.New("B"), TimeZone: "America/New_York"}
		if err := f.s.CreatePatient(f.ctx, actorB, &pb); err != nil {
			t.Fatal(err)
		}
		planB := adherence.Plan{OrgID: b, PatientID: pb.ID, Medication: adherence.Medication{RxNorm: "314076"}, Timing: timeOfDay("08:00")}
		if err := f.s.CreatePlan(f.ctx, actorB, &planB); err != nil {
			t.Fatal(err)
		}
		var doseB int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM dose_instances WHERE plan_id = $1 ORDER BY due_at LIMIT 1`, planB.ID).Scan(&doseB); err != nil {
			t.Fatalf("a dose of org B: %v", err)
		}
		for _, role := range []string{"patient", "caregiver", "admin"} {
			in := f.ev(pat.ID, "", adherence.EventTaken, local(2026, 3, 2, 8, 0), "foreign-"+role)
			in.Event.RequestedDose, in.Actor.Role = doseB, role
			out := f.record(in)
			if e, ok := out[0].Err.(*errs.Error); !ok || e.Code != errs.CodeNotFound || e.Field != "doseId" {
				t.Errorf("%s: another org's dose answered %v, want not found on doseId", role, out[0].Err)
			}
			if out[0].RefusedPatientID == pb.ID {
				t.Errorf("%s: the refusal names the other org's patient", role)
			}
		}
	})
}
