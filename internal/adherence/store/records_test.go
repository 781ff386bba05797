package store_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

func TestAPIKeys(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, keyID, hash, err := auth.NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		o, err := f.s.Bootstrap(f.ctx, "Care Program", adherence.APIKey{ID: keyID, Role: "admin", Hash: hash, CreatedBy: "cli:bootstrap"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.s.LookupAPIKey(f.ctx, keyID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OrgID != o.ID || got.Role != auth.RoleAdmin || !bytes.Equal(got.Hash, hash) || got.RevokedAt != nil || got.ExpiresAt != nil {
			t.Fatalf("looked-up key = %+v", got)
		}

		exp := f.now.Add(30 * day)
		k := adherence.APIKey{ID: "abcdefghijkl", OrgID: o.ID, Role: "patient", Subject: "p-1", Name: "app", Hash: []byte{1, 2, 3},
			CreatedAt: f.now.Add(time.Second), CreatedBy: keyID, ExpiresAt: &exp}
		if err := f.s.CreateAPIKey(f.ctx, f.actor, k); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.s.CreateAPIKey(f.ctx, f.actor, k), errs.CodeConflict)

		keys, err := f.s.ListAPIKeys(f.ctx, o.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		k.Hash = nil
		if len(keys) != 2 || keys[1].Hash != nil {
			t.Fatalf("keys = %+v", keys)
		}
		if diff := cmp.Diff(k, keys[1]); diff != "" {
			t.Errorf("listed key (-want +got):\n%s", diff)
		}

		otherOrg, otherActor := f.otherOrg()
		wantCode(t, f.s.RevokeAPIKey(f.ctx, otherActor, otherOrg, k.ID), errs.CodeNotFound)
		f.now = f.now.Add(time.Hour)
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, o.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, o.ID, k.ID); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		got, err = f.s.LookupAPIKey(f.ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == nil || !got.RevokedAt.Equal(f.now) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.Subject != "p-1" {
			t.Fatalf("revoked key = %+v", got)
		}
		_, err = f.s.LookupAPIKey(f.ctx, "nosuchkey000")
		wantCode(t, err, errs.CodeNotFound)
	})
}

func TestPatientRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := adherence.Patient{
			OrgID: f.org, GivenName: phi.New("Zoë"), FamilyName: phi.New("Ñúñez 李"), BirthDate: phi.New("1950-02-03"),
			Phone: phi.New("+15551230000"), Email: phi.New("zoe@example.com"), TimeZone: "America/Chicago", Language: "es",
			Anchors: schedule.Anchors{Wake: 6 * 60, Breakfast: 6*60 + 30, Lunch: 12 * 60, Dinner: 18*60 + 15, Bed: 22*60 + 45},
			Quiet:   adherence.QuietHours{Start: 21 * 60, End: 7 * 60, Set: true}, SMSConsent: true, ShareMedicationWithCaregivers: true,
		}
		if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
			t.Fatal(err)
		}
		if p.ID == "" || p.Version != 1 || !p.Active || !p.CreatedAt.Equal(start) {
			t.Fatalf("created patient = %+v", p)
		}
		got, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got, phiEqual); diff != "" {
			t.Errorf("patient (-created +read):\n%s", diff)
		}

		// Defaults: anchors and language.
		q := adherence.Patient{OrgID: f.org, GivenName: phi.New("Bo"), TimeZone: "Europe/Paris"}
		if err := f.s.CreatePatient(f.ctx, f.actor, &q); err != nil {
			t.Fatal(err)
		}
		got, err = f.s.GetPatient(f.ctx, f.org, q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Anchors != schedule.DefaultAnchors() || got.Language != "en" || got.Quiet.Set {
			t.Errorf("defaults = %+v", got)
		}

		bad := adherence.Patient{OrgID: f.org, GivenName: phi.New("X"), TimeZone: "Mars/Olympus"}
		wantCode(t, f.s.CreatePatient(f.ctx, f.actor, &bad), errs.CodeInvalid)
		_, err = f.s.GetPatient(f.ctx, f.org, "not-a-uuid")
		wantCode(t, err, errs.CodeNotFound)
	})
}

