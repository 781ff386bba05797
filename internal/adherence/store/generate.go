package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/match"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// genPlan is what dose generation needs to know about a plan and its
// patient.
type genPlan struct {
	id, orgID, patientID string
	timing               schedule.Timing
	asNeeded             bool
	startAt              time.Time
	endAt                *time.Time
	loc                  *time.Location
	anchors              schedule.Anchors
	// sameTiming marks a regeneration for a change of the patient's zone
	// or anchors: the plan's timing is unchanged, so a dose's wall time,
	// or its Seq and local date, still name its occurrence however far
	// its instant moved (see withoutKept).
	sameTiming bool
	// zoneMoved marks a regeneration after which the patient's zone may
	// differ from the one the plan's instances were generated in. Seq is
	// then no identity: it counts from the plan's start instant, which
	// falls at another wall time in another zone (00:00 UTC is 19:00 the
	// day before in New York, where the 20:00 dose of that day is Seq 1),
	// so the same Seq can name the previous dose.
	zoneMoved bool
	// createdAt is when the plan was created (see correctsZone).
	createdAt time.Time
	// gone holds the ids of the instances this regeneration excluded to
	// delete them (see excludeGone): none of them stands for its day.
	gone map[int64]bool
	// from is the start of the regeneration (see regenerate).
	from time.Time
	// notCorrection marks a regeneration that corrects no zone (see
	// correctsZone): a reactivation in the zone the doses were made in.
	notCorrection bool
}

// standsIn reports whether an instance of g still ahead may stand for its
// day's occurrence when the new schedule has no dose at its instant (see
// overtaken, passedByRank): a scheduled one, or one a pause or the
// patient's deactivation excluded, which comes back with its plan (see
// reviveSpared) — within the plan's start and end, not moved by a change
// of zone, not excluded by this regeneration to be deleted.
func (g *genPlan) standsIn(id int64, status string, movedByZone bool, due time.Time) bool {
	switch {
	case status == string(adherence.DoseScheduled):
		return true
	case status != string(adherence.DoseExcluded) || movedByZone || g.asNeeded || g.gone[id]:
		return false
	}
	return !due.Before(g.startAt) && (g.endAt == nil || due.Before(*g.endAt))
}

// reviveSpared schedules again the excluded instances due from from on
// whose instants spare keeps (see standsIn), reminded from scratch as a
// revived dose is (see insertDoses), and returns their ids: the scoring
// of revived doses (scoreRevived) then scores the takings and skips
// recorded for them while they were excluded. A daily 12:58 dose kept for
// its day after a change to 10:58, taken early, then paused and resumed
// before 12:58, was deleted, and its taking orphaned (QA).
func reviveSpared(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time, spare map[int64]bool) (map[int64]bool, error) {
	revived := map[int64]bool{}
	if len(spare) == 0 {
		return revived, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, due_at, moved_by_zone FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND status = 'excluded'`, g.orgID, g.id, from)
	if err != nil {
		return nil, fmt.Errorf("read excluded doses: %w", err)
	}
	for rows.Next() {
		var id int64
		var due time.Time
		var moved bool
		if err := rows.Scan(&id, &due, &moved); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read excluded doses: %w", err)
		}
		if spare[db.UTC(due).UnixMicro()] && g.standsIn(id, string(adherence.DoseExcluded), moved, due) {
			revived[id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read excluded doses: %w", err)
	}
	for id := range revived {
		_, err := tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'scheduled',
			reminders_before = reminders_sent, remind_at = NULL
			WHERE org_id = $1 AND plan_id = $2 AND id = $3 AND status = 'excluded'`, g.orgID, g.id, id)
		if err != nil {
			return nil, fmt.Errorf("revive a dose kept for its day: %w", err)
		}
	}
	return revived, nil
}

func genPlanOf(p adherence.Plan, loc *time.Location, anchors schedule.Anchors) genPlan {
	return genPlan{id: p.ID, orgID: p.OrgID, patientID: p.PatientID, timing: p.Timing, asNeeded: p.AsNeeded,
		startAt: p.StartAt, endAt: p.EndAt, loc: loc, anchors: anchors, createdAt: p.CreatedAt}
}

// correctionWindow is how soon after a plan's creation a change of the
// patient's zone, before any of its doses was due, corrects the zone the
// plan was created in (see correctsZone).
const correctionWindow = 10 * time.Minute

