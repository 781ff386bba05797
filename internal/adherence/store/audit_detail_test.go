package store_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
)

// TestChangesAreAuditedWithWhatChanged: the audit record of a patient or
// plan edit names the fields it changed (never their values), and that of
// a plan's pause, resume or stop the status set. They were bare updates:
// the trail could not tell a consent withdrawal from a new address, nor a
// pause from a stop (QA).
func TestChangesAreAuditedWithWhatChanged(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		p := pat
		p.SMSConsent = !p.SMSConsent
		p.TimeZone = "America/Chicago"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, pat.Version); err != nil {
			t.Fatal(err)
		}
		same := p
		if err := f.s.UpdatePatient(f.ctx, f.actor, &same, p.Version); err != nil {
			t.Fatal(err)
		}
		plan := pl
		plan.Instructions = "with food"
		if err := f.s.UpdatePlan(f.ctx, f.actor, &plan, pl.Version); err != nil {
			t.Fatal(err)
		}
		for _, st := range []adherence.PlanStatus{adherence.PlanPaused, adherence.PlanActive, adherence.PlanStopped} {
			if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for _, r := range f.auditRecords() {
			if r.Action == "U" && (r.ResourceType == "Patient" || r.ResourceType == "MedicationRequest") {
				got = append(got, r.ResourceType+" "+r.Detail)
			}
		}
		want := []string{"Patient fields=timeZone,smsConsent", "Patient fields=none", "MedicationRequest fields=instructions",
			"MedicationRequest status=paused", "MedicationRequest status=active", "MedicationRequest status=stopped"}
		if len(got) != len(want) {
			t.Fatalf("update records = %q, want %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("update records = %q, want %q", got, want)
			}
		}
	})
}