func TestListPatients(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		var ids []string
		for range 5 {
			ids = append(ids, f.patient("America/New_York").ID)
		}
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, ids[2], false); err != nil {
			t.Fatal(err)
		}
		list := func(pf store.PatientFilter) []string {
			t.Helper()
			ps, err := f.s.ListPatients(f.ctx, f.org, pf)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range ps {
				out = append(out, p.ID)
			}
			return out
		}
		if got, want := list(store.PatientFilter{}), []string{ids[0], ids[1], ids[3], ids[4]}; !cmp.Equal(got, want) {
			t.Errorf("active = %v, want %v", got, want)
		}
		if got := list(store.PatientFilter{IncludeInactive: true}); !cmp.Equal(got, ids) {
			t.Errorf("all = %v, want %v", got, ids)
		}
		page1 := list(store.PatientFilter{IncludeInactive: true, Limit: 2})
		page2 := list(store.PatientFilter{IncludeInactive: true, Limit: 2, AfterID: page1[1]})
		page3 := list(store.PatientFilter{IncludeInactive: true, Limit: 2, AfterID: page2[1]})
		if got := append(append(page1, page2...), page3...); !cmp.Equal(got, ids) {
			t.Errorf("pages = %v, want %v", got, ids)
		}

		m := adherence.Member{OrgID: f.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer")}
		if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{ids[1], ids[2]} {
			if err := f.s.LinkMember(f.ctx, f.actor, f.org, adherence.Link{PatientID: id, MemberID: m.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if got := list(store.PatientFilter{LinkedMemberID: m.ID}); !cmp.Equal(got, []string{ids[1]}) {
			t.Errorf("linked = %v", got)
		}
		if got := list(store.PatientFilter{LinkedMemberID: m.ID, IncludeInactive: true}); !cmp.Equal(got, []string{ids[1], ids[2]}) {
			t.Errorf("linked incl. inactive = %v", got)
		}
	})
}

func TestMembersAndLinks(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		m := adherence.Member{OrgID: f.org, Kind: adherence.MemberCaregiver, Name: phi.New("Rosa Díaz"),
			Email: phi.New("rosa@example.net"), Phone: phi.New("+15557654321")}
		if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.GetMember(f.ctx, f.org, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m, got, phiEqual); diff != "" {
			t.Errorf("member (-created +read):\n%s", diff)
		}
		bad := adherence.Member{OrgID: f.org, Kind: "friend", Name: phi.New("X")}
		wantCode(t, f.s.CreateMember(f.ctx, f.actor, &bad), errs.CodeInvalid)
		ms, err := f.s.ListMembers(f.ctx, f.org, "", 0)
		if err != nil || len(ms) != 1 {
			t.Fatalf("members = %v, %v", ms, err)
		}

		link := adherence.Link{PatientID: p.ID, MemberID: m.ID, Kind: adherence.MemberClinician, Relationship: "daughter"}
		if err := f.s.LinkMember(f.ctx, f.actor, f.org, link); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Hour)
		link.Relationship = "niece"
		if err := f.s.LinkMember(f.ctx, f.actor, f.org, link); err != nil {
			t.Fatalf("relink: %v", err)
		}
		links, err := f.s.ListLinks(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []adherence.Link{{PatientID: p.ID, MemberID: m.ID, Kind: adherence.MemberCaregiver, Relationship: "niece", CreatedAt: start}}
		if diff := cmp.Diff(want, links); diff != "" {
			t.Errorf("links (-want +got):\n%s", diff)
		}
		if ok, err := f.s.IsLinked(f.ctx, f.org, p.ID, m.ID); err != nil || !ok {
			t.Errorf("IsLinked = %v, %v", ok, err)
		}
		if err := f.s.UnlinkMember(f.ctx, f.actor, f.org, p.ID, m.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.s.UnlinkMember(f.ctx, f.actor, f.org, p.ID, m.ID), errs.CodeNotFound)
		if ok, err := f.s.IsLinked(f.ctx, f.org, p.ID, m.ID); err != nil || ok {
			t.Errorf("IsLinked after unlink = %v, %v", ok, err)
		}
		wantCode(t, f.s.LinkMember(f.ctx, f.actor, f.org, adherence.Link{PatientID: p.ID, MemberID: p.ID}), errs.CodeNotFound)

		var actions []string
		for _, r := range f.auditRecords() {
			if r.ResourceType == "Link" {
				actions = append(actions, r.Action)
				if r.PatientID != p.ID || r.ResourceID != m.ID {
					t.Errorf("link audit record = %+v", r)
				}
			}
		}
		if !cmp.Equal(actions, []string{"C", "U", "D"}) {
			t.Errorf("link audit actions = %v", actions)
		}
	})
}

func TestFills(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		for _, fl := range []adherence.Fill{
			{PlanID: pl.ID, FillDate: "2026-02-01", DaysSupply: 30, Quantity: 30},
			{PlanID: pl.ID, FillDate: "2026-01-01", DaysSupply: 90, Quantity: 90.5},
		} {
			if _, err := f.s.AddFill(f.ctx, f.actor, f.org, &fl); err != nil {
				t.Fatal(err)
			}
		}
		// Not dates, or dates PDC cannot read back (year 0000: stored by
		// SQLite, an insert error on PostgreSQL).
		for _, bad := range []string{"01/02/2026", "0000-06-01"} {
			_, err := f.s.AddFill(f.ctx, f.actor, f.org, &adherence.Fill{PlanID: pl.ID, FillDate: bad, DaysSupply: 30})
			wantCode(t, err, errs.CodeInvalid)
		}
		fills, err := f.s.ListFills(f.ctx, f.org, pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(fills) != 2 || fills[0].FillDate != "2026-01-01" || fills[0].DaysSupply != 90 || fills[0].Quantity != 90.5 ||
			fills[1].FillDate != "2026-02-01" || fills[0].PlanID != pl.ID || !fills[0].CreatedAt.Equal(start) || fills[0].ID == "" {
			t.Errorf("fills = %+v", fills)
		}
	})
}