// correctsZone reports whether a change of zone at from is a correction
// for plan g: made within correctionWindow of the plan's creation, no
// dose of it due yet. The plan then gets the doses it would have had had
// it been created in the new zone, and no dose of the old zone is kept
// for its day (see overtaken): a patient enrolled in Tokyo at 18:29 with
// a daily 06:09 dose, moved to Los Angeles and back a second later, kept
// Los Angeles's 06:09 of that day, 7 hours before Tokyo's first dose
// (QA); one moved from Los Angeles to Tokyo a minute after enrolment kept
// Los Angeles's 02:02 an hour before Tokyo's 20:02. Outcomes recorded in
// advance (a skip, an early taking) stay, as after any change. Later, or
// once a dose was due, a change of zone is the patient's travel, and the
// day keeps its dose.
func correctsZone(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time) (bool, error) {
	if !g.zoneMoved || g.notCorrection || g.createdAt.IsZero() || from.Sub(g.createdAt) >= correctionWindow {
		return false, nil
	}
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM dose_instances WHERE org_id = $1 AND plan_id = $2 AND due_at < $3`,
		g.orgID, g.id, db.UTC(from)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read doses due: %w", err)
	}
	return n == 0, nil
}

// expand returns the plan's doses due in [from, to), the window clamped by
// the plan's start and end: a timing whose boundsPeriod starts before the
// plan's startAt has no doses before startAt. PRN plans have none.
//
// The schedule counts from startAt truncated to the second (doses fall on
// whole seconds), so a window opening within that second opens at its
// beginning: a plan created at 10:00:00.4 without a startAt, now, has its
// first dose of an elapsed interval at 10:00:00, not 0.4 s before the
// window and lost.
func (g *genPlan) expand(from, to time.Time) ([]schedule.Dose, error) {
	if from.Before(g.startAt) {
		from = g.startAt
	}
	if s := g.startAt.Truncate(time.Second); from.Truncate(time.Second).Equal(s) {
		from = s
	}
	if g.endAt != nil && g.endAt.Before(to) {
		to = *g.endAt
	}
	if g.asNeeded || !from.Before(to) {
		return nil, nil
	}
	doses, err := schedule.Expand(g.timing, schedule.Params{
		Location: g.loc, Anchors: g.anchors, Start: g.startAt, From: from, To: to,
	})
	if err != nil {
		return nil, fmt.Errorf("expand plan %s: %w", g.id, err)
	}
	return doses, nil
}

// beforeStart returns the doses in [from, to) that g's schedule would
// have had on the local date of its start before its start instant, had
// the plan been created at the beginning of that day, with Seq 0 (they
// are no doses of the plan, and count for nothing). An instance of that
// date still ahead stands for the new dose of its wall time there after
// a change of zone, even when the plan started after that dose: a plan
// created at 05:18 in Los Angeles, its daily 08:00 dose still ahead,
// moved to Tokyo, where 08:00 of that day was before the plan existed,
// keeps its dose for the day as it would had it been created a day
// earlier (see overtaken). (By rank, see dayOrders, they would not
// count: the instances of that date before the start, of the old timing,
// do not exist to be ranked beside them.) Schedules of a period in hours
// or less are anchored at the start instant, not to wall times: they
// have none.
func (g *genPlan) beforeStart(from, to time.Time) ([]schedule.Dose, error) {
	r := g.timing.Repeat
	if g.asNeeded || r == nil || r.PeriodUnit == "h" || r.PeriodUnit == "min" || r.PeriodUnit == "s" {
		return nil, nil
	}
	y, m, d := g.startAt.In(g.loc).Date()
	// The day's first instant: on a day whose midnight is skipped, time.Date
	// gave an hour of the day before (QA).
	day := schedule.Instant(g.loc, y, m, d, 0, 0, 0)
	if from.Before(day) {
		from = day
	}
	if g.startAt.Before(to) {
		to = g.startAt
	}
	if !from.Before(to) {
		return nil, nil
	}
	// A count counts from the plan's start: none of these is counted.
	rep := *r
	rep.Count, rep.CountMax = nil, nil
	t := g.timing
	t.Repeat = &rep
	doses, err := schedule.Expand(t, schedule.Params{Location: g.loc, Anchors: g.anchors, Start: day, From: from, To: to})
	if err != nil {
		return nil, fmt.Errorf("expand plan %s: %w", g.id, err)
	}
	for i := range doses {
		doses[i].Seq = 0
	}
	return doses, nil
}

// planDoses are the doses generated for one plan.
type planDoses struct {
	plan  *genPlan
	doses []schedule.Dose
}

// regenerate makes the plan's instances in [from, ∞) match its expansion
// over [from, to): missing instances are inserted, excluded ones that are
// due again are revived, and scheduled or excluded ones no longer in the
// expansion are deleted. Instances with any other status (an outcome) are
// left alone, and the dose of the expansion that such an instance stands
// for is not created beside it (see withoutKept). It sets the plan's
// generated_until to to. After a change of zone it returns what decided
// the patient's orphans and the doses it made before from for them (see
// orphanDecisions, overtaken), for scoreRevived; nil otherwise. Running it
// twice changes nothing.
func (s *Store) regenerate(ctx context.Context, tx *db.Tx, g genPlan, from, to time.Time) (*orphanDecisions, error) {
	from, to = db.UTC(from), db.UTC(to)
	g.from = from
	doses, err := g.expand(from, to)
	if err != nil {
		return nil, err
	}
	near := crowdingGap(doses)
	if g.zoneMoved {
		// Before the kept doses are read: a revived one is among them.
		if err := reviveMovedAway(ctx, tx, &g, from, doses); err != nil {
			return nil, err
		}
	}
	kept, err := keptOutcomes(ctx, tx, &g, from, to)
	if err != nil {
		return nil, err
	}
	var days dayOrders
	if len(kept) > 0 {
		if days, err = dayOrdersOf(ctx, tx, &g, kept, to); err != nil {
			return nil, err
		}
	}
	// Filtered before deleteStale, so that a scheduled instance left at
	// the instant of a dose that a kept one stands for is deleted too.
	doses, moved, gone := withoutKept(doses, kept, from, g.sameTiming, g.zoneMoved, days)
	if g.zoneMoved {
		doses = notBesideKept(doses, kept, moved, gone, besideGap(doses, near))
	}
	// After a change of zone, the new-zone doses already past that the
	// patient's events decided are made (see overtaken).
	var decided *orphanDecisions
	var made []schedule.Dose
	if g.zoneMoved && g.sameTiming {
		// A change of zone moves a wall time by at most 26 hours.
		recent, err := g.expand(from.Add(-36*time.Hour), from)
		if err != nil {
			return nil, err
		}
		if decided, err = decidedAt(ctx, tx, &g, from, recent, doses); err != nil {
			return nil, err
		}
		moved, made = pendingDecidedThere(&g, kept, moved, recent, decided)
	}
	// Read before deleteStale orphans them.
	carried, err := carriedEvents(ctx, tx, &g, from, to, doses)
	if err != nil {
		return nil, err
	}
	// Excluded, so that deleteStale deletes them and orphans their skips.
	if err := excludeGone(ctx, tx, &g, gone); err != nil {
		return nil, err
	}
	g.gone = make(map[int64]bool, len(gone))
	for _, k := range gone {
		g.gone[k.id] = true
	}
	var spare map[int64]bool
	if g.sameTiming {
		if spare, made, err = overtaken(ctx, tx, &g, from, to, doses, near, decided, made); err != nil {
			return nil, err
		}
	} else {
		spare = overtakenKept(kept, moved)
		if err := passedByRank(ctx, tx, &g, from, to, doses, kept, spare); err != nil {
			return nil, err
		}
	}
	revived, err := reviveSpared(ctx, tx, &g, from, spare)
	if err != nil {
		return nil, err
	}
	carried = slices.DeleteFunc(carried, func(e carriedEvent) bool { return revived[e.oldDose] })
	if doses, err = capCount(ctx, tx, &g, from, doses, spare); err != nil {
		return nil, err
	}
	if err := deleteStale(ctx, tx, &g, from, doses, spare); err != nil {
		return nil, err
	}
	if err := excludeMoved(ctx, tx, &g, moved, s.clock()); err != nil {
		return nil, err
	}
	if _, err := insertDoses(ctx, tx, []planDoses{{plan: &g, doses: doses}, {plan: &g, doses: made}}, s.clock(), false); err != nil {
		return nil, err
	}
	if err := carryEvents(ctx, tx, &g, carried); err != nil {
		return nil, err
	}
	if err := setGeneratedUntil(ctx, tx, []string{g.id}, to); err != nil {
		return nil, err
	}
	if err := setDoseBasis(ctx, tx, &g); err != nil {
		return nil, err
	}
	// Doses due before the reminder arming cursor would never be armed
	// by the periodic pass: arm them now.
	if err := s.armPlan(ctx, tx, g.orgID, g.id, s.clock()); err != nil {
		return nil, err
	}
	if decided == nil {
		return nil, nil
	}
	// Only the doses made keep their pick (see scoreRevived).
	out := &orphanDecisions{picks: make(map[int64]string, len(made)), chose: decided.chose}
	for _, d := range made {
		at := db.UTC(d.Due).UnixMicro()
		out.picks[at] = decided.picks[at]
	}
	return out, nil
}

// keptDose is an instance with an outcome: its ordinal and due instant.
// pending marks one due before the regenerated window (see keptOutcomes),
// or overtaken, and scheduled one of those still without an outcome;
// skipped marks one skipped. overtaken marks one still ahead whose wall
// time, in another zone, is already past in the patient's (see
// keptOutcomes).
type keptDose struct {
	id        int64
	seq       int
	due       time.Time
	local     string // wall time in the zone it was generated in, 2006-01-02T15:04
	pending   bool
	scheduled bool
	skipped   bool
	missed    bool
	overtaken bool
	// takenThere marks a pending dose whose day's dose in the new zone
	// the patient's event decided (see pendingDecidedThere): excluded,
	// even when missed.
	takenThere bool
}

// keptOutcomes returns the plan's instances due in [from, to) that carry an
// outcome (a skip recorded up to a day ahead, a taking reported early), and
// those due in the day before from that are not excluded, with an outcome
// or still without one (due, their window perhaps still open: the late
// window is at most a day), in due order. Regeneration keeps them as they
// are, and each stands for its occurrence: a pending 08:00 dose whose plan
// moves to 08:45 at 08:30 is today's dose, and a second one at 08:45 would
// make one of the two a certain miss; an 08:00 dose taken before the move
// is today's dose too, and a second one at 08:45 would ask for a second
// taking, and be missed and escalated without one.
//
// On a timing change (!g.sameTiming) they include the scheduled instances
// of the window that a move east kept for their day (see overtaken): due
// ahead at their instant in the old zone, while their wall time is past
// in the new one. Such an instance is a dose of its local date already
// due, as one of the day before the window is, and is kept as pending:
// deleted as not in the new expansion, it left its day without a dose,
// the day's new dose being past too.
func keptOutcomes(ctx context.Context, tx *db.Tx, g *genPlan, from, to time.Time) ([]keptDose, error) {
	// A change of zone moves a wall time by at most 26 hours.
	aheadTo := from
	if !g.sameTiming {
		aheadTo = from.Add(36 * time.Hour)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, seq, due_at, local_time, status FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2
		  AND ((due_at >= $3 AND due_at < $4 AND status NOT IN ('scheduled', 'excluded'))
		    OR (due_at >= $5 AND due_at < $3 AND status <> 'excluded')
		    OR (due_at >= $3 AND due_at < $6 AND status = 'scheduled'))
		ORDER BY due_at`, g.orgID, g.id, from, to, db.UTC(from.Add(-pendingBefore)), db.UTC(aheadTo))
	if err != nil {
		return nil, fmt.Errorf("read kept doses: %w", err)
	}
	defer rows.Close()
	var out []keptDose
	for rows.Next() {
		var k keptDose
		var status string
		if err := rows.Scan(&k.id, &k.seq, &k.due, &k.local, &status); err != nil {
			return nil, fmt.Errorf("read kept doses: %w", err)
		}
		k.pending = k.due.Before(from)
		k.scheduled = status == string(adherence.DoseScheduled)
		k.skipped = status == string(adherence.DoseSkipped)
		k.missed = status == string(adherence.DoseMissed)
		if k.scheduled && !k.pending {
			// Overtaken: its wall time is past in the patient's zone and
			// is not its instant's there. (The wall time of a dose in a
			// daylight-saving gap reads as its instant, as the schedule
			// places it, and that of a repeated hour is its instant's.
			// time.ParseInLocation read Santiago's 00:30 of a day whose
			// midnight is skipped as 23:30 the day before: a timing change
			// at 23:55 took the dose still ahead for one already past and
			// kept it at its old time, QA.)
			lt, err := time.Parse(localLayout, k.local)
			if err != nil {
				continue
			}
			wall := schedule.Instant(g.loc, lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), 0)
			if !wall.Before(from) || k.local == k.due.In(g.loc).Format(localLayout) {
				continue
			}
			k.pending, k.overtaken = true, true
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read kept doses: %w", err)
	}
	return out, nil
}

// dayOrders are the doses of the local dates of the kept doses of a timing
// change, in due order: before the change (the instances, without the
// excluded ones) and after it (the new expansion over whole days).
type dayOrders struct {
	before, after map[string][]time.Time // local date → due instants
}

// dayOrdersOf reads the dayOrders of the kept doses of g, whose new
// expansion ends at to.
func dayOrdersOf(ctx context.Context, tx *db.Tx, g *genPlan, kept []keptDose, to time.Time) (dayOrders, error) {
	d := dayOrders{before: map[string][]time.Time{}, after: map[string][]time.Time{}}
	// Local dates span at most 26 hours: a day and a half either side of
	// the kept doses holds their whole dates.
	lo, hi := kept[0].due.Add(-36*time.Hour), kept[len(kept)-1].due.Add(36*time.Hour)
	// Excluded instances are no doses of their date, but for those a
	// pause or the patient's deactivation excluded, still ahead, ranked
	// as they were before (see standsIn): uncounted, the twice-a-day
	// plan's evening dose, excluded, left the kept morning dose to stand
	// for the first new dose of another rank.
	rows, err := tx.QueryContext(ctx, `SELECT id, due_at, local_time, status, moved_by_zone FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND due_at < $4
		ORDER BY due_at`, g.orgID, g.id, db.UTC(lo), db.UTC(hi))
	if err != nil {
		return d, fmt.Errorf("read doses of kept dates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var due time.Time
		var local, status string
		var moved bool
		if err := rows.Scan(&id, &due, &local, &status, &moved); err != nil {
			return d, fmt.Errorf("read doses of kept dates: %w", err)
		}
		if status == string(adherence.DoseExcluded) && (due.Before(g.from) || !g.standsIn(id, status, moved, due)) {
			continue
		}
		if len(local) >= 10 {
			d.before[local[:10]] = append(d.before[local[:10]], due.UTC())
		}
	}
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("read doses of kept dates: %w", err)
	}
	doses, err := g.expand(lo, to)
	if err != nil {
		return d, err
	}
	for _, x := range doses {
		d.after[x.Local[:10]] = append(d.after[x.Local[:10]], db.UTC(x.Due))
	}
	// The plan's first date, when the new timing has no dose on it after
	// the plan's start: its doses there are the ones it would have had
	// before the start (see genPlan.beforeStart), already due. An
	// instance of that date stands for the one of its rank, past, and is
	// kept, as on any later date whose new doses passed: a plan created at
	// 07:30 with 08:00, moved to 06:00 at 07:45, keeps the day's 08:00
	// dose (and a skip recorded for it). Counted as a date without a dose,
	// the day lost it, and the skip was orphaned.
	//
	// So are they when, with them, the new timing has as many doses on
	// that date as the instances there: the date's doses keep their ranks
	// counted from the day's first. A plan created at 01:23 with 01:53,
	// 07:53 and 15:53, changed at once to 00:53, 06:53 and 14:53: 01:53
	// is the day's first dose, whose new time is past, and is kept (it
	// was deleted, and the next dose was at 06:53), and taken early it
	// stands for 00:53, not for 06:53. (When the old timing too had doses
	// before the start, the counts differ, and ranks are not counted so.)
	first := g.startAt.In(g.loc).Format("2006-01-02")
	if len(d.before[first]) > 0 {
		early, err := g.beforeStart(lo, to)
		if err != nil {
			return d, err
		}
		n := len(d.after[first])
		if n == 0 && len(d.before[first]) < len(early) {
			// The old timing's doses of that date began before the start
			// too, and its instances are the day's last doses: they stand
			// for the new day's last ones. A plan created at 18:05 with
			// 06:10 and 18:10, its 18:10 dose taken early, changed to
			// 04:05 and 16:05: the taking stands for 16:05. Numbered by
			// Seq instead, as the plan's first dose, it stood for the next
			// day's 04:05, which was not scheduled, 22 hours between doses
			// (QA).
			early = early[len(early)-len(d.before[first]):]
		}
		if n == 0 || len(d.before[first]) == len(early)+n {
			full := make([]time.Time, 0, len(early)+n)
			for _, x := range early {
				full = append(full, db.UTC(x.Due))
			}
			d.after[first] = append(full, d.after[first]...)
		}
	}
	return d, nil
}