func TestOrgIsolation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		m := adherence.Member{OrgID: f.org, Kind: adherence.MemberClinician, Name: phi.New("Dr A")}
		if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
			t.Fatal(err)
		}
		if err := f.s.LinkMember(f.ctx, f.actor, f.org, adherence.Link{PatientID: p.ID, MemberID: m.ID}); err != nil {
			t.Fatal(err)
		}
		b, actorB := f.otherOrg()
		mb := adherence.Member{OrgID: b, Kind: adherence.MemberClinician, Name: phi.New("Dr B")}
		if err := f.s.CreateMember(f.ctx, actorB, &mb); err != nil {
			t.Fatal(err)
		}
		pb := adherence.Patient{OrgID: b, GivenName: phi.New("B"), TimeZone: "UTC"}
		if err := f.s.CreatePatient(f.ctx, actorB, &pb); err != nil {
			t.Fatal(err)
		}
		notFound := func(name string, err error) {
			t.Helper()
			if !errs.Is(err, errs.CodeNotFound) {
				t.Errorf("%s from org B: %v, want not found", name, err)
			}
		}
		_, err := f.s.GetPatient(f.ctx, b, p.ID)
		notFound("GetPatient", err)
		_, err = f.s.GetPlan(f.ctx, b, pl.ID)
		notFound("GetPlan", err)
		_, err = f.s.GetMember(f.ctx, b, m.ID)
		notFound("GetMember", err)
		_, err = f.s.ListPlans(f.ctx, b, p.ID)
		notFound("ListPlans", err)
		_, err = f.s.ListLinks(f.ctx, b, p.ID)
		notFound("ListLinks", err)
		_, err = f.s.ListFills(f.ctx, b, pl.ID)
		notFound("ListFills", err)
		up := p
		up.OrgID = b
		notFound("UpdatePatient", f.s.UpdatePatient(f.ctx, actorB, &up, p.Version))
		upl := pl
		upl.OrgID = b
		notFound("UpdatePlan", f.s.UpdatePlan(f.ctx, actorB, &upl, pl.Version))
		_, err = f.s.SetPatientActive(f.ctx, actorB, b, p.ID, false)
		notFound("SetPatientActive", err)
		_, err = f.s.SetPlanStatus(f.ctx, actorB, b, pl.ID, adherence.PlanPaused)
		notFound("SetPlanStatus", err)
		_, err = f.s.AddFill(f.ctx, actorB, b, &adherence.Fill{PlanID: pl.ID, FillDate: "2026-01-01", DaysSupply: 30})
		notFound("AddFill", err)
		notFound("LinkMember (A's patient)", f.s.LinkMember(f.ctx, actorB, b, adherence.Link{PatientID: p.ID, MemberID: mb.ID}))
		notFound("LinkMember (A's member)", f.s.LinkMember(f.ctx, actorB, b, adherence.Link{PatientID: pb.ID, MemberID: m.ID}))
		notFound("UnlinkMember", f.s.UnlinkMember(f.ctx, actorB, b, p.ID, m.ID))
		notFound("CreatePlan", f.s.CreatePlan(f.ctx, actorB, &adherence.Plan{OrgID: b, PatientID: p.ID, Timing: timeOfDay("08:00")}))

		if ps, err := f.s.ListPatients(f.ctx, b, store.PatientFilter{IncludeInactive: true}); err != nil || len(ps) != 1 || ps[0].ID != pb.ID {
			t.Errorf("ListPatients(B) = %v, %v", ps, err)
		}
		if ps, err := f.s.ListPatients(f.ctx, b, store.PatientFilter{LinkedMemberID: m.ID}); err != nil || len(ps) != 0 {
			t.Errorf("ListPatients(B, A's member) = %v, %v", ps, err)
		}
		if ds, err := f.s.ListDoses(f.ctx, b, store.DoseFilter{PatientID: p.ID}); err != nil || len(ds) != 0 {
			t.Errorf("ListDoses(B, A's patient) = %d doses, %v", len(ds), err)
		}
		if ds, err := f.s.ListDoses(f.ctx, b, store.DoseFilter{PlanID: pl.ID}); err != nil || len(ds) != 0 {
			t.Errorf("ListDoses(B, A's plan) = %d doses, %v", len(ds), err)
		}
		if ok, err := f.s.IsLinked(f.ctx, b, p.ID, m.ID); err != nil || ok {
			t.Errorf("IsLinked(B) = %v, %v", ok, err)
		}
		if ms, err := f.s.ListMembers(f.ctx, b, "", 0); err != nil || len(ms) != 1 || ms[0].ID != mb.ID {
			t.Errorf("ListMembers(B) = %v, %v", ms, err)
		}

		// Nothing of org A changed.
		got, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil || got.Version != 1 || !got.Active {
			t.Errorf("patient A after org B's attempts = %+v, %v", got, err)
		}
		gotPlan, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
		if err != nil || gotPlan.Version != 1 || gotPlan.Status != adherence.PlanActive {
			t.Errorf("plan A after org B's attempts = %+v, %v", gotPlan, err)
		}
	})
}