// rankPassed reports whether instance k stands, by its rank among the
// doses of its local date before a timing change, for a new dose of that
// date already due at from: the new dose of the same rank exists and is
// past. The number of doses of the date may change: the first dose of a
// day stays its first dose, so the only, 20:00, dose of a plan changed at
// 19:00 to 08:00 and 18:00 stands for the new 08:00 dose. A rank beyond
// the new doses of the date (the 20:00 dose of three a day changed to
// one) stands for none. Counting from the first dose gives the day no
// more than its new number of doses, unless more old doses were already
// due than new ones are past, and keeps the doses nearest the new times
// that passed (three a day changed to one at 06:00 at 07:00 keep 08:00,
// not 20:00, ten hours before the next day's 06:00).
func (d dayOrders) rankPassed(k keptDose, from time.Time) bool {
	if len(k.local) < 10 {
		return false
	}
	before, after := d.before[k.local[:10]], d.after[k.local[:10]]
	r := slices.IndexFunc(before, func(t time.Time) bool { return t.Equal(db.UTC(k.due)) })
	return r >= 0 && r < len(after) && after[r].Before(from)
}

// localLayout is the layout of a dose's wall time (local_time).
const localLayout = "2006-01-02T15:04"

// pendingBefore is how long before a regeneration an instance without an
// outcome may have been due and still stand for its occurrence: the
// longest late window (lateMaxMinutes is at most 1440).
const pendingBefore = 24 * time.Hour

// nearKept is how far from a new dose a kept dose may be and still stand
// for it when their Seq disagree (see withoutKept): timing changes move
// doses by an hour or two, while doses of different occurrences are
// usually hours apart.
const nearKept = 3 * time.Hour

// sameDaySpan is how far apart a kept dose and the new dose of its wall
// time may be, after a change of zone, and still be one occurrence: moves
// of up to half a day (London to New York) keep the identity of a dose by
// its wall time; beyond, the new dose is another day of the patient's.
const sameDaySpan = 12 * time.Hour

// occurrenceSpan is how far from doses[i] a kept dose of its wall time may
// be and still be its occurrence after a change of zone: sameDaySpan, or
// half the distance to its nearest neighbour in the expansion when more.
// A weekly plan's doses are a week apart: its Sunday 19:54 dose taken in
// Auckland is the week's, and Sunday 19:54 in Honolulu, 23 hours later, is
// the same occurrence, not another day's (QA: a once-weekly drug asked for
// twice within a day after a move west across the date line).
func occurrenceSpan(doses []schedule.Dose, i int) time.Duration {
	var gap time.Duration
	if i > 0 {
		gap = doses[i].Due.Sub(doses[i-1].Due)
	}
	if i+1 < len(doses) {
		if next := doses[i+1].Due.Sub(doses[i].Due); gap == 0 || next < gap {
			gap = next
		}
	}
	return max(sameDaySpan, gap/2)
}

// withoutKept drops from doses (an expansion, sorted by due instant) the
// doses that an instance with an outcome already stands for, so that an
// occurrence never has two instances after a timing or time-zone change.
//
// The identity of an occurrence is its Seq: the schedule numbers doses
// from the plan start, "so the same dose has the same Seq in every window"
// (package schedule), and repeat.count counts Seq. A kept instance with no
// expansion dose at its own instant (there UNIQUE (plan_id, due_at) and the
// upsert already keep it single) is therefore the occurrence of the
// expansion dose with its Seq, which is not created again. One condition
// guards against a Seq that the change renumbered (say from three doses a
// day to one, where the same Seq falls days later): the kept instance must
// lie between that dose's neighbours in the expansion, that is, where the
// new schedule would have put the occurrence. Only instances due in the
// regenerated window count, and those of the day before it not excluded
// (see keptOutcomes): earlier ones are history, and a sparser new
// schedule may reuse their Seq for later doses.
//
// A timing change that leaves a kept instance's local date with as many
// doses as before keeps their order: the kept instance is the occurrence
// of the new dose of the same rank on that date (the evening dose skipped
// at 20:00 is the new evening dose, at 13:00 or 23:00), and of no other
// if that dose is not in the expansion (the new morning dose already
// due). Seq cannot tell this when the plan's first day has more or fewer
// doses under the new timing (a plan created at 10:00 with 08:00 and
// 20:00 has one dose that day, with 11:00 and 23:00 two), which shifts
// every later Seq by one.
//
// When only the patient's zone or anchors changed (sameTiming), the dose
// at a kept instance's wall time (date and time) is its occurrence, else,
// if the zone stayed (!zoneMoved: only the anchors moved the times), the
// dose of its Seq on the same local date, however far their instants are
// apart. After a change of zone Seq may be renumbered (see
// genPlan.zoneMoved), and the wall time alone names the occurrence: the
// 08:00 London dose skipped in advance is the 08:00 New York dose, not
// the 20:00 New York dose of the day before that now has its Seq. Beyond
// nearKept the occurrence
// moves to the new dose, and the pending instance is returned in moved, to
// be excluded: the patient who flies from London to New York at 08:30,
// the 08:00 dose not yet taken, takes it at 08:00 Eastern, five hours
// later and past the late window of the London instance. Keeping both
// made one a certain miss; keeping the London one made the taking an
// orphan and the dose a miss. An instance of the day before with an
// outcome (the 08:00 dose taken in London before the flight) ends its
// occurrence: the new dose is dropped, not scheduled as a second one.
// So it does after a timing change that keeps the number of doses of its
// date, for the new dose of its rank however far that moved: the morning
// dose taken at 08:00 is the day's first dose when the times become 13:00
// and 21:00 at noon, and no third dose is scheduled at 13:00; a morning
// dose still without an outcome moves to 13:00 and is excluded.
//
// A timing change that leaves a kept instance of the regenerated window
// on a date without any dose (the cycle of an every-other-day plan moved
// by a day) ends its occurrence: the plan no longer has it. Such an
// instance skipped in advance is returned in gone, to be deleted with the
// doses the plan no longer has, its skip orphaned: from the change on,
// exactly the doses of the new timing exist. A taking is kept. So it
// does for a pending instance of such a date still without an outcome
// (the day's 08:00 dose, due an hour before the cycle moved): it is
// returned in moved, to be excluded (deleted when overtaken, still
// ahead), rather than stay to score a taking, or be missed and
// escalated, as a dose the plan no longer has; one with an outcome keeps
// it. An
// instance of the window skipped in advance that stands for no dose of a
// timing change by rank, Seq or nearness is gone too (three doses a day
// become one at 08:00 in the afternoon: the 20:00 dose skipped is no
// occurrence of the plan any more); kept, it counted in the reports a
// dose the plan no longer has. One whose rank on its date names a new
// dose already past (see dayOrders.rankPassed: one dose a day at 20:00
// becomes two, at 08:00 and 18:00, at 19:00) stands for that dose and
// keeps its skip.
func withoutKept(doses []schedule.Dose, kept []keptDose, from time.Time, sameTiming, zoneMoved bool, days dayOrders) (out []schedule.Dose, moved, gone []keptDose) {
	if len(kept) == 0 {
		return doses, nil, nil
	}
	due := make(map[int64]bool, len(doses))
	byDue := make(map[int64]int, len(doses))
	bySeq := make(map[int]int, len(doses))
	byLocal := make(map[string]int, len(doses))
	for i, d := range doses {
		due[db.UTC(d.Due).UnixMicro()] = true
		byDue[db.UTC(d.Due).UnixMicro()] = i
		bySeq[d.Seq] = i
		byLocal[d.Local] = i
	}
	// byRank returns the dose of the same rank on k's local date after a
	// timing change (found), when the date has as many doses as before
	// (known). A date with no dose under the new timing (a day no longer
	// a dosing day of an every-other-day plan whose cycle moved) is known
	// too: k stands for no dose, not for the dose that a renumbering gave
	// its Seq on another day.
	byRank := func(k keptDose) (i int, found, known bool) {
		if len(k.local) < 10 {
			return 0, false, false
		}
		before, after := days.before[k.local[:10]], days.after[k.local[:10]]
		if len(before) > 0 && len(after) == 0 {
			return 0, false, true
		}
		if len(before) == 0 || len(before) != len(after) {
			return 0, false, false
		}
		r := slices.IndexFunc(before, func(t time.Time) bool { return t.Equal(db.UTC(k.due)) })
		if r < 0 {
			return 0, false, false
		}
		i, found = byDue[after[r].UnixMicro()]
		return i, found, true
	}
	// sameOccurrence returns the dose that kept dose k is the occurrence
	// of after a change of the patient's zone or anchors.
	sameOccurrence := func(k keptDose) (int, bool) {
		if i, ok := byLocal[k.local]; ok {
			// After a change of zone, the new dose of its wall time is its
			// occurrence only within sameDaySpan of it: further, across
			// the date line westward (Auckland to Honolulu, 23 hours),
			// that new dose is the patient's next day, and dropped as the
			// same occurrence it left that day without a dose (QA: 47
			// hours between pills after a dose taken early).
			if zoneMoved && doses[i].Due.Sub(k.due).Abs() >= occurrenceSpan(doses, i) {
				return 0, false
			}
			return i, true
		}
		// After a change of zone, a kept dose whose wall time the new
		// schedule does not have (a timing change made it at 08:00 and
		// moved the day's other doses to 09:00; or anchors and zone
		// changed together) is the dose of the same rank on its date,
		// within the same span as by wall time: unmatched, the 09:00
		// London dose was scheduled beside the New York 08:00 dose
		// skipped in advance, two doses on a once-a-day date (QA).
		if zoneMoved {
			if i, found, _ := byRank(k); found && doses[i].Due.Sub(k.due).Abs() < occurrenceSpan(doses, i) {
				return i, true
			}
			return 0, false
		}
		// After a change of the anchors, the dose of the same rank on its
		// date, when the date keeps its number of doses: breakfast moved
		// from 07:30 to 09:00 on a plan whose first day gains a dose by it
		// renumbers every later dose, and the breakfast dose skipped in
		// advance stood for none (it met its Seq on another date), so a
		// second breakfast dose was scheduled beside it (QA).
		if i, found, _ := byRank(k); found {
			return i, true
		}
		if i, ok := bySeq[k.seq]; ok && sameLocalDate(doses[i].Local, k.local) {
			return i, true
		}
		return 0, false
	}
	keptAt := make(map[int64]bool, len(kept))
	for _, k := range kept {
		keptAt[db.UTC(k.due).UnixMicro()] = true
	}
	drop := make(map[int]bool, len(kept))
	var unmatched []keptDose
	for _, k := range kept {
		if k.pending {
			// Before the expansion, so without a neighbour to bound it
			// from below: it stands only for the dose of its own Seq,
			// moved by a timing change (nearKept), never for a dose that
			// a renumbering gave its Seq days later.
			// Matched by wall time or by rank on its date, it is the
			// occurrence of the new dose however far that moved.
			// An overtaken one was numbered in another zone: its Seq
			// is no identity (see genPlan.zoneMoved).
			i, ok := bySeq[k.seq]
			ok = ok && !k.overtaken
			same := sameTiming
			if sameTiming {
				i, ok = sameOccurrence(k)
			} else if j, found, known := byRank(k); known {
				i, ok, same = j, found, true
			}
			switch {
			case !ok && same && !sameTiming && k.scheduled && len(days.after[k.local[:10]]) == 0:
				// Still without an outcome on a date that is no longer a
				// dosing day: the plan no longer has its occurrence, as
				// for the rest of the old schedule. Excluded, it is no
				// longer taken nor missed.
				moved = append(moved, k)
			case !ok:
			case doses[i].Due.Sub(k.due) < nearKept || (zoneMoved && doses[i].Due.Sub(k.due) == nearKept):
				// After a change of zone, within 3 h includes 3 h, as
				// for crowding (see within): New York to Los Angeles just
				// after 05:43 kept the due dose, not Los Angeles's 05:43
				// three hours later (QA).
				drop[i] = true
			case same && !k.scheduled:
				// Taken, skipped or missed already: the occurrence is
				// over, and the new dose would be a second one.
				drop[i] = true
			case same:
				moved = append(moved, k)
			}
			continue
		}
		if due[db.UTC(k.due).UnixMicro()] {
			continue
		}
		if sameTiming {
			if i, ok := sameOccurrence(k); ok {
				drop[i] = true
				continue
			}
			if zoneMoved {
				// Its wall time lies before the window in the new zone:
				// the occurrence is past, and no later dose is it.
				continue
			}
		} else if i, found, known := byRank(k); known {
			switch {
			case found:
				drop[i] = true
			case k.skipped && len(days.after[k.local[:10]]) == 0:
				gone = append(gone, k)
			}
			continue
		}
		// Between its neighbours is no bound when they are a day apart,
		// or when the dose is the expansion's first: the dose of its Seq
		// must also be within nearKept of it, or on its local date and
		// within half the new schedule's interval. Two doses a day
		// changed to one on the plan's first day renumbered tomorrow's
		// 07:50 (or 08:00, ten hours after tonight's 22:00) as tonight's
		// dose, skipped in advance, which stood for it: tomorrow had no
		// dose, and the skip of a dose the plan no longer had counted;
		// every 6 h changed to every 8 h, the 19:00 dose skipped stood
		// for tomorrow's 01:00 (QA).
		i, ok := bySeq[k.seq]
		if ok {
			gap := doses[i].Due.Sub(k.due).Abs()
			ok = gap < nearKept || (sameLocalDate(doses[i].Local, k.local) && gap < occurrenceSpan(doses, i))
		}
		if !ok || (i > 0 && !doses[i-1].Due.Before(k.due)) || (i+1 < len(doses) && !k.due.Before(doses[i+1].Due)) {
			unmatched = append(unmatched, k)
			continue
		}
		drop[i] = true
	}
	// A kept dose whose Seq the change renumbered onto another occurrence
	// (two doses a day become three, at other times) stands for the new
	// dose nearest to it, if that is within nearKept and unambiguous: the
	// evening dose skipped at 20:00 is the one now due at 19:00, not a
	// second evening dose. Further away it stands for none (three doses a
	// day become one at 08:00: tomorrow's 08:00 is another occurrence),
	// and one skipped in advance is gone, as on a date without any dose:
	// the plan no longer has its occurrence, and a skip kept for it would
	// count in the reports a dose that is not scheduled.
	for _, k := range unmatched {
		j := sort.Search(len(doses), func(x int) bool { return !doses[x].Due.Before(k.due) })
		best, bestGap, tie := -1, time.Duration(0), false
		for _, i := range []int{j - 1, j} {
			if i < 0 || i >= len(doses) {
				continue
			}
			gap := doses[i].Due.Sub(k.due).Abs()
			switch {
			case best < 0 || gap < bestGap:
				best, bestGap, tie = i, gap, false
			case gap == bestGap:
				tie = true
			}
		}
		if best < 0 || bestGap >= nearKept {
			// One whose rank on its date names a new dose already past
			// (see dayOrders.rankPassed) is that dose, kept with its skip,
			// as a scheduled one is kept for it (see passedByRank).
			if k.skipped && !sameTiming && !days.rankPassed(k, from) {
				gone = append(gone, k)
			}
			continue
		}
		if tie || drop[best] || keptAt[db.UTC(doses[best].Due).UnixMicro()] {
			continue
		}
		drop[best] = true
	}
	if len(drop) == 0 {
		return doses, moved, gone
	}
	out = make([]schedule.Dose, 0, len(doses)-len(drop))
	for i, d := range doses {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return out, moved, gone
}

// carriedEvent is an event recorded against an excluded instance that
// regeneration deletes, and the new dose of the same occurrence it moves
// to.
type carriedEvent struct {
	eventID string
	oldDose int64
	due     time.Time // of the new dose
}

// carriedEvents returns the events that a patient recorded against the
// plan's excluded instances due from from on that are not among doses (a
// skip in advance, a taking, while the plan was paused: recorded, not
// scored), each with the dose of doses that stands for its occurrence:
// the dose at the same wall time, else the one with the same Seq on the
// same local date, else the nearest one on that date within nearKept. An
// event whose occurrence has no dose there is left to be orphaned with
// its instance. Deleting the instance orphaned every such event: the
// skip in advance of tomorrow's dose, recorded while the plan was paused
// and its time then changed, was lost, and the new dose was missed.
func carriedEvents(ctx context.Context, tx *db.Tx, g *genPlan, from, to time.Time, doses []schedule.Dose) ([]carriedEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.id, d.id, d.seq, d.due_at, d.local_time
		FROM dose_instances d JOIN events e ON e.dose_instance_id = d.id
		WHERE d.org_id = $1 AND d.plan_id = $2 AND d.due_at >= $3 AND d.status = 'excluded'
		  AND e.result = 'recorded' AND e.kind IN ('taken', 'opened', 'skipped')
		ORDER BY e.occurred_at, e.id`, g.orgID, g.id, from)
	if err != nil {
		return nil, fmt.Errorf("read events of excluded doses: %w", err)
	}
	defer rows.Close()
	keep := make(map[int64]bool, len(doses))
	for _, d := range doses {
		keep[db.UTC(d.Due).UnixMicro()] = true
	}
	var out []carriedEvent
	var insts []keptDose // the instances of out, in order
	for rows.Next() {
		var e carriedEvent
		var k keptDose
		if err := rows.Scan(&e.eventID, &e.oldDose, &k.seq, &k.due, &k.local); err != nil {
			return nil, fmt.Errorf("read events of excluded doses: %w", err)
		}
		if keep[db.UTC(k.due).UnixMicro()] {
			continue // its instance stays, revived
		}
		k.id = e.oldDose
		out, insts = append(out, e), append(insts, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events of excluded doses: %w", err)
	}
	rows.Close()
	if len(out) == 0 {
		return nil, nil
	}
	// The new dose of an instance's rank on its date, when the date keeps
	// its number of doses, is its occurrence, as for a dose with an
	// outcome (see withoutKept): a pause took the outcome away. By Seq,
	// the afternoon dose of a first day whose morning dose a timing
	// change kept, skipped in advance, gave its skip to the evening dose
	// (QA).
	byDue := slices.Clone(insts)
	slices.SortFunc(byDue, func(a, b keptDose) int { return a.due.Compare(b.due) })
	days, err := dayOrdersOf(ctx, tx, g, byDue, to)
	if err != nil {
		return nil, err
	}
	carried := out[:0]
	for n, e := range out {
		k := insts[n]
		i := days.rankDose(doses, k)
		if i < 0 {
			i = occurrenceOf(doses, k)
		}
		if i < 0 {
			continue
		}
		e.due = db.UTC(doses[i].Due)
		carried = append(carried, e)
	}
	return carried, nil
}

// rankDose returns the index in doses of the new dose of k's rank on its
// local date, when the date keeps its number of doses, or -1.
func (d dayOrders) rankDose(doses []schedule.Dose, k keptDose) int {
	if len(k.local) < 10 {
		return -1
	}
	before, after := d.before[k.local[:10]], d.after[k.local[:10]]
	r := slices.IndexFunc(before, func(t time.Time) bool { return t.Equal(db.UTC(k.due)) })
	if r < 0 || len(before) != len(after) {
		return -1
	}
	return slices.IndexFunc(doses, func(x schedule.Dose) bool { return db.UTC(x.Due).Equal(after[r]) })
}

// occurrenceOf returns the index of the dose of doses that stands for the
// occurrence of instance k (see carriedEvents), or -1.
func occurrenceOf(doses []schedule.Dose, k keptDose) int {
	sameSeq, nearest, gap := -1, -1, nearKept
	for i, d := range doses {
		switch {
		case !sameLocalDate(d.Local, k.local):
		case d.Local == k.local:
			return i
		case d.Seq == k.seq:
			sameSeq = i
		case d.Due.Sub(k.due).Abs() < gap:
			nearest, gap = i, d.Due.Sub(k.due).Abs()
		}
	}
	if sameSeq >= 0 {
		return sameSeq
	}
	return nearest
}

// carryEvents moves the carried events to their new instances, recorded
// and naming them, as if they had been recorded against them: the scoring
// of revived doses (scoreRevived) then scores them. An event that named
// the deleted dose keeps that id in sent_dose, for its retries (replay).
func carryEvents(ctx context.Context, tx *db.Tx, g *genPlan, carried []carriedEvent) error {
	for _, e := range carried {
		_, err := tx.ExecContext(ctx, `UPDATE events SET
			dose_instance_id = (SELECT id FROM dose_instances WHERE plan_id = $1 AND due_at = $2),
			requested_dose = CASE WHEN requested_dose = $3 THEN (SELECT id FROM dose_instances WHERE plan_id = $1 AND due_at = $2)
			                      ELSE requested_dose END,
			sent_dose = CASE WHEN requested_dose = $3 THEN COALESCE(sent_dose, requested_dose) ELSE sent_dose END,
			result = 'recorded', dose_status = ''
			WHERE id = $4`, g.id, e.due, e.oldDose, e.eventID)
		if err != nil {
			return fmt.Errorf("move events of a deleted dose: %w", err)
		}
	}
	return nil
}

// excludeMoved marks excluded the pending instances whose occurrence
// moved to a new dose, or ended with their date's doses (see
// withoutKept), if they are still without an outcome: the patient's
// taking scores the new one, if any. A missed one the patient's event in
// the new zone took over (takenThere) is excluded too, and announced
// resolved.
func excludeMoved(ctx context.Context, tx *db.Tx, g *genPlan, moved []keptDose, now time.Time) error {
	var recs []outboxRecord
	for _, k := range moved {
		missed := k.missed && k.takenThere
		res, err := tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'excluded', moved_by_zone = $4
			WHERE org_id = $1 AND plan_id = $2 AND id = $3 AND (status = 'scheduled' OR ($5 AND status = 'missed'))`, g.orgID, g.id, k.id, g.zoneMoved, missed)
		if err != nil {
			return fmt.Errorf("exclude moved dose: %w", err)
		}
		// A missed dose was announced (dose.missed): its escalation ends
		// as for any missed dose excluded (see excludeMisses).
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("exclude moved dose: %w", err)
		} else if n == 1 && missed {
			recs = append(recs, outboxRecord{orgID: g.orgID, topic: TopicDoseResolved, key: fmt.Sprint(k.id), patientID: g.patientID, at: now,
				payload: DosePayload{DoseInstanceID: k.id, PlanID: g.id, PatientID: g.patientID, DueAt: db.UTC(k.due), Status: string(adherence.DoseExcluded)}})
		}
	}
	return insertOutbox(ctx, tx, recs)
}