func TestOptimisticConcurrency(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		stale := p
		p.Language = "en"
		f.now = f.now.Add(time.Minute)
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, 1); err != nil {
			t.Fatal(err)
		}
		if p.Version != 2 || !p.UpdatedAt.Equal(f.now) {
			t.Fatalf("updated patient version %d at %v", p.Version, p.UpdatedAt)
		}
		stale.FamilyName = phi.New("Overwritten")
		wantCode(t, f.s.UpdatePatient(f.ctx, f.actor, &stale, 1), errs.CodeConflict)
		got, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got, phiEqual); diff != "" {
			t.Errorf("patient after conflict (-want +got):\n%s", diff)
		}

		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		stalePlan := pl
		pl.Instructions = "after breakfast"
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, 1); err != nil {
			t.Fatal(err)
		}
		stalePlan.Instructions = "lost update"
		wantCode(t, f.s.UpdatePlan(f.ctx, f.actor, &stalePlan, 1), errs.CodeConflict)
		gotPlan, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if gotPlan.Version != 2 || gotPlan.Instructions != "after breakfast" {
			t.Errorf("plan after conflict = version %d, %q", gotPlan.Version, gotPlan.Instructions)
		}
		if diff := cmp.Diff(pl, gotPlan); diff != "" {
			t.Errorf("plan (-updated +read):\n%s", diff)
		}
	})
}

func TestAuditSameTransaction(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		recs := f.auditRecords()
		if len(recs) != 2 {
			t.Fatalf("audit records = %+v", recs)
		}
		for i, want := range []struct{ action, typ, id string }{{"C", "Patient", p.ID}, {"C", "MedicationRequest", pl.ID}} {
			r := recs[i]
			if r.Action != want.action || r.ResourceType != want.typ || r.ResourceID != want.id || r.PatientID != p.ID ||
				r.ActorID != f.actor.ID || r.ActorRole != "admin" || r.RequestID != "req-1" || r.ClientAddr != "192.0.2.1" || r.Outcome != 0 {
				t.Errorf("record %d = %+v", i, r)
			}
		}

		// The audit append fails (no actor) after the change was written:
		// the whole transaction rolls back.
		nobody := adherence.Actor{}
		q := adherence.Patient{OrgID: f.org, GivenName: phi.New("Ghost"), TimeZone: "UTC"}
		if err := f.s.CreatePatient(f.ctx, nobody, &q); err == nil {
			t.Fatal("create patient without actor succeeded")
		}
		if n := f.count(`SELECT COUNT(*) FROM patients`); n != 1 {
			t.Errorf("patients after failed create = %d, want 1", n)
		}
		before := f.count(`SELECT COUNT(*) FROM dose_instances`)
		pl2 := adherence.Plan{OrgID: f.org, PatientID: p.ID, Timing: timeOfDay("09:00:00")}
		if err := f.s.CreatePlan(f.ctx, nobody, &pl2); err == nil {
			t.Fatal("create plan without actor succeeded")
		}
		if n := f.count(`SELECT COUNT(*) FROM plans`); n != 1 {
			t.Errorf("plans after failed create = %d, want 1", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM dose_instances`); n != before {
			t.Errorf("doses after failed create = %d, want %d", n, before)
		}
		if _, err := f.s.SetPlanStatus(f.ctx, nobody, f.org, pl.ID, adherence.PlanPaused); err == nil {
			t.Fatal("pause without actor succeeded")
		}
		if got := byStatus(f.allDoses(pl.ID)); got[adherence.DoseExcluded] != 0 {
			t.Errorf("doses after failed pause = %v", got)
		}
		// A conflict writes nothing either.
		wantCode(t, f.s.UpdatePatient(f.ctx, f.actor, &p, 7), errs.CodeConflict)
		if n := len(f.auditRecords()); n != 2 {
			t.Errorf("audit records after failures = %d, want 2", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM audit_log`); n != 2 {
			t.Errorf("audit_log rows = %d, want 2", n)
		}
	})
}