// excludeGone marks excluded the kept instances skipped in advance whose
// date no longer has a dose (see withoutKept): deleteStale then deletes
// them and orphans their skips, as it does for an instance excluded by a
// pause.
func excludeGone(ctx context.Context, tx *db.Tx, g *genPlan, gone []keptDose) error {
	for _, k := range gone {
		_, err := tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'excluded'
			WHERE org_id = $1 AND plan_id = $2 AND id = $3 AND status = 'skipped'`, g.orgID, g.id, k.id)
		if err != nil {
			return fmt.Errorf("exclude dose of a date without doses: %w", err)
		}
	}
	return nil
}

// sameLocalDate reports whether two wall times (2006-01-02T15:04) fall on
// the same date.
func sameLocalDate(a, b string) bool {
	return len(a) >= 10 && len(b) >= 10 && a[:10] == b[:10]
}

// overtaken returns the due instants (Unix microseconds) of the plan's
// scheduled instances due from from on that are not among doses while
// the dose of their occurrence, after a change of the patient's zone or
// anchors (g.sameTiming), is already past: the one at their wall time,
// or, when the zone stayed, the one of their Seq on their local date. A
// move east can put the new dose of a day before the change while its
// instance in the old zone is still ahead (Los Angeles to Tokyo at 06:00
// Los Angeles time: 08:00 in Tokyo was nine hours earlier). Deleting that
// instance left the day without a dose; it is kept, due at its old
// instant, and stands for the day's dose.
//
// An instance whose wall time names no new dose at all, past or ahead
// (one that a timing change kept for its day at its old time, see
// passedByRank: 08:00 kept when the time became 06:00 at 07:00), stands
// for the new dose of its rank on its local date (see
// dayOrders.rankPassed), and is kept if that is past. Deleted, it left
// its day without a dose again: moving from New York to Chicago ten
// minutes after that change put 06:00 of the day in Chicago past, the
// kept 08:00 dose was not in the new schedule, and the day had none. If
// the new dose of its rank is still ahead (a move to Los Angeles, where
// 06:00 is two hours later), that dose is the day's and the instance
// gives way to it.
//
// After a change of zone, a day whose new dose is past and holds a taking
// or skip of the patient's (an orphan: outside every window of the old
// zone's doses) had its occurrence in the new zone: the patient moved
// east, took the 08:00 dose there, and the change reached the plan after.
// Its instance in the old zone is not kept; the new dose is returned in
// made, to be made although past and scored by that event (see
// scoreRevived). Kept, the dose already taken was reminded at Los
// Angeles's 08:00, three hours after New York's, and missed (QA).
//
// made holds the doses already to be made (see pendingDecidedThere); the
// ones overtaken adds are returned with them. A dose made passes a kept
// one of its day as a dose that stays does (see dayPassedBy): Tokyo's
// 20:00, taken, made while Los Angeles's 08:00 of the same day was still
// ahead, left that dose to come after it (QA re-test).
func overtaken(ctx context.Context, tx *db.Tx, g *genPlan, from, to time.Time, doses []schedule.Dose, near time.Duration, decided *orphanDecisions, made []schedule.Dose) (map[int64]bool, []schedule.Dose, error) {
	listed := make(map[int64]bool, len(doses))
	ahead := make(map[string]bool, len(doses))
	for _, d := range doses {
		listed[db.UTC(d.Due).UnixMicro()] = true
		ahead[d.Local] = true
	}
	// In due order, as dayOrdersOf wants its doses.
	rows, err := tx.QueryContext(ctx, `SELECT id, seq, due_at, local_time, status, moved_by_zone FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND status IN ('scheduled', 'excluded')
		ORDER BY due_at`, g.orgID, g.id, from)
	if err != nil {
		return nil, nil, fmt.Errorf("read doses: %w", err)
	}
	var stale []keptDose
	for rows.Next() {
		var k keptDose
		var status string
		var moved bool
		if err := rows.Scan(&k.id, &k.seq, &k.due, &k.local, &status, &moved); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read doses: %w", err)
		}
		if !listed[k.due.UnixMicro()] && g.standsIn(k.id, status, moved, k.due) {
			stale = append(stale, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read doses: %w", err)
	}
	// The doses made so far stand whatever follows (QA re-test: with no
	// old-zone dose ahead, the plan's last, New York's dose was never
	// made and Los Angeles's, excluded, left the day without one).
	if len(stale) == 0 {
		return nil, made, nil
	}
	if correction, err := correctsZone(ctx, tx, g, from); err != nil || correction {
		return nil, made, err
	}
	// A change of zone moves a wall time by at most 26 hours.
	past, err := g.beforeStart(from.Add(-36*time.Hour), from)
	if err != nil {
		return nil, nil, err
	}
	rest, err := g.expand(from.Add(-36*time.Hour), from)
	if err != nil {
		return nil, nil, err
	}
	past = append(past, rest...)
	var stay []keptDose
	if g.zoneMoved {
		if stay, err = dueWallTimes(ctx, tx, g, from); err != nil {
			return nil, nil, err
		}
	}
	// passed reports whether the day of k, kept after a change of zone,
	// is already past k's dose: a dose of its date or a later one, new
	// and still ahead, comes before it (see passedAhead), an instance
	// that stays is due before it at its wall time or a later one (see
	// dueWallTimes), or a dose of another date crowds it.
	passed := func(k keptDose) bool {
		return g.zoneMoved && (passedAhead(k, doses) || dayPassedBy(k, stay) || crowded(k, doses, near))
	}
	spare := map[int64]bool{}
	var named, unnamed []keptDose
	for _, k := range stale {
		matched := false
		for _, d := range past {
			if d.Local == k.local || (!g.zoneMoved && d.Seq == k.seq && sameLocalDate(d.Local, k.local)) {
				// Made when the patient's event decided it (also when a
				// later new dose passed the kept one: three a day moved
				// east), else kept for its day unless the day is past
				// it (below).
				matched = true
				if g.decides(d, decided) {
					if !slices.ContainsFunc(made, func(m schedule.Dose) bool { return m.Due.Equal(d.Due) }) {
						made = append(made, d)
					}
				} else {
					named = append(named, k)
				}
				break
			}
		}
		// A local date spans at most 26 hours: an instance of a date
		// whose new dose is before from is due within a day and a half
		// of it. One whose wall time is a new dose still ahead is that
		// dose's occurrence, not kept beside it.
		if !matched && !ahead[k.local] && k.due.Before(from.Add(36*time.Hour)) {
			unnamed = append(unnamed, k)
		}
	}
	for _, d := range made {
		stay = append(stay, keptDose{due: db.UTC(d.Due), local: d.Local})
	}
	// Kept for its day unless the day is past it: twice a day at 09:16
	// and 21:16, moved from Los Angeles to Tokyo on Sunday at 13:46 there,
	// kept Sunday's Los Angeles 09:16 (Monday 02:16 in Tokyo) after
	// Sunday's new 21:16, three doses in 12 hours (QA).
	for _, k := range named {
		if !passed(k) {
			spare[db.UTC(k.due).UnixMicro()] = true
		}
	}
	if len(unnamed) == 0 {
		return spare, made, nil
	}
	days, err := dayOrdersOf(ctx, tx, g, unnamed, to)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range unnamed {
		if days.rankPassed(k, from) && !passed(k) {
			spare[db.UTC(k.due).UnixMicro()] = true
		}
	}
	return spare, made, nil
}

// decidedAt decides the takings, openings and skips of plan g's patient
// kept as orphans against the doses of g's new zone, as matching would
// have decided them had those doses existed (see orphanDecisions): a new
// dose already past that one of them scores may be made for it (see
// overtaken, pendingDecidedThere). Each orphan decides at most one dose,
// the one matching picks among the new zone's doses past (recent: those
// of the day and a half before from) and ahead (doses), in the order the orphans happened: one taking in the windows of
// London's 08:00 and 10:00 had both made, and 08:00, made without an
// outcome, was missed (QA re-test). An orphan that named a dose is that
// dose's, never another's: a skip of tonight's dose that a timing change
// orphaned skipped the morning's (QA re-test). It returns nil when there
// is no orphan.
//
// Orphans are read from a day and a half before from, and their reach
// (orphanReach) before: a move east of up to 26 hours can reach the plan
// after the day's new dose, taken then, is more than orphanReach past.
func decidedAt(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time, recent, doses []schedule.Dose) (*orphanDecisions, error) {
	since := from.Add(-36*time.Hour - orphanReach)
	rows, err := tx.QueryContext(ctx, `SELECT id, kind, occurred_at FROM events
		WHERE org_id = $1 AND patient_id = $2 AND plan_id = $3 AND result = 'orphan' AND occurred_at >= $4
		  AND kind IN ('taken', 'opened', 'skipped') AND requested_dose IS NULL
		ORDER BY occurred_at, id`, g.orgID, g.patientID, g.id, db.UTC(since))
	if err != nil {
		return nil, fmt.Errorf("read orphans: %w", err)
	}
	var orphans []match.Event
	var ids []string
	for rows.Next() {
		var e match.Event
		var id, kind string
		if err := rows.Scan(&id, &kind, &e.OccurredAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read orphans: %w", err)
		}
		e.Kind = adherence.EventKind(kind)
		orphans = append(orphans, e)
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read orphans: %w", err)
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	w, err := planWindows(ctx, tx, g.id)
	if err != nil {
		return nil, err
	}
	var view []match.Instance
	for _, d := range append(slices.Clip(recent), doses...) {
		if d.Seq > 0 && !d.Due.Before(g.startAt) {
			view = append(view, match.Instance{ID: int64(len(view) + 1), DueAt: db.UTC(d.Due), Status: adherence.DoseScheduled})
		}
	}
	out := &orphanDecisions{picks: map[int64]string{}, chose: make(map[string]int64, len(orphans))}
	for i, e := range orphans {
		dec := match.Decide(e, view, w)
		out.chose[ids[i]] = 0
		if dec.Instance < 0 {
			continue
		}
		c := &view[dec.Instance]
		out.chose[ids[i]] = c.DueAt.UnixMicro()
		if dec.Result != adherence.ResultScored {
			continue // a repeat of the dose's taking: its duplicate
		}
		c.Status, c.TakenAt = dec.Status, dec.TakenAt
		if c.DueAt.Before(from) {
			out.picks[c.DueAt.UnixMicro()] = ids[i]
		}
	}
	return out, nil
}

// orphanDecisions is what decidedAt decided of the patient's orphans
// after a change of zone.
type orphanDecisions struct {
	// picks maps the due instant (Unix microseconds) of a new-zone dose
	// already past to the orphan that scored it.
	picks map[int64]string
	// chose maps each orphan decided to the due instant of the dose it
	// was decided against (scored, or a repeat of its taking), 0 for
	// none. scoreRevived matches it against that dose only: matched
	// again against the doses ahead, a repeat opening of the orphan that
	// made London's 08:00 took London's 10:00, and an orphan whose own
	// pick was a past dose not made took the next one, each leaving the
	// patient's real taking a possible double dose (QA re-test).
	chose map[string]int64
}

// madeFor returns the orphan that decided the dose made at due instant at
// (Unix microseconds), or "" when none was made there.
func (o *orphanDecisions) madeFor(at int64) string {
	if o == nil {
		return ""
	}
	return o.picks[at]
}

// decides reports whether an orphan of decided (see decidedAt; nil: none)
// decided dose d, a dose of g's new zone already past, and d is one of
// the plan's: not before its start (the doses beforeStart gives, Seq 0,
// are none; made, a plan created after the day's dose had a course of
// one dose more, QA re-test).
func (g *genPlan) decides(d schedule.Dose, decided *orphanDecisions) bool {
	return decided != nil && d.Seq > 0 && !d.Due.Before(g.startAt) && decided.picks[db.UTC(d.Due).UnixMicro()] != ""
}

// pendingDecidedThere returns moved with the pending kept doses of the
// old zone still without an outcome (due before from, in their late
// window) whose day's new-zone dose at their wall time is past and was
// decided by the patient's event (see decidedAt; past holds the new
// zone's doses of the day and a half before the change), and those new
// doses, to be made: the patient took the dose there, and the old zone's dose is
// excluded. Left scheduled, Los Angeles's 08:00, due when the move to New
// York reached the plan, was missed and escalated, and the taking at New
// York's 08:00 stayed an orphan (QA re-test). A dose the missed-dose job
// marked missed is one without an outcome of the patient's: it gives way
// too, and is announced resolved (see excludeMoved). New York's 08:00,
// missed when its window closed at 08:00 in Los Angeles, kept the day and
// left the patient's taking there at 08:05 an orphan (QA re-test).
//
// Only the latest past dose of its time of day is made so: the day in
// progress in the new zone. An orphan of the day before, taken in Los
// Angeles three hours early, made New York's dose of that day when Los
// Angeles's, in a long late window, was still open (QA re-test).
func pendingDecidedThere(g *genPlan, kept, moved []keptDose, past []schedule.Dose, decided *orphanDecisions) ([]keptDose, []schedule.Dose) {
	if decided == nil {
		return moved, nil
	}
	var made []schedule.Dose
	for _, k := range kept {
		if !k.pending || !(k.scheduled || k.missed) || k.overtaken || slices.ContainsFunc(moved, func(m keptDose) bool { return m.id == k.id }) {
			continue
		}
		for _, d := range past {
			later := slices.ContainsFunc(past, func(x schedule.Dose) bool {
				return x.Due.After(d.Due) && len(x.Local) > 10 && len(d.Local) > 10 && x.Local[10:] == d.Local[10:]
			})
			if d.Local == k.local && !later && d.Due.Sub(k.due).Abs() < sameDaySpan && g.decides(d, decided) {
				k.takenThere = true
				moved = append(moved, k)
				made = append(made, d)
				break
			}
		}
	}
	return moved, made
}

// crowdingGap is how close a dose of another occurrence may come to a
// dose that stays after a change of zone before one of them gives way
// (see notBesideKept, crowded): nearKept, or half the smallest interval
// between consecutive doses of the plan's own schedule (doses, in due
// order) when that is less, so that no dose gives way to a neighbour its
// schedule puts that close. Four doses a day at 01:16, 05:16, 09:16 and
// 21:16 moved from Los Angeles to Chicago after the 21:16 one was taken:
// Sunday's 01:16, 2 h after it, was dropped with 3 h, and the day had
// three doses (QA).
func crowdingGap(doses []schedule.Dose) time.Duration {
	if smallest := smallestInterval(doses); smallest > 0 && smallest/2 < nearKept {
		return smallest / 2
	}
	return nearKept
}

// within reports whether two doses gap apart are within near of each other
// (see crowdingGap): closer than near, or exactly near when that is
// nearKept. Three hours is within 3 h: moves through several zones in a
// few seconds (Los Angeles to London to Tokyo) put the dose kept for a
// day exactly 3 hours before the next day's new one, whatever the plan's
// times, since Tokyo is 9 hours from London; twice a day had three doses
// in 7 hours (QA). A distance below 3 h, half the plan's own smallest
// interval, is exclusive: a dose that far from another is one the plan's
// own schedule has.
func within(gap, near time.Duration) bool {
	gap = gap.Abs()
	return gap < near || (gap == near && near >= nearKept)
}

// smallestInterval is the smallest interval between consecutive doses
// (in due order), or 0 when there are fewer than two.
func smallestInterval(doses []schedule.Dose) time.Duration {
	var smallest time.Duration
	for i := 1; i < len(doses); i++ {
		if gap := doses[i].Due.Sub(doses[i-1].Due); smallest == 0 || gap < smallest {
			smallest = gap
		}
	}
	return smallest
}

// sparseInterval is the smallest interval between doses from which a
// plan is sparse (every other day, a few days a week, weekly): see
// besideGap.
const sparseInterval = 36 * time.Hour

// besideGap is how close to a dose that stays a new dose may come after a
// change of zone (see notBesideKept): near (crowdingGap), or, for a sparse
// plan, half its smallest interval between doses. The dose that stays is
// then that interval's dose: an every-other-day dose taken early in Los
// Angeles, then a move to Tokyo, where the cycle's dates fall a day
// later, had the next one scheduled 7 hours after it (QA).
func besideGap(doses []schedule.Dose, near time.Duration) time.Duration {
	if smallest := smallestInterval(doses); smallest >= sparseInterval {
		return smallest / 2
	}
	return near
}

// notBesideKept drops, after a change of zone, the new doses that fall
// within near (crowdingGap) of a kept dose (one with an outcome, or due in the day
// before the window) that stays, moved and gone ones aside: that dose is
// the day's. A dose taken early in Honolulu, still due ahead, stood for
// its own day, and Auckland's dose of the next day came an hour after it:
// the patient who had just taken the pill was reminded again, and marked
// missed without a second one (QA). (withoutKept has already dropped the
// new dose each kept one stands for; these are of other occurrences.)
func notBesideKept(doses []schedule.Dose, kept, moved, gone []keptDose, near time.Duration) []schedule.Dose {
	leaving := map[int64]bool{}
	for _, k := range append(append([]keptDose(nil), moved...), gone...) {
		leaving[k.id] = true
	}
	out := doses[:0:0]
	for _, d := range doses {
		beside := false
		for _, k := range kept {
			if !leaving[k.id] && within(d.Due.Sub(k.due), near) {
				beside = true
				break
			}
		}
		if !beside {
			out = append(out, d)
		}
	}
	return out
}

// crowded reports whether a new dose of doses falls within near
// (crowdingGap) of k, an instance a change of zone would keep at its old
// instant for its day (see overtaken): that dose is then the day's, and
// k, deleted, gives way to it. A move east across more of the day than the
// dose's distance to the next day's (Honolulu to Auckland, 23 hours) put
// the next day's new dose an hour after the kept one: a once-daily plan
// asked for two doses an hour apart, one of them certain to be missed and
// escalated. So does a new dose of k's own date: four doses a day moved
// from Los Angeles at 01:00 to Tokyo kept Los Angeles's 02:02 an hour
// before Tokyo's 20:02 (QA). (Before a change back revived the dose a
// first change had moved, see reviveMovedAway, a dose of k's own date did
// not crowd it: three doses a day at 06:19, 12:19 and 20:19 moved from
// London to New York just after 06:19, then back, lost the day's first
// dose to 12:19, an hour after New York's 06:19.) A timing change keeps
// its documented rule (passedByRank): the dose of a rank whose new time
// has passed stays, however close the next new dose (08:00, 14:00 and
// 20:00 changed to 06:00, 12:00 and 16:00 at 13:00 keeps 14:00 beside
// 16:00, so the day keeps its three doses).
func crowded(k keptDose, doses []schedule.Dose, near time.Duration) bool {
	for _, d := range doses {
		if within(d.Due.Sub(k.due), near) {
			return true
		}
	}
	return false
}

// passedAhead reports whether doses (the new ones, from now on) hold a
// dose due before k of k's local date or of a later one. The day of k has
// then moved on past it: Los Angeles to Tokyo at 08:00:20 Los Angeles
// time, twice a day at 08:00 and 20:00, kept the day's Los Angeles 20:00
// dose, due after Tokyo's next 08:00, four doses in 19 hours (QA).
func passedAhead(k keptDose, doses []schedule.Dose) bool {
	for _, d := range doses {
		if d.Due.Before(k.due) && (sameLocalDate(d.Local, k.local) || d.Local > k.local) {
			return true
		}
	}
	return false
}

// dueWallTimes returns the due instants and wall times (local_time) of
// the plan's instances that stay through a change of zone, in due order:
// those due in the day and a half before from, but those a change of zone
// excluded (moved, see excludeMoved), and those with an outcome due in the
// day and a half after it. One excluded by a pause counts: its occurrence
// is over (QA: Tokyo's 18:37 excluded by a pause, then a move to Los
// Angeles and back kept Los Angeles's 18:37 of that day, 7 hours later). A kept
// dose whose day one of them has passed (due before it, at its wall time
// or a later one: wall times order as text, date first) is not kept for
// that day. After a round trip (Tokyo to Los Angeles and back a moment
// later) the instances of the first zone that stayed are due before the
// change, or carry an outcome, and those the second zone added come
// after them: Tokyo's 08:00 of the 11th, pending, has passed the day of a
// Los Angeles instance still ahead, 20:00 of the 10th, which is not kept
// for a day the patient already left. It was, and the plan had four doses
// in 17 hours (QA); so was Los Angeles's 06:07 after Tokyo's 18:07 of the
// same date, taken early, five hours before it (QA). Within one zone an
// instance due earlier never has a later wall time.
func dueWallTimes(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time) ([]keptDose, error) {
	rows, err := tx.QueryContext(ctx, `SELECT due_at, local_time FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND due_at < $4
		  AND (status NOT IN ('scheduled', 'excluded') OR (due_at < $5 AND (status <> 'excluded' OR NOT moved_by_zone)))
		ORDER BY due_at`, g.orgID, g.id, db.UTC(from.Add(-36*time.Hour)), db.UTC(from.Add(36*time.Hour)), db.UTC(from))
	if err != nil {
		return nil, fmt.Errorf("read the wall times due: %w", err)
	}
	defer rows.Close()
	var out []keptDose
	for rows.Next() {
		var k keptDose
		if err := rows.Scan(&k.due, &k.local); err != nil {
			return nil, fmt.Errorf("read the wall times due: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the wall times due: %w", err)
	}
	return out, nil
}

// revivalSpan is how long before a change of zone a dose that an earlier
// change moved may have been due and still be revived (see
// reviveMovedAway): the default late window, within which it can still be
// taken on its day.
const revivalSpan = 3 * time.Hour

// reviveMovedAway makes scheduled again, on a change of zone, the
// instances that an earlier change excluded (moved_by_zone, see
// excludeMoved) due in the revivalSpan before from, whose occurrence the
// new zone has no dose ahead for (no new dose at their wall time) and no
// instance of their wall time has ended (none has an outcome). The dose
// they were moved to, if still there, then gives way to the revived one
// (see dayPassedBy), and the occurrence is back where it was before the
// earlier change. London to New York 20 seconds after the 06:19 dose was
// due moved it to 06:19 New York time; back to London a moment later,
// London's 06:19 is the day's dose again, not New York's 06:19 an hour
// before London's 12:19. New York to Auckland with the 05:15 dose due,
// then to Los Angeles and back to Auckland: New York's 05:15 is due again,
// not Los Angeles's 05:15 three hours before Auckland's next dose (QA).
// When the new zone has a dose at the wall time still ahead (the patient
// moved on from New York to Chicago), the occurrence moves there instead,
// as on any change. A dose a pause excluded is never revived so.
func reviveMovedAway(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time, doses []schedule.Dose) error {
	ahead := make(map[string]bool, len(doses))
	for _, d := range doses {
		ahead[d.Local] = true
	}
	// No instance of its wall time may have an outcome: the dose it was
	// moved to, taken early or skipped, ended the occurrence. (The dose it
	// was moved to may be another instance that fell at the same instant,
	// a skip of another wall time: London's 10:43 moved to New York's
	// 10:43, London's 15:43 skipped in advance. Required to be scheduled
	// at its wall time, it was not found, and the due dose stayed excluded,
	// lost (QA).) It may lie before the moved one, by up to a change of
	// zone: a dose made in the new zone for the patient's taking there
	// (see decidedAt), three hours before the old zone's, which it
	// excluded; moving back revived that one, and the day had two doses,
	// one of them missed (QA re-test).
	rows, err := tx.QueryContext(ctx, `SELECT x.id, x.local_time FROM dose_instances x
		WHERE x.org_id = $1 AND x.plan_id = $2 AND x.status = 'excluded' AND x.moved_by_zone
		  AND x.due_at >= $3 AND x.due_at < $4
		  AND NOT EXISTS (SELECT 1 FROM dose_instances k
		    WHERE k.org_id = x.org_id AND k.plan_id = x.plan_id AND k.status NOT IN ('scheduled', 'excluded')
		      AND k.local_time = x.local_time AND k.due_at >= $6 AND k.due_at < $5)`,
		g.orgID, g.id, db.UTC(from.Add(-revivalSpan)), db.UTC(from), db.UTC(from.Add(36*time.Hour)), db.UTC(from.Add(-36*time.Hour)))
	if err != nil {
		return fmt.Errorf("read doses moved by a change of zone: %w", err)
	}
	var revive []int64
	for rows.Next() {
		var id int64
		var local string
		if err := rows.Scan(&id, &local); err != nil {
			rows.Close()
			return fmt.Errorf("read doses moved by a change of zone: %w", err)
		}
		if !ahead[local] {
			revive = append(revive, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read doses moved by a change of zone: %w", err)
	}
	for _, id := range revive {
		_, err := tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'scheduled', moved_by_zone = FALSE,
			reminders_before = reminders_sent, remind_at = NULL
			WHERE org_id = $1 AND plan_id = $2 AND id = $3 AND status = 'excluded'`, g.orgID, g.id, id)
		if err != nil {
			return fmt.Errorf("revive a dose moved by a change of zone: %w", err)
		}
	}
	return nil
}

// dayPassedBy reports whether one of stay (see dueWallTimes) is due
// before k at k's wall time or a later one.
func dayPassedBy(k keptDose, stay []keptDose) bool {
	for _, x := range stay {
		if x.due.Before(k.due) && x.local >= k.local {
			return true
		}
	}
	return false
}

// overtakenKept returns the due instants (Unix microseconds) of the
// overtaken kept doses (see keptOutcomes) that still stand for their
// occurrence after a timing change, those not in moved: due ahead, they
// are kept from deleteStale as the doses of the day before the window
// are by lying before it. A moved one is deleted, its occurrence at the
// new dose.
func overtakenKept(kept, moved []keptDose) map[int64]bool {
	spare := map[int64]bool{}
	for _, k := range kept {
		if !k.overtaken || slices.ContainsFunc(moved, func(m keptDose) bool { return m.id == k.id }) {
			continue
		}
		spare[db.UTC(k.due).UnixMicro()] = true
	}
	return spare
}

// passedByRank adds to spare the due instants (Unix microseconds) of the
// plan's scheduled instances still ahead, not among doses nor kept, whose
// occurrence after a timing change (the new dose of the same rank on their
// local date, see dayOrders.rankPassed) is already past. Moving the daily
// dose from 08:00 to 06:00 at 07:00 put the new dose of the day before the
// change while the 08:00 one was still ahead: deleting it left the day
// without a dose, as a move east did (see overtaken). It is kept, due at
// its old instant, and stands for the day's dose; the new time starts the
// next day. So is one of a date whose number of doses changes: one dose
// a day at 20:00 changed at 19:00 to two, at 08:00 and 18:00, both past,
// left the day without the dose the patient was due to take that night.
func passedByRank(ctx context.Context, tx *db.Tx, g *genPlan, from, to time.Time, doses []schedule.Dose, kept []keptDose, spare map[int64]bool) error {
	listed := make(map[int64]bool, len(doses)+len(kept))
	for _, d := range doses {
		listed[db.UTC(d.Due).UnixMicro()] = true
	}
	for _, k := range kept {
		listed[db.UTC(k.due).UnixMicro()] = true
	}
	// A local date spans at most 26 hours: an instance of a date whose
	// new dose is before from is due within a day and a half of it.
	rows, err := tx.QueryContext(ctx, `SELECT id, seq, due_at, local_time, status, moved_by_zone FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND due_at < $4 AND status IN ('scheduled', 'excluded')
		ORDER BY due_at`, g.orgID, g.id, from, db.UTC(from.Add(36*time.Hour)))
	if err != nil {
		return fmt.Errorf("read doses: %w", err)
	}
	var ahead []keptDose
	for rows.Next() {
		var k keptDose
		var status string
		var moved bool
		if err := rows.Scan(&k.id, &k.seq, &k.due, &k.local, &status, &moved); err != nil {
			rows.Close()
			return fmt.Errorf("read doses: %w", err)
		}
		if !listed[k.due.UnixMicro()] && len(k.local) >= 10 && g.standsIn(k.id, status, moved, k.due) {
			ahead = append(ahead, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read doses: %w", err)
	}
	if len(ahead) == 0 {
		return nil
	}
	days, err := dayOrdersOf(ctx, tx, g, ahead, to)
	if err != nil {
		return err
	}
	for _, k := range ahead {
		if days.rankPassed(k, from) {
			spare[db.UTC(k.due).UnixMicro()] = true
		}
	}
	return nil
}

// capCount keeps a plan with repeat.count to that many doses: those that
// stay (due before from and not excluded; due from from on with an
// outcome, or spared, see deleteStale) and the new ones together. The
// latest new doses give way to the excess. Only a change can make one: on
// a plan's first date a timing change keeps a dose still ahead for the
// day's occurrence of the new timing even when that occurrence falls
// before the plan's start (see beforeStart), which the new schedule does
// not count (QA: a count of 3, daily 12:58 changed to 10:58 at 11:38 on
// its first day, kept that day's 12:58 and had three doses from the next
// day, four in all); three doses a day changed to two after the first
// day's three leave the new numbering a dose short of the doses taken.
// Excluded doses (a pause) are not doses: the course does not lengthen
// for them, as the schedule's numbering does not.
func capCount(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time, doses []schedule.Dose, spare map[int64]bool) ([]schedule.Dose, error) {
	r := g.timing.Repeat
	if r == nil || r.Count == nil || len(doses) == 0 {
		return doses, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT due_at, status FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND status <> 'excluded'`, g.orgID, g.id)
	if err != nil {
		return nil, fmt.Errorf("count doses: %w", err)
	}
	past := 0
	stay := map[int64]bool{} // due instants (Unix microseconds) from from on
	for rows.Next() {
		var due time.Time
		var status string
		if err := rows.Scan(&due, &status); err != nil {
			rows.Close()
			return nil, fmt.Errorf("count doses: %w", err)
		}
		at := db.UTC(due).UnixMicro()
		switch {
		case due.Before(from):
			past++
		case status != string(adherence.DoseScheduled) || spare[at]:
			stay[at] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count doses: %w", err)
	}
	n := past + len(stay)
	for _, d := range doses {
		if !stay[db.UTC(d.Due).UnixMicro()] {
			n++
		}
	}
	// The doses of the course after the window are not counted: they
	// give way first, the horizon extension that generates them dropping
	// them by this same count, so only the window that holds the course's
	// end loses doses here.
	excess := n - *r.Count
	if excess <= 0 {
		return doses, nil
	}
	out := slices.Clone(doses)
	for i := len(out) - 1; i >= 0 && excess > 0; i-- {
		if !stay[db.UTC(out[i].Due).UnixMicro()] {
			out = slices.Delete(out, i, i+1)
			excess--
		}
	}
	return out, nil
}

// deleteStale deletes the plan's scheduled and excluded instances due from
// from on that are not among doses, except those due at an instant of
// spare (Unix microseconds; see overtaken, overtakenKept and passedByRank).
func deleteStale(ctx context.Context, tx *db.Tx, g *genPlan, from time.Time, doses []schedule.Dose, spare map[int64]bool) error {
	keep := make(map[int64]bool, len(doses)+len(spare))
	for _, d := range doses {
		keep[db.UTC(d.Due).UnixMicro()] = true
	}
	for due := range spare {
		keep[due] = true
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, due_at FROM dose_instances
		WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND status IN ('scheduled', 'excluded')`, g.orgID, g.id, from)
	if err != nil {
		return fmt.Errorf("read doses: %w", err)
	}
	var stale []any
	for rows.Next() {
		var id int64
		var due time.Time
		if err := rows.Scan(&id, &due); err != nil {
			rows.Close()
			return fmt.Errorf("read doses: %w", err)
		}
		if !keep[due.UnixMicro()] {
			stale = append(stale, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read doses: %w", err)
	}
	const batch = 500
	for len(stale) > 0 {
		ids := stale[:min(batch, len(stale))]
		stale = stale[len(ids):]
		if _, err := tx.ExecContext(ctx, orphanEventsOf(placeholders(1, len(ids))), ids...); err != nil {
			return fmt.Errorf("orphan events of deleted doses: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dose_instances WHERE id IN `+placeholders(1, len(ids)), ids...); err != nil {
			return fmt.Errorf("delete doses: %w", err)
		}
	}
	return nil
}

// upsertConflict is the ON CONFLICT clause shared by both dialects: an
// instance that exists is revived when excluded and gets the new ordinal
// and wall time when scheduled; one with an outcome is left alone, and an
// unchanged one is not rewritten. A revived instance is disarmed and its
// reminders so far set aside (reminders_before), so that arming reminds it
// from scratch per its policy: it kept the count and reminder time of its
// earlier life, and got fewer reminders, or none once the dispatcher had
// stopped it while it was excluded.
const upsertConflict = `
	ON CONFLICT (plan_id, due_at) DO UPDATE SET status = 'scheduled', moved_by_zone = FALSE, seq = excluded.seq, local_time = excluded.local_time,
	  reminders_before = CASE WHEN dose_instances.status = 'excluded' THEN dose_instances.reminders_sent ELSE dose_instances.reminders_before END,
	  remind_at = CASE WHEN dose_instances.status = 'excluded' THEN NULL ELSE dose_instances.remind_at END
	WHERE dose_instances.status IN ('scheduled', 'excluded')
	  AND (dose_instances.status <> 'scheduled' OR dose_instances.seq <> excluded.seq
	       OR dose_instances.local_time <> excluded.local_time)`

// insertDosesPostgres inserts a whole batch with one statement: the plan
// columns travel once per plan as arrays indexed by each dose's plan
// ordinal, the dose columns as parallel arrays expanded by unnest. It is
// the plain INSERT of the fast path; the upsert appends upsertConflict.
const insertDosesPostgres = `
	INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
	SELECT ($1::uuid[])[d.i], ($2::uuid[])[d.i], ($3::uuid[])[d.i], d.seq, d.due_at, d.local_time, 'scheduled', $8
	FROM unnest($4::int[], $5::int[], $6::timestamptz[], $7::text[]) AS d (i, seq, due_at, local_time)`

// insertDosesSQLite is the head of a multi-row insert; sqliteRows rows of
// seven values each follow.
const insertDosesSQLite = `
	INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, created_at, status) VALUES `

// sqliteRows is the number of rows per multi-row INSERT on SQLite.
const sqliteRows = 256

// insertDoses inserts the doses of a batch of plans as scheduled instances
// (see upsertConflict for existing ones) and returns how many instances it
// inserted or revived.
//
// fresh says that the doses lie beyond the generated_until of their plans,
// which the transaction holds locked, so no instance should exist yet. On
// PostgreSQL a plain INSERT is then tried first: ON CONFLICT costs about a
// third more server CPU per row (a speculative insertion: an extra unique
// index probe and an extra WAL record). Should an instance exist after all,
// the plain INSERT fails with a unique violation, is rolled back to a
// savepoint and the batch is upserted instead, so the result is the same.
func insertDoses(ctx context.Context, tx *db.Tx, batch []planDoses, createdAt time.Time, fresh bool) (int, error) {
	total := 0
	for _, pd := range batch {
		total += len(pd.doses)
	}
	if total == 0 {
		return 0, nil
	}
	var n int
	var err error
	if tx.Dialect == db.Postgres {
		n, err = insertDosesPG(ctx, tx, batch, total, createdAt, fresh)
	} else {
		n, err = insertDosesLite(ctx, tx, batch, total, createdAt)
	}
	if err != nil {
		return 0, fmt.Errorf("insert doses: %w", err)
	}
	return n, nil
}

func insertDosesPG(ctx context.Context, tx *db.Tx, batch []planDoses, total int, createdAt time.Time, fresh bool) (int, error) {
	orgs := make([]string, len(batch))
	patients := make([]string, len(batch))
	plans := make([]string, len(batch))
	idx := make([]int32, 0, total)
	seqs := make([]int32, 0, total)
	dues := make([]time.Time, 0, total)
	locals := make([]string, 0, total)
	for i, pd := range batch {
		orgs[i], patients[i], plans[i] = pd.plan.orgID, pd.plan.patientID, pd.plan.id
		for _, d := range pd.doses {
			idx = append(idx, int32(i+1))
			seqs = append(seqs, int32(d.Seq))
			dues = append(dues, d.Due)
			locals = append(locals, d.Local)
		}
	}
	args := []any{orgs, patients, plans, idx, seqs, dues, locals, createdAt}
	if fresh {
		n, err := insertFresh(ctx, tx, args)
		if err == nil || !db.IsUniqueViolation(err) {
			return n, err
		}
	}
	res, err := tx.ExecContext(ctx, insertDosesPostgres+upsertConflict, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// insertFresh runs the plain INSERT of a batch inside a savepoint, so that
// a unique violation leaves the transaction usable for the upsert.
func insertFresh(ctx context.Context, tx *db.Tx, args []any) (int, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT fresh_doses`); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, insertDosesPostgres, args...)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT fresh_doses`); rerr != nil {
			return 0, rerr
		}
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT fresh_doses`); err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func insertDosesLite(ctx context.Context, tx *db.Tx, batch []planDoses, total int, createdAt time.Time) (int, error) {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, 7*sqliteRows)
	inserted := 0
	flush := func() error {
		rows := len(args) / 7
		var res sql.Result
		var err error
		if rows == sqliteRows {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, sqliteInsert(rows)); err != nil {
					return err
				}
			}
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, sqliteInsert(rows), args...)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		inserted += int(n)
		args = args[:0]
		return err
	}
	for _, pd := range batch {
		for _, d := range pd.doses {
			args = append(args, pd.plan.orgID, pd.plan.patientID, pd.plan.id, d.Seq, d.Due, d.Local, createdAt)
			if len(args) == cap(args) {
				if err := flush(); err != nil {
					return 0, err
				}
			}
		}
	}
	if len(args) > 0 {
		if err := flush(); err != nil {
			return 0, err
		}
	}
	return inserted, nil
}

// sqliteInsert returns the multi-row insert statement for rows rows. It
// uses anonymous ? placeholders: the driver resolves the name of every
// parameter on each execution, which for $n names is a linear search per
// parameter and, with 1,792 parameters a statement, took two thirds of
// the run time.
func sqliteInsert(rows int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, 'scheduled')"
	var b strings.Builder
	b.Grow(len(insertDosesSQLite) + rows*(len(row)+2) + len(upsertConflict))
	b.WriteString(insertDosesSQLite)
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(upsertConflict)
	return b.String()
}

// doseBasis is what a plan's instances were generated from: the
// patient's zone and anchors and the plan's timing (plans.dose_basis; see
// reviveAsGenerated). Anchors and Timing are nil in a basis written by the
// migration, which knew the zone alone.
type doseBasis struct {
	Zone    string            `json:"zone"`
	Anchors *schedule.Anchors `json:"anchors,omitempty"`
	Timing  *schedule.Timing  `json:"timing,omitempty"`
}

// zoneBasisSQL is the SQL expression of a dose basis that knows the zone
// alone (zoneExpr, an SQL expression), anchors and timing being taken as
// unchanged, as migration 00018 fills it in.
func zoneBasisSQL(d db.Dialect, zoneExpr string) string {
	if d == db.Postgres {
		return `json_build_object('zone', ` + zoneExpr + `)::text`
	}
	return `json_object('zone', ` + zoneExpr + `)`
}

// setDoseBasis records what g's instances are now generated from.
func setDoseBasis(ctx context.Context, tx *db.Tx, g *genPlan) error {
	b, err := json.Marshal(doseBasis{Zone: g.loc.String(), Anchors: &g.anchors, Timing: &g.timing})
	if err != nil {
		return fmt.Errorf("encode dose basis: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE plans SET dose_basis = $1 WHERE org_id = $2 AND id = $3 AND dose_basis <> $1`,
		string(b), g.orgID, g.id)
	if err != nil {
		return fmt.Errorf("set dose basis: %w", err)
	}
	return nil
}

// setGeneratedUntil records that the plans' instances exist up to until.
func setGeneratedUntil(ctx context.Context, tx *db.Tx, planIDs []string, until time.Time) error {
	var err error
	if tx.Dialect == db.Postgres {
		_, err = tx.ExecContext(ctx, `UPDATE plans SET generated_until = $1 WHERE id = ANY($2::uuid[])`, until, planIDs)
	} else {
		const batch = 500
		for ids := planIDs; len(ids) > 0 && err == nil; {
			part := ids[:min(batch, len(ids))]
			ids = ids[len(part):]
			args := make([]any, 0, len(part)+1)
			args = append(args, until)
			for _, id := range part {
				args = append(args, id)
			}
			_, err = tx.ExecContext(ctx, `UPDATE plans SET generated_until = $1 WHERE id IN `+placeholders(2, len(part)), args...)
		}
	}
	if err != nil {
		return fmt.Errorf("set generated_until: %w", err)
	}
	return nil
}
