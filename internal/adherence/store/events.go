package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/match"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// EventInput is one event to record, as validated by the caller: Kind,
// Source, ClientEventID, OccurredAt and ReceivedAt are set; PlanID or
// RequestedDose names the plan. ID, matching fields and ActorID are
// assigned by RecordEvents.
type EventInput struct {
	Actor adherence.Actor
	Event adherence.Event
	// Refusal is set by a caller that refused the item itself, to the
	// answer it gives: a field that fails validation, or (not found,
	// patientId) a patient or caregiver naming a patient it may not
	// reach, which only the caller can tell. Nothing is looked up or
	// recorded for it: it is answered Refusal and audited as a failed
	// attempt on the patient it names (RefusedPatientID), with the group,
	// as the store's own refusals are.
	Refusal error
}

// EventOutcome is what became of one EventInput.
type EventOutcome struct {
	Event adherence.Event
	// Replayed is set when the (org, source, client event id) was already
	// recorded: Event is the original.
	Replayed bool
	// Err is the item's own failure (invalid, not found, conflict); the
	// other items are unaffected. A refused item is audited as a failed
	// attempt on the patient it names, or on RefusedPatientID when set
	// (see refusalAuditRecords).
	Err error
	// RefusedPatientID is set when Err is a not-found answered to a
	// patient or caregiver because the plan or dose they named is another
	// patient's, and for an item its caller refused (Refusal): the
	// attempt is audited on that patient's record with the group (the
	// answer itself must not tell them it exists).
	RefusedPatientID string
}

// errRaced aborts a group whose idempotency key was inserted by another
// transaction after this one looked; the retry finds the original.
var errRaced = errors.New("idempotency key inserted concurrently")

// errSpeculation aborts a group whose candidate instances were read with
// windows that have changed since (see speculativeConds); the retry reads
// them with the plans' windows of its own transaction.
var errSpeculation = errors.New("plan windows changed since they were remembered")

// RecordEvents records events durably and idempotently, matches each to its
// dose instance and applies the outcome, all in one transaction with one
// audit record per request and patient for the items recorded (see
// eventAuditRecords) and one per request and patient for the items
// refused (see refusalAuditRecords). The
// returned error is set only when nothing
// could be committed; otherwise every item has its outcome. Items that fail
// validation do not prevent the others from committing.
func (s *Store) RecordEvents(ctx context.Context, in []EventInput) ([]EventOutcome, error) {
	out := make([]EventOutcome, len(in))
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		// Pipelined: BEGIN and COMMIT travel with the group's first and
		// last batches (recordEvents uses nothing but ExecAll).
		// A retry does not speculate (see speculativeConds): the windows
		// that failed it were just read, but may change again.
		speculate := attempt == 0
		err = s.db.InPipelineTx(ctx, func(tx *db.Tx) error { return s.recordEvents(ctx, tx, in, out, speculate) })
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, errRaced) && !errors.Is(err, errSpeculation) && !isRetryable(err) {
			break
		}
	}
	if len(in) == 1 || ctx.Err() != nil {
		return nil, err
	}
	// Something in the group failed the whole transaction: record the
	// items one by one so that one bad item cannot sink the others.
	for i := range in {
		one, err := s.RecordEvents(ctx, in[i:i+1])
		if err != nil {
			// Not the item's fault: the client may retry it unchanged. A
			// commit whose answer was lost (the connection dropped) may
			// have recorded it: the retry replays it then.
			out[i] = EventOutcome{Err: &errs.Error{Code: errs.CodeUnavailable, Message: "the event's commit could not be confirmed (it may or may not be recorded); retry with the same clientEventId", Err: err}}
			continue
		}
		out[i] = one[0]
	}
	return out, nil
}

// isRetryable reports PostgreSQL serialization failures and deadlocks.
func isRetryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 40001") || strings.Contains(msg, "SQLSTATE 40P01")
}

// eventKey is the idempotency key of an event.
type eventKey struct{ org, source, client string }

func keyOf(e *adherence.Event) eventKey {
	return eventKey{e.OrgID, string(e.Source), e.ClientEventID}
}

// planInfo is what matching needs of a plan.
type planInfo struct {
	orgID, patientID string
	asNeeded         bool
	startAt          time.Time
	onTime, lateMax  sql.NullInt64
}

// liveInstance is a candidate instance with its pending change.
type liveInstance struct {
	match.Instance
	planID     string
	eventID    string
	skipReason string
	doubleDose bool
	resolvedAt *time.Time
	dirty      bool
	wasMissed  bool
	// snoozeTo is the new reminder time asked for by a snooze of an open
	// dose (snoozed is set when a snooze matched it; a zero snoozeTo then
	// means the window closes first: no more reminders).
	snoozed  bool
	snoozeTo time.Time
	// snoozedAt is when that snooze was made (its event's occurredAt).
	snoozedAt time.Time
}

func (s *Store) recordEvents(ctx context.Context, tx *db.Tx, in []EventInput, out []EventOutcome, speculate bool) error {
	now := s.clock()
	in = slices.Clone(in) // matching fills in the events; a retry starts afresh

	// Items the caller refused (EventInput.Refusal) are answered at once.
	for i := range out {
		out[i] = EventOutcome{}
		if in[i].Refusal != nil {
			out[i] = EventOutcome{Err: in[i].Refusal, RefusedPatientID: in[i].Event.PatientID}
		}
	}

	// 1. Reads, one round trip on PostgreSQL (db.Tx.ExecAll): earlier
	// recordings of the same keys, the dose instances items name, and the
	// plans they name with their orgs' windows.
	existing := map[eventKey]adherence.Event{}
	doses := map[int64]doseRef{}
	plans := map[string]*planInfo{}
	windows := map[string]adherence.Windows{}
	all := make([]int, len(in))
	for i := range all {
		all[i] = i
	}
	reads := indexedPlans(tx.Dialect)
	reads = append(reads, eventKeyReads(tx.Dialect, in, existing)...)
	reads = append(reads, requestedDoseReads(tx.Dialect, in, doses)...)
	reads = append(reads, planReads(tx.Dialect, newPlanIDs(in, all, out, plans), plans, windows)...)
	// A small group whose plans this store has seen reads its candidate
	// instances and the audit chain head in this round trip too, their
	// ranges computed with the windows remembered (see speculativeConds);
	// step 3 checks them against the windows read here. A single event on
	// PostgreSQL then takes two round trips instead of three.
	var spec []candidateCond
	var specCands []*liveInstance
	var head *audit.Head
	if speculate {
		spec = s.speculativeConds(in)
	}
	if spec != nil {
		reads = append(reads, candidateReads(tx.Dialect, spec, &specCands)...)
		var read db.Statement
		read, head = audit.ReadHead(tx.Dialect)
		reads = append(reads, read)
	}
	if _, err := tx.ExecAll(ctx, reads); err != nil {
		return fmt.Errorf("record events: read: %w", err)
	}

	// Idempotency: earlier recordings of the same keys.
	var fresh []int    // indexes of items not recorded before
	var replayed []int // items answered with an event recorded before
	for i := range in {
		if in[i].Refusal != nil {
			continue // never a replay: the original is not the caller's to see
		}
		e := &in[i].Event
		if prev, ok := existing[keyOf(e)]; ok {
			var sent int64
			if _, exists := doses[e.RequestedDose]; e.RequestedDose != 0 && e.RequestedDose != prev.RequestedDose && !exists {
				// Rare: a retry naming a dose that is gone, perhaps the
				// one regeneration carried the event from.
				var dose sql.NullInt64
				read := db.Statement{SQL: `SELECT sent_dose FROM events WHERE id = $1`, Args: []any{prev.ID},
					Scan: func(r db.Rows) error {
						for r.Next() {
							if err := r.Scan(&dose); err != nil {
								return err
							}
						}
						return nil
					}}
				if _, err := tx.ExecAll(ctx, []db.Statement{read}); err != nil {
					return fmt.Errorf("record events: read the dose an event named: %w", err)
				}
				sent = dose.Int64
			}
			out[i] = replay(prev, *e, sent)
			if out[i].Err == nil {
				replayed = append(replayed, i)
			}
			continue
		}
		fresh = append(fresh, i)
	}

	// 2. Plans of the items that named only a dose instance (another round
	// trip, only for them), then validation against the plans.
	doseOnly := map[int]bool{} // items whose plan comes from their dose
	for _, i := range fresh {
		if e := &in[i].Event; e.RequestedDose != 0 && e.PlanID == "" {
			doseOnly[i] = true
		}
	}
	applyRequestedDoses(in, fresh, out, doses, plans)
	if more := planReads(tx.Dialect, newPlanIDs(in, fresh, out, plans), plans, windows); len(more) > 0 {
		if _, err := tx.ExecAll(ctx, more); err != nil {
			return fmt.Errorf("record events: read: %w", err)
		}
	}
	s.rememberWindows(plans, windows)

	// Repeats within this group, among the items that passed validation:
	// a rejected item records nothing, so it holds no key, and a later
	// item with that key (a corrected one, or another request's) is judged
	// on its own.
	firstInGroup := map[eventKey]int{}
	repeatOf := map[int]int{} // item → earlier item of this group with the same key
	valid := fresh[:0:0]
	for _, i := range fresh {
		if out[i].Err != nil {
			continue
		}
		e := &in[i].Event
		if err := checkEvent(e, in[i].Actor.Role, doseOnly[i], plans, windows); err != nil {
			out[i].Err = err
			if pl, ok := plans[e.PlanID]; ok && errs.CodeOf(err) == errs.CodeNotFound && pl.orgID == e.OrgID && pl.patientID != e.PatientID {
				out[i].RefusedPatientID = pl.patientID
			}
			continue
		}
		k := keyOf(e)
		if j, ok := firstInGroup[k]; ok {
			// Compared with the plans of named doses filled in: a retry
			// that adds the dose's own planId is the same event, as it is
			// when it comes in a later request.
			switch {
			case sameEvent(withDosePlan(in[j].Event, doses), withDosePlan(*e, doses)):
				repeatOf[i] = j
				if in[i].Actor.RequestID == "" || in[i].Actor.RequestID != in[j].Actor.RequestID {
					// Another request's event (or one that cannot be
					// told apart) is handed to this one: a read.
					replayed = append(replayed, i)
				}
			case in[j].Actor.RequestID != "" && in[j].Actor.RequestID == in[i].Actor.RequestID:
				out[i].Err = keyConflict("is used twice in the same request with different content")
			default:
				// Another request of the group recorded the key first.
				out[i].Err = keyConflict("was already used with source %s for a different event", e.Source)
			}
			continue
		}
		firstInGroup[k] = i
		valid = append(valid, i)
	}

	// 3. Candidate instances, locked in (plan_id, id) order (one lock order for every
	// transaction, so concurrent groups never deadlock). A small group
	// reads the audit chain head in the same round trip: the lock every
	// appender takes last, after the rows it changes, and holds until
	// commit. A large group reads it after its writes instead, so that
	// the head is not held while thousands of events are decided.
	// The refused attempts are audited with the accepted items, in this
	// transaction: the group commits with the record of every attempt it
	// refused, or not at all.
	refusals := refusalAuditRecords(in, out)
	audited := len(valid) > 0 || len(replayed) > 0 || len(refusals) > 0
	conds := candidateConds(in, valid, func(plan string) adherence.Windows { return windowsOf(plans[plan], windows) })
	earlyHead := audited && len(valid) <= earlyHeadMax
	var cands []*liveInstance
	switch {
	case spec != nil && covers(spec, conds):
		// Read in step 1, with the head. Instances beyond the items'
		// ranges (those of replays, of refused items) are left alone:
		// each item keeps only the instances of its own range.
		cands = specCands
	case spec != nil:
		// The windows changed since they were remembered. More instances
		// cannot be locked now that the head is held (every writer locks
		// instances before the head): start again.
		return errSpeculation
	default:
		reads = candidateReads(tx.Dialect, conds, &cands)
		if earlyHead {
			var read db.Statement
			read, head = audit.ReadHead(tx.Dialect)
			reads = append(reads, read)
		}
		if _, err := tx.ExecAll(ctx, reads); err != nil {
			return fmt.Errorf("record events: load dose instances: %w", err)
		}
	}
	byPlan := map[string][]*liveInstance{}
	for _, c := range cands {
		byPlan[c.planID] = append(byPlan[c.planID], c)
	}
	// Decide in event-time order so that a group behaves as if its events
	// had arrived one by one in the order they happened.
	order := append([]int(nil), valid...)
	sort.SliceStable(order, func(a, b int) bool {
		return in[order[a]].Event.OccurredAt.Before(in[order[b]].Event.OccurredAt)
	})
	var outbox []outboxRecord
	var superseded []replacedTaking
	var reopened []reopenedDose
	for k, i := range order {
		e := &in[i].Event
		e.ID = newID()
		e.ActorID, e.RequestID = in[i].Actor.ID, in[i].Actor.RequestID
		pl := plans[e.PlanID]
		e.PatientID = pl.patientID
		w := windowsOf(pl, windows)
		from, to := match.CandidateRange(e.OccurredAt, w)
		var live []*liveInstance
		var view []match.Instance
		for _, c := range byPlan[e.PlanID] {
			if c.ID == e.RequestedDose || (e.RequestedDose == 0 && !c.DueAt.Before(from) && !c.DueAt.After(to)) {
				if pl.asNeeded && (c.Status == adherence.DoseExcluded || (e.Kind != adherence.EventTaken && e.Kind != adherence.EventOpened && e.Kind != adherence.EventSkipped)) {
					continue
				}
				live = append(live, c)
				view = append(view, c.Instance)
			}
		}
		// A PRN plan logs its events (as_needed), except a taking or skip
		// that falls in the window of a dose scheduled before the plan
		// became as needed (a device syncing late): it scores that dose,
		// missed or not, as it would have before the switch.
		if pl.asNeeded && len(view) == 0 {
			e.Result = adherence.ResultAsNeeded
			out[i].Event = *e
			continue
		}
		d := match.Decide(match.Event{Kind: e.Kind, OccurredAt: e.OccurredAt, DoseID: e.RequestedDose}, view, w)
		if pl.asNeeded && d.Instance < 0 {
			e.Result = adherence.ResultAsNeeded
			out[i].Event = *e
			continue
		}
		e.Result, e.DoubleDose = d.Result, d.DoubleDose
		reopenedHere := d.Instance >= 0 && d.Unscore >= 0
		if reopenedHere {
			superseded = append(superseded, unscore(live[d.Unscore], live[d.Instance]))
			reopened = append(reopened, reopenedDose{c: live[d.Unscore], w: w, at: k, by: live[d.Instance]})
		}
		if d.Instance >= 0 {
			c := live[d.Instance]
			e.DoseInstanceID = c.ID
			if d.DoubleDose {
				c.doubleDose, c.dirty = true, true
			}
			if e.Kind == adherence.EventSnoozed && c.Status == adherence.DoseScheduled {
				c.snoozed, c.snoozeTo, c.snoozedAt = true, snoozeUntil(e, c, w), e.OccurredAt
			}
			if d.Result == adherence.ResultScored {
				e.DoseStatus = d.Status
				if c.Status == adherence.DoseMissed {
					// The patient answered after all (took it late or
					// says they skipped it): escalations of the miss stop.
					outbox = append(outbox, resolvedRecord(e, c, now))
				}
				if r, ok := supersede(c, e, w); ok {
					superseded = append(superseded, r)
				}
				c.Status, c.eventID, c.dirty = d.Status, e.ID, true
				c.resolvedAt = &now
				c.TakenAt = d.TakenAt
				c.skipReason = ""
				if d.Status == adherence.DoseSkipped {
					c.skipReason = e.Reason
				}
			}
		}
		out[i].Event = *e
		if reopenedHere {
			// Decided again now, before the group's later events meet
			// the reopened dose, as they would have had the events
			// arrived one by one in time order: decided after the whole
			// group, a skip of the group set aside by the lost taking
			// came after a later skip of the group, which took the dose
			// (QA).
			r := reopened[len(reopened)-1]
			answerSuperseded(in, out, valid, superseded)
			rescored, err := rescoreReopened(ctx, tx, r, groupEventsOf(in, order, r), superseded, now)
			if err != nil {
				return err
			}
			superseded = append(superseded, rescored...)
			answerSuperseded(in, out, valid, rescored)
		}
	}
	answerSuperseded(in, out, valid, superseded)
	answerReplays(out, replayed, superseded)
	reopened = slices.DeleteFunc(reopened, func(r reopenedDose) bool { return r.c.Status != adherence.DoseScheduled })

	// 4. Write, in one round trip on PostgreSQL: events, instance
	// outcomes, outbox records and the audit records (a large group: the
	// chain head, then the audit records in one more).
	// (On SQLite the plan foreign key of events is DEFERRABLE INITIALLY
	// DEFERRED and the multi-row statements are OR FAIL: with either
	// missing, SQLite would keep a statement journal for each of them.)
	stmts := insertEventsStatements(tx.Dialect, in, valid)
	inserts := len(stmts)
	var dirty []*liveInstance
	for _, c := range cands {
		if c.snoozed && !c.dirty {
			stmts = append(stmts, snoozeStatement(c))
		}
		if c.dirty {
			dirty = append(dirty, c)
		}
	}
	updates := len(stmts)
	upd, want := updateInstancesStatements(tx.Dialect, dirty)
	stmts = append(stmts, upd...)
	ob, err := outboxStatements(outbox)
	if err != nil {
		return err
	}
	stmts = append(stmts, ob...)
	stmts = append(stmts, supersedeStatements(tx.Dialect, superseded)...)
	rearm, err := rearmReopened(ctx, tx, reopened, now)
	if err != nil {
		return err
	}
	stmts = append(stmts, rearm...)
	for _, c := range dirty {
		// A dose reopened and snoozed in the same group: its snooze
		// moves the first reminder that rearmReopened gave it, as it
		// would have arriving after the reopening (QA: dropped).
		if c.snoozed && c.Status == adherence.DoseScheduled {
			stmts = append(stmts, snoozeStatement(c))
		}
	}
	appendAudit := func() error {
		// The replays' events are known once the group's own are decided
		// (a repeat of an item of the group answers with that item's).
		original := func(i int) adherence.Event {
			if j, ok := repeatOf[i]; ok {
				return out[j].Event
			}
			return out[i].Event
		}
		recs := eventAuditRecords(in, out, valid)
		recs = append(recs, replayAuditRecords(in, replayed, original)...)
		_, app, err := s.audit.AppendStatements(tx.Dialect, *head, append(recs, refusals...))
		if err != nil {
			return fmt.Errorf("record events: audit: %w", err)
		}
		stmts = append(stmts, app...)
		return nil
	}
	switch {
	case earlyHead:
		if err := appendAudit(); err != nil {
			return err
		}
	case audited:
		var read db.Statement
		read, head = audit.ReadHead(tx.Dialect)
		stmts = append(stmts, read)
	}
	exec := tx.ExecAllCommit // the last batch of the transaction
	if !earlyHead && audited {
		exec = tx.ExecAll // the audit records follow
	}
	affected, err := exec(ctx, stmts)
	if err != nil {
		if db.IsUniqueViolation(err) && len(affected) < inserts {
			// Another transaction recorded one of the keys since this one
			// looked: the retry replays it.
			return errRaced
		}
		return fmt.Errorf("record events: write: %w", err)
	}
	for k, n := range want {
		if got := affected[updates+k]; got != n {
			// The instances were locked when loaded: they cannot be gone.
			// (Should it happen all the same, on PostgreSQL the group may
			// be committed already: the clients' retries replay it.)
			return fmt.Errorf("record events: update dose instances: %d of %d updated", got, n)
		}
	}
	if !earlyHead && audited {
		stmts = stmts[:0]
		if err := appendAudit(); err != nil {
			return err
		}
		if _, err := tx.ExecAllCommit(ctx, stmts); err != nil {
			return fmt.Errorf("record events: audit: %w", err)
		}
	}

	// Repeats within the group share their first item's outcome.
	for i, j := range repeatOf {
		out[i] = EventOutcome{Event: out[j].Event, Replayed: out[j].Err == nil, Err: out[j].Err}
	}
	return nil
}

// replacedTaking is an event whose taking an earlier one replaced, with
// what it becomes (see supersede).
type replacedTaking struct {
	eventID string
	result  adherence.EventResult
	// status is the dose status an event that scores its instance again
	// gave it (see rescoreReopened); empty for the others.
	status adherence.DoseStatus
	double bool
	// instanceID, when not 0, is the instance the event now belongs to
	// (see unscore).
	instanceID int64
}

// unscore takes the recorded taking of u away from it: an earlier taking
// has taken the instance by, and u's taking is its repeat (see
// match.Decision.Unscore). u is open again, as it was before that taking:
// the missed-dose job marks it missed once its window has closed.
func unscore(u, by *liveInstance) replacedTaking {
	r := replacedTaking{eventID: u.eventID, result: adherence.ResultDuplicate, instanceID: by.ID}
	// Its possible double dose was a taking after the one it loses:
	// rescoreReopened decides that taking again.
	u.Status, u.TakenAt, u.eventID, u.resolvedAt, u.doubleDose, u.dirty = adherence.DoseScheduled, nil, "", nil, false, true
	return r
}

// rescoreReopened decides again, in the order they happened, the takings
// and skips stored against the instance unscore reopened (r), as if the
// taking they lost had never been theirs: a skip that taking had set
// aside (taken wins) scores the dose again, and a later taking flagged as
// its possible double dose becomes the dose's taking. Left alone, the dose
// was open with nothing to score it, and the missed-dose job marked it
// missed although the patient had skipped or taken it (QA). The takings
// unscore moved to another instance (in moved) are left out, and an event
// outside the instance's window now keeps its result. The instances'
// outcomes are written with the other dirty instances; the events' new
// results are returned with the supersede statements'. One more round
// trip per reopening, for the groups that reopen an instance only.
//
// group holds this group's own events that were decided against an
// instance before it was reopened (see groupEventsOf): not stored yet,
// they were not read, and a skip sent in one batch with the earlier
// opening that freed its dose was lost, the dose then missed (QA).
func rescoreReopened(ctx context.Context, tx *db.Tx, r reopenedDose, group []reopenedEvent, moved []replacedTaking, now time.Time) ([]replacedTaking, error) {
	c := r.c
	// What the group decided of an event last stands (see
	// supersedeStatements), not what is stored yet: an event moved to
	// another instance (a lost taking, a repeat of the taking that took
	// the instance by), or scored again by an earlier reopening of the
	// same instance in this group, is not decided again.
	last := make(map[string]replacedTaking, len(moved))
	for _, m := range moved {
		last[m.eventID] = m
	}
	gone := func(id string) bool {
		m, ok := last[id]
		return ok && (m.instanceID != 0 || m.result == adherence.ResultScored)
	}
	var found []reopenedEvent
	read := db.Statement{SQL: `SELECT id, kind, occurred_at, reason, requested_dose IS NOT NULL FROM events
		WHERE dose_instance_id = $1 AND kind IN ('taken', 'opened', 'skipped') AND result IN ('recorded', 'duplicate')
		ORDER BY occurred_at, id`, Args: []any{c.ID}, Scan: func(rows db.Rows) error {
		for rows.Next() {
			var e reopenedEvent
			var kind string
			if err := rows.Scan(&e.id, &kind, &e.occurred, &e.reason, &e.named); err != nil {
				return fmt.Errorf("read events of reopened doses: %w", err)
			}
			e.kind, e.occurred = adherence.EventKind(kind), e.occurred.UTC()
			if !gone(e.id) {
				found = append(found, e)
			}
		}
		return nil
	}}
	if _, err := tx.ExecAll(ctx, []db.Statement{read}); err != nil {
		return nil, fmt.Errorf("record events: rescore reopened doses: %w", err)
	}
	for _, e := range group {
		if !gone(e.id) {
			found = append(found, e)
		}
	}
	slices.SortStableFunc(found, func(a, b reopenedEvent) int {
		if c := a.occurred.Compare(b.occurred); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	var out []replacedTaking
	for _, e := range found {
		if by := r.by; by != nil && !e.named && (e.kind == adherence.EventTaken || e.kind == adherence.EventOpened) && by.TakenAt != nil &&
			by.eventID != e.id && e.occurred.Sub(*by.TakenAt).Abs() <= r.w.OpenDedupe {
			// A repeat of the taking that took the instance by, as the
			// lost one was: a duplicate there. Decided against the
			// reopened instance alone, a third opening within minutes
			// became its taking, and three openings took two doses (QA).
			// A taking that named the reopened dose is that dose's, as
			// matching decides a named event against its dose only: moved,
			// the dose the patient reported taking was missed (QA).
			out = append(out, replacedTaking{eventID: e.id, result: adherence.ResultDuplicate, instanceID: by.ID})
			continue
		}
		d := match.Decide(match.Event{Kind: e.kind, OccurredAt: e.occurred, DoseID: c.ID}, []match.Instance{c.Instance}, r.w)
		if d.Instance < 0 {
			continue
		}
		if d.Result != adherence.ResultScored && !d.DoubleDose {
			// Still set aside, now as it would be had it arrived after
			// the events that stay (a second skip is a duplicate): a
			// possible double dose of the lost taking kept its flag
			// (QA).
			out = append(out, replacedTaking{eventID: e.id, result: d.Result})
			continue
		}
		if d.DoubleDose {
			c.doubleDose, c.dirty = true, true
		}
		if d.Result == adherence.ResultScored {
			ev := adherence.Event{ID: e.id, Kind: e.kind, OccurredAt: e.occurred}
			if rt, ok := supersede(c, &ev, r.w); ok {
				out = append(out, rt)
			}
			c.Status, c.TakenAt, c.eventID, c.dirty = d.Status, d.TakenAt, e.id, true
			c.resolvedAt = &now
			c.skipReason = ""
			if d.Status == adherence.DoseSkipped {
				c.skipReason = e.reason
			}
		}
		out = append(out, replacedTaking{eventID: e.id, result: d.Result, status: d.Status, double: d.DoubleDose})
	}
	return out, nil
}

// reopenedDose is an instance open again after unscore, with its plan's
// windows; at is the position, in the group's decision order, of the event
// that reopened it, which rescoreReopened runs after.
type reopenedDose struct {
	c  *liveInstance
	w  adherence.Windows
	at int
	// by is the instance the lost taking went to (see unscore).
	by *liveInstance
}

// reopenedEvent is a taking or skip against a reopened instance, decided
// again by rescoreReopened.
type reopenedEvent struct {
	id, reason string
	kind       adherence.EventKind
	occurred   time.Time
	named      bool // the event named its dose (doseId)
}

// groupEventsOf returns the takings and skips of the group, in[order[…]],
// decided against r's instance before the event that reopened it and set
// aside by its taking then (recorded or duplicate). Those decided after it
// saw the instance open.
func groupEventsOf(in []EventInput, order []int, r reopenedDose) []reopenedEvent {
	var out []reopenedEvent
	for _, i := range order[:r.at] {
		e := &in[i].Event
		if e.DoseInstanceID != r.c.ID || (e.Result != adherence.ResultRecorded && e.Result != adherence.ResultDuplicate) {
			continue
		}
		if e.Kind != adherence.EventTaken && e.Kind != adherence.EventOpened && e.Kind != adherence.EventSkipped {
			continue
		}
		out = append(out, reopenedEvent{id: e.ID, reason: e.Reason, kind: e.Kind, occurred: e.OccurredAt.UTC(), named: e.RequestedDose != 0})
	}
	return out
}

// answerSuperseded gives the group's own events that a later decision
// replaced (see supersede, unscore, rescoreReopened) their final result in
// what is stored and answered: the batch answered a skip "scored" that a
// taking of the same group had set aside as recorded, which its replay
// then answered (QA). The last entry for an event wins, as in
// supersedeStatements.
func answerSuperseded(in []EventInput, out []EventOutcome, valid []int, rs []replacedTaking) {
	if len(rs) == 0 {
		return
	}
	byID := make(map[string]int, len(valid))
	for _, i := range valid {
		if in[i].Event.ID != "" {
			byID[in[i].Event.ID] = i
		}
	}
	for _, r := range rs {
		i, ok := byID[r.eventID]
		if !ok {
			continue
		}
		e := &in[i].Event
		e.Result, e.DoseStatus, e.DoubleDose = r.result, r.status, r.double
		if r.instanceID != 0 {
			e.DoseInstanceID = r.instanceID
		}
		out[i].Event = *e
	}
}

// answerReplays gives the items answered with an event recorded before
// (replays) that event's result as this group leaves it: a retry sent in
// one batch with the opening that moved its taking to another dose was
// answered scored on the old one, which it no longer was (QA).
func answerReplays(out []EventOutcome, replayed []int, rs []replacedTaking) {
	if len(rs) == 0 || len(replayed) == 0 {
		return
	}
	last := make(map[string]replacedTaking, len(rs))
	for _, r := range rs {
		last[r.eventID] = r
	}
	for _, i := range replayed {
		r, ok := last[out[i].Event.ID]
		if !ok || out[i].Err != nil {
			continue
		}
		e := &out[i].Event
		e.Result, e.DoseStatus, e.DoubleDose = r.result, r.status, r.double
		if r.instanceID != 0 {
			e.DoseInstanceID = r.instanceID
		}
	}
}

// rearmReopened returns the statements that give the reopened instances
// their first reminder again (it was cleared when they were taken), as
// arming does (see Store.armRange): at the first reminder's time under
// the plan's or the org's policy, or now if that is past, and none once
// the window has closed. Instances due after the arming cursor are left to
// the periodic pass, which arms them when it gets there. One more round
// trip, for the groups that reopen an instance only.
func rearmReopened(ctx context.Context, tx *db.Tx, reopened []reopenedDose, now time.Time) ([]db.Statement, error) {
	if len(reopened) == 0 {
		return nil, nil
	}
	var until time.Time
	planIDs := make([]any, 0, len(reopened))
	for _, r := range reopened {
		planIDs = append(planIDs, r.c.planID)
	}
	policies := map[string]remind.Policy{}
	reads := []db.Statement{
		{SQL: `SELECT armed_until FROM reminder_arming WHERE id = 1`, Scan: func(rows db.Rows) error {
			for rows.Next() {
				var t sql.NullTime
				if err := rows.Scan(&t); err != nil {
					return fmt.Errorf("read reminder arming cursor: %w", err)
				}
				if t.Valid {
					until = t.Time.UTC()
				}
			}
			return nil
		}},
		{SQL: `SELECT p.id, p.reminder_policy, m.reminder_policy FROM plans p LEFT JOIN org_messaging m ON m.org_id = p.org_id
			WHERE p.id IN ` + db.Placeholders(tx.Dialect, 1, len(planIDs)), Args: planIDs, Scan: func(rows db.Rows) error {
			for rows.Next() {
				var id string
				var plan, org sql.NullString
				if err := rows.Scan(&id, &plan, &org); err != nil {
					return fmt.Errorf("read reminder policies: %w", err)
				}
				pol := remind.DefaultPolicy
				for _, js := range []sql.NullString{org, plan} {
					if js.Valid {
						p, err := decodePolicy(js.String)
						if err != nil {
							return err
						}
						pol = p
					}
				}
				policies[id] = pol
			}
			return nil
		}},
	}
	if _, err := tx.ExecAll(ctx, reads); err != nil {
		return nil, fmt.Errorf("record events: re-arm reopened doses: %w", err)
	}
	var stmts []db.Statement
	for _, r := range reopened {
		pol, ok := policies[r.c.planID]
		if !ok || until.IsZero() || r.c.DueAt.After(until) {
			continue
		}
		at, ok := firstReminder(pol, r.c.DueAt, now, r.w)
		if !ok {
			continue
		}
		stmts = append(stmts, db.Statement{SQL: `UPDATE dose_instances SET remind_at = $1 WHERE id = $2 AND status = 'scheduled'`,
			Args: []any{db.UTC(at), r.c.ID}})
	}
	return stmts, nil
}

// supersede returns the taking recorded for c when taking e, earlier,
// replaces it (the earliest evidence wins, see match.Decide), and true;
// false when e replaces none. The replaced event becomes what it would
// have been had it come second: a duplicate within the de-duplication
// window of e, else a taking recorded as a possible double dose. Left
// "scored", two events each said they had scored the one dose.
func supersede(c *liveInstance, e *adherence.Event, w adherence.Windows) (replacedTaking, bool) {
	if c.Status == adherence.DoseSkipped && c.eventID != "" && c.eventID != e.ID {
		// A taking after a skip scores the dose: the skip is kept as
		// recorded (matched, changing nothing), as a skip after a taking
		// is; left "scored", both events said they had scored the dose
		// (QA).
		return replacedTaking{eventID: c.eventID, result: adherence.ResultRecorded}, true
	}
	if !c.Status.Taken() || c.TakenAt == nil || c.eventID == "" || c.eventID == e.ID {
		return replacedTaking{}, false
	}
	if e.Kind != adherence.EventTaken && e.Kind != adherence.EventOpened {
		return replacedTaking{}, false
	}
	r := replacedTaking{eventID: c.eventID, result: adherence.ResultDuplicate}
	if c.TakenAt.Sub(e.OccurredAt) > w.OpenDedupe {
		r.result, r.double = adherence.ResultRecorded, true
	}
	return r, true
}

// supersedeStatements returns the UPDATEs that record the replaced
// takings. On PostgreSQL that is one statement of fixed text for any
// number of them (see updateInstancesPostgres): a group of device syncs
// can replace hundreds, and one UPDATE each cost a tenth of the
// database's time in bench/events. On SQLite, which has no round trips,
// one prepared single-row UPDATE each.
func supersedeStatements(d db.Dialect, rs []replacedTaking) []db.Statement {
	// An event replaced twice (scored again, then set aside by a taking
	// decided after it) ends as its last entry says: an UPDATE joined to
	// two rows of one event would apply either.
	last := make(map[string]int, len(rs))
	for i, r := range rs {
		last[r.eventID] = i
	}
	kept := rs[:0:0]
	for i, r := range rs {
		if last[r.eventID] == i {
			kept = append(kept, r)
		}
	}
	rs = kept
	if len(rs) == 0 {
		return nil
	}
	if d == db.Postgres {
		ids, results, statuses, double := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs)), make([]bool, len(rs))
		instances := make([]*int64, len(rs))
		for i, r := range rs {
			ids[i], results[i], statuses[i], double[i] = r.eventID, string(r.result), string(r.status), r.double
			if r.instanceID != 0 {
				instances[i] = &rs[i].instanceID
			}
		}
		return []db.Statement{{SQL: `UPDATE events SET result = v.result, dose_status = v.dose_status, double_dose = v.double_dose,
				dose_instance_id = COALESCE(v.instance_id, events.dose_instance_id)
			FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bigint[], $5::text[]) AS v (id, result, double_dose, instance_id, dose_status)
			WHERE events.id = v.id::uuid`, Args: []any{ids, results, double, instances, statuses}}}
	}
	stmts := make([]db.Statement, len(rs))
	for i, r := range rs {
		stmts[i] = db.Statement{SQL: `UPDATE events SET result = $1, dose_status = $2, double_dose = $3,
				dose_instance_id = COALESCE($4, dose_instance_id) WHERE id = $5`,
			Args: []any{string(r.result), string(r.status), r.double, nullInt(r.instanceID), r.eventID}}
	}
	return stmts
}

// orphanEventsOf is the UPDATE that makes orphans of the events matched to
// the dose instances of ids, a parenthesised subquery or placeholder list,
// run before those instances are deleted (the plan stopped, its schedule
// changed): an event whose instance is gone is outside every window of
// the plan, kept and counted as an orphan, not left pointing at no
// instance with a result ("recorded") that reports count nowhere.
func orphanEventsOf(ids string) string {
	return `UPDATE events SET result = 'orphan', dose_instance_id = NULL, dose_status = '' WHERE dose_instance_id IN ` + ids
}

// earlyHeadMax is the largest group (in recorded events) that reads the
// audit chain head together with its candidate instances.
const earlyHeadMax = 100

// refusalAuditRecords returns the failed attempts to create events of the
// items refused (Err set: invalid, not found, conflict), one record per
// request and patient as eventAuditRecords has for the items recorded,
// counting the request's items refused on that patient ("events=N"). The
// patient is RefusedPatientID when set (another patient's plan or dose,
// an item its caller refused), else the one the item names, visible to the
// caller or not: a probe for another organization's patient is recorded on
// it, whatever else was wrong with the item. An item naming no patient id
// names no record and is not audited.
func refusalAuditRecords(in []EventInput, out []EventOutcome) []audit.Record {
	type key struct {
		actor, request, patient string
		item                    int
	}
	at := map[key]int{}
	var recs []audit.Record
	var counts []int
	for i := range out {
		if out[i].Err == nil {
			continue
		}
		patient := out[i].RefusedPatientID
		if patient == "" {
			patient = in[i].Event.PatientID
		}
		if !isID(patient) {
			continue
		}
		a := in[i].Actor
		k := key{actor: a.ID, request: a.RequestID, patient: patient}
		if a.RequestID == "" {
			// Without a request id the items cannot be told apart: one
			// record each.
			k.item = i + 1
		}
		if j, ok := at[k]; ok {
			counts[j]++
			continue
		}
		at[k] = len(recs)
		counts = append(counts, 1)
		recs = append(recs, audit.Record{
			OrgID: in[i].Event.OrgID, ActorID: a.ID, ActorRole: a.Role, Action: audit.ActionCreate,
			ResourceType: "AdherenceEvent", PatientID: patient,
			Outcome: audit.OutcomeMinorFailure, RequestID: a.RequestID, ClientAddr: a.ClientAddr,
		})
	}
	for j := range recs {
		recs[j].Detail = "events=" + strconv.Itoa(counts[j])
	}
	return recs
}

// eventAuditRecords returns one audit record per request and patient for
// the recorded items idx: a device syncing a day of events, or a batch of
// 500, writes one record per patient rather than one per event. The record
// names the request's first event of that patient and counts them
// ("events=N"); each event row carries the request id, so the record and
// its events are joined on (request_id, patient_id).
func eventAuditRecords(in []EventInput, out []EventOutcome, idx []int) []audit.Record {
	return perRequestRecords(audit.ActionCreate, in, idx, func(i int) adherence.Event { return out[i].Event })
}

// replayAuditRecords returns the reads of the items idx answered as
// replays with an event recorded before (event gives it): the answer
// hands the original, PHI, to the caller, as a replayed fill does. One
// record per request and patient, as for the events recorded, naming the
// request's first replayed event of that patient.
func replayAuditRecords(in []EventInput, idx []int, event func(i int) adherence.Event) []audit.Record {
	return perRequestRecords(audit.ActionRead, in, idx, event)
}

// perRequestRecords returns one successful record of action per request and
// patient for the items idx, whose events event gives, counting them
// ("events=N").
func perRequestRecords(action string, in []EventInput, idx []int, event func(i int) adherence.Event) []audit.Record {
	type key struct{ actor, request, patient string }
	at := map[key]int{}
	var recs []audit.Record
	var counts []int
	for _, i := range idx {
		a, e := in[i].Actor, event(i)
		k := key{a.ID, a.RequestID, e.PatientID}
		if a.RequestID == "" {
			// Without a request id the events cannot be told apart: one
			// record each, as before.
			k.request = e.ID
		}
		if j, ok := at[k]; ok {
			counts[j]++
			continue
		}
		at[k] = len(recs)
		counts = append(counts, 1)
		recs = append(recs, audit.Record{
			OrgID: e.OrgID, ActorID: a.ID, ActorRole: a.Role, Action: action,
			ResourceType: "AdherenceEvent", ResourceID: e.ID, PatientID: e.PatientID,
			Outcome: audit.OutcomeSuccess, RequestID: a.RequestID, ClientAddr: a.ClientAddr,
		})
	}
	for j := range recs {
		recs[j].Detail = "events=" + strconv.Itoa(counts[j])
	}
	return recs
}

// replay answers a retried event with the original, or a conflict when the
// key was used for a different event.
//
// A retry naming the dose the event was carried from (sent, the event's
// sent_dose: regeneration — a paused plan's time changed — deleted the
// dose the client named and carried the event to the new dose of the same
// occurrence, rewriting its requested dose, see carryEvents) is compared
// as if it named the new one: the client's unchanged retry is the same
// event, not a 409 that an app takes as final. Any other dose is compared
// as named: a dose id that does not exist is a conflict like any other
// (QA: it replayed, and a 201 there against a 409 for a dose of any
// organization told which dose ids exist).
func replay(prev, now adherence.Event, sent int64) EventOutcome {
	if sent != 0 && now.RequestedDose == sent {
		now.RequestedDose = prev.RequestedDose
	}
	if !sameEvent(prev, now) {
		return EventOutcome{Err: keyConflict("was already used with source %s for a different event", now.Source)}
	}
	return EventOutcome{Event: prev, Replayed: true}
}

// keyConflict is the conflict of an idempotency key reused with other
// content; it names the field, as a batch item's error must.
func keyConflict(format string, args ...any) error {
	err := errs.Conflict(format, args...)
	err.Field = "clientEventId"
	return err
}

// sameEvent reports whether b is a retry of a: the fields the client
// chose agree.
func sameEvent(a, b adherence.Event) bool {
	return a.OrgID == b.OrgID && (b.PatientID == "" || a.PatientID == b.PatientID) &&
		(b.PlanID == "" || a.PlanID == b.PlanID) && a.RequestedDose == b.RequestedDose &&
		a.Kind == b.Kind && a.OccurredAt.Equal(b.OccurredAt) && a.Reason == b.Reason &&
		a.DeviceID == b.DeviceID && a.SnoozeMinutes == b.SnoozeMinutes
}

// checkEvent validates an event against its plan; role is the caller's.
// doseOnly says the client named a dose instance and no plan: the plan was
// taken from the dose, so a plan the caller may not see is a dose instance
// not found, the answer of a dose id that does not exist.
func checkEvent(e *adherence.Event, role string, doseOnly bool, plans map[string]*planInfo, windows map[string]adherence.Windows) error {
	pl, ok := plans[e.PlanID]
	wrongPatient := ok && e.PatientID != "" && e.PatientID != pl.patientID
	// A patient or caregiver sees another patient's plan exactly as a plan
	// that does not exist: they must not learn which plan ids are real.
	// Staff see every plan of their organization: to them the mismatch is
	// a wrong patientId.
	hidden := wrongPatient && seesOwnPatientsOnly(role)
	if !ok || pl.orgID != e.OrgID || hidden {
		if doseOnly {
			return &errs.Error{Code: errs.CodeNotFound, Field: "doseId", Message: "dose instance not found"}
		}
		return &errs.Error{Code: errs.CodeNotFound, Field: "planId", Message: "plan not found"}
	}
	if wrongPatient {
		return errs.Invalid("patientId", "is not the patient of the plan")
	}
	w := windowsOf(pl, windows)
	earliest := pl.startAt.Add(-w.OnTime)
	if e.Kind == adherence.EventSkipped && e.RequestedDose != 0 {
		// A skip that names its dose may come a day ahead of it (see
		// match), the plan's first dose too: "skip tomorrow's first dose"
		// of a plan starting tomorrow. Matching holds it to its dose.
		earliest = pl.startAt.Add(-max(w.OnTime, match.EarlySkip))
	}
	if e.OccurredAt.Before(earliest) {
		return errs.Invalid("occurredAt", "is before the plan started")
	}
	return nil
}

// seesOwnPatientsOnly reports whether role sees only its own patients (a
// patient, a caregiver): to it, another patient's plan or dose is answered
// as one that does not exist.
func seesOwnPatientsOnly(role string) bool {
	return role == string(auth.RolePatient) || role == string(auth.RoleCaregiver)
}

func windowsOf(pl *planInfo, org map[string]adherence.Windows) adherence.Windows {
	w, ok := org[pl.orgID]
	if !ok {
		w = adherence.DefaultWindows
	}
	if pl.onTime.Valid {
		w.OnTime = time.Duration(pl.onTime.Int64) * time.Minute
	}
	if pl.lateMax.Valid {
		w.LateMax = time.Duration(pl.lateMax.Int64) * time.Minute
	}
	// A plan may override one bound only, or the org may change its
	// defaults later: the late window never closes before the on-time one.
	w.LateMax = max(w.LateMax, w.OnTime)
	return w
}

// maxRememberedPlans bounds the windows a Store remembers (about 100 bytes
// each): past it the memory starts afresh.
const maxRememberedPlans = 500_000

// rememberWindows remembers the windows of plans (as windowsOf gives them)
// for speculativeConds.
func (s *Store) rememberWindows(plans map[string]*planInfo, org map[string]adherence.Windows) {
	s.windowsMu.Lock()
	defer s.windowsMu.Unlock()
	if s.planWindows == nil || len(s.planWindows)+len(plans) > maxRememberedPlans {
		s.planWindows = make(map[string]adherence.Windows, len(plans))
	}
	for id, pl := range plans {
		s.planWindows[id] = windowsOf(pl, org)
	}
}

// speculativeConds returns the candidate conditions of a group of at most
// earlyHeadMax items, computed with the windows remembered for their plans
// (the last ones this store read), or nil when some item's plan has none
// remembered or names only a dose (its plan is known after the first
// read only, and plans are share-locked before any instance; see
// planReads). They are a guess: recordEvents reads the plans in the same
// round trip, and uses the instances read only if the conditions computed
// from those plans select no instance they did not.
func (s *Store) speculativeConds(in []EventInput) []candidateCond {
	if len(in) > earlyHeadMax {
		return nil
	}
	s.windowsMu.Lock()
	defer s.windowsMu.Unlock()
	var idx []int
	for i := range in {
		e := &in[i].Event
		switch {
		case in[i].Refusal != nil:
			continue
		case e.PlanID == "" && e.RequestedDose != 0:
			return nil
		case !isID(e.PlanID):
			continue // refused by validation
		}
		if _, ok := s.planWindows[e.PlanID]; !ok {
			return nil
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil
	}
	return candidateConds(in, idx, func(plan string) adherence.Windows { return s.planWindows[plan] })
}

const eventColumns = `id, org_id, patient_id, plan_id, requested_dose, dose_instance_id, kind, reason, snooze_minutes,
	occurred_at, received_at, source, client_event_id, device_id, result, dose_status, double_dose, actor_id, request_id`

func scanEvent(row scanner) (adherence.Event, error) {
	var e adherence.Event
	var reqDose, instance, snooze sql.NullInt64
	var kind, source, result, status string
	err := row.Scan(&e.ID, &e.OrgID, &e.PatientID, &e.PlanID, &reqDose, &instance, &kind, &e.Reason, &snooze,
		&e.OccurredAt, &e.ReceivedAt, &source, &e.ClientEventID, &e.DeviceID, &result, &status, &e.DoubleDose, &e.ActorID, &e.RequestID)
	if err != nil {
		return e, err
	}
	e.RequestedDose, e.DoseInstanceID, e.SnoozeMinutes = reqDose.Int64, instance.Int64, int(snooze.Int64)
	e.Kind, e.Source, e.Result, e.DoseStatus = adherence.EventKind(kind), adherence.EventSource(source), adherence.EventResult(result), adherence.DoseStatus(status)
	e.OccurredAt, e.ReceivedAt = e.OccurredAt.UTC(), e.ReceivedAt.UTC()
	return e, nil
}

// indexedPlans returns, on PostgreSQL, the statement that makes the
// planner use indexes for the rest of an event group's transaction
// (set_config local to the transaction: its end restores the settings).
//
// Every statement of the transaction reads or changes a group's rows by
// key: events by (org, source, client event id), plans and dose instances
// by id, candidate instances by plan and due time, and the plan check of
// the events' insert trigger by plan id. For each, a few probes of an
// index are right whatever the table's size. The planner can think
// otherwise when a table's statistics describe it far smaller than it has
// become (taken while it was young, autovacuum not yet round or off): it
// then made the key lookup a hash join over a sequential scan of every
// event, and the statement, prepared on the connection, kept that plan as
// the table grew. In one bench/events run on PostgreSQL every single-event
// group of the first phase looked its keys up that way (auto_explain), and
// the scan took about a third of PostgreSQL's CPU (perf); in its batch
// phase a 2,000-key lookup planned from out-of-date statistics (53,579
// events) took 38 ms, where the probes take 8-11 (EXPLAIN ANALYZE, 139,000
// events). End to end the runs of this 2-core machine varied
// more than the change (single events 2,071 and 2,235 events/s without
// it, 2,088 and 1,543 with it, alternating).
func indexedPlans(d db.Dialect) []db.Statement {
	if d != db.Postgres {
		return nil
	}
	return []db.Statement{{Name: "index plans", SQL: `SELECT set_config('enable_seqscan', 'off', true),
		set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`}}
}

// eventKeyReads returns the queries that put into found the recorded
// events whose keys occur in in.
func eventKeyReads(d db.Dialect, in []EventInput, found map[eventKey]adherence.Event) []db.Statement {
	scan := func(rows db.Rows) error {
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("look up keys: %w", err)
			}
			found[keyOf(&e)] = e
		}
		return nil
	}
	if d == db.Postgres {
		return eventKeyReadsPostgres(in, scan)
	}
	// One query per 500 keys, whatever their orgs and sources: a
	// condition per (org, source) pair, each an IN list the unique index
	// answers. A group of single events from the app and from devices is
	// one query, not one per source.
	type group struct{ org, source string }
	var order []group
	ids := map[group][]string{}
	for i := range in {
		e := &in[i].Event
		if !isID(e.OrgID) {
			continue
		}
		g := group{e.OrgID, string(e.Source)}
		if _, ok := ids[g]; !ok {
			order = append(order, g)
		}
		ids[g] = append(ids[g], e.ClientEventID)
	}
	const perQuery = 500
	var stmts []db.Statement
	var parts []string
	var args []any
	n := 0
	flush := func() {
		if len(parts) > 0 {
			stmts = append(stmts, db.Statement{SQL: `SELECT ` + eventColumns + ` FROM events WHERE ` + strings.Join(parts, " OR "), Args: args, Scan: scan})
		}
		parts, args, n = nil, nil, 0
	}
	for _, g := range order {
		list := ids[g]
		for len(list) > 0 {
			take := min(len(list), perQuery-n)
			args = append(args, g.org, g.source)
			first := len(args) + 1
			for _, id := range list[:take] {
				args = append(args, id)
			}
			parts = append(parts, fmt.Sprintf("(org_id = %s AND source = %s AND client_event_id IN %s)",
				param(d, first-2), param(d, first-1), db.Placeholders(d, first, take)))
			list, n = list[take:], n+take
			if n == perQuery {
				flush()
			}
		}
	}
	flush()
	return stmts
}

// eventKeyReadsPostgres is eventKeyReads on PostgreSQL: one statement of
// fixed text for any number of keys, the keys as parallel arrays joined to
// events. Each key is looked up with all three columns of the unique index,
// which the join makes certain: with conditions on constants (org_id = $1
// AND source = $2 AND client_event_id IN (…)), a planner without
// statistics (a new table, autovacuum not yet run) searched the index by
// org and source alone and filtered every event of the org, a cost that
// grew with the table (11 ms a lookup at 37,000 events in bench/events).
func eventKeyReadsPostgres(in []EventInput, scan func(db.Rows) error) []db.Statement {
	var orgs, sources, clients []string
	for i := range in {
		e := &in[i].Event
		if !isID(e.OrgID) {
			continue
		}
		orgs, sources, clients = append(orgs, e.OrgID), append(sources, string(e.Source)), append(clients, e.ClientEventID)
	}
	if len(orgs) == 0 {
		return nil
	}
	return []db.Statement{{SQL: `SELECT ` + qualified("e", eventColumns) + ` FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k (org_id, source, client_event_id)
		JOIN events e ON e.org_id = k.org_id AND e.source = k.source AND e.client_event_id = k.client_event_id`,
		Args: []any{orgs, sources, clients}, Scan: scan}}
}

// qualified prefixes each name of a comma-separated column list with
// alias.
func qualified(alias, columns string) string {
	names := strings.Split(columns, ",")
	for i, n := range names {
		names[i] = alias + "." + strings.TrimSpace(n)
	}
	return strings.Join(names, ", ")
}

// doseRef is the org and plan of a dose instance named by an event.
type doseRef struct{ org, patient, plan string }

// requestedDoseReads returns the queries that put into found the org,
// patient and plan of every dose instance that an item names.
func requestedDoseReads(d db.Dialect, in []EventInput, found map[int64]doseRef) []db.Statement {
	var ids []any
	for i := range in {
		if e := &in[i].Event; e.RequestedDose > 0 {
			ids = append(ids, e.RequestedDose)
		}
	}
	scan := func(rows db.Rows) error {
		for rows.Next() {
			var id int64
			var v doseRef
			if err := rows.Scan(&id, &v.org, &v.patient, &v.plan); err != nil {
				return fmt.Errorf("look up dose instances: %w", err)
			}
			found[id] = v
		}
		return nil
	}
	var stmts []db.Statement
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		stmts = append(stmts, db.Statement{SQL: `SELECT id, org_id, patient_id, plan_id FROM dose_instances WHERE id IN ` + db.Placeholders(d, 1, len(chunk)),
			Args: chunk, Scan: scan})
	}
	return stmts
}

// withDosePlan returns e with the plan of the dose instance it names
// filled in when it names none (and the dose is of its org).
func withDosePlan(e adherence.Event, doses map[int64]doseRef) adherence.Event {
	if v, ok := doses[e.RequestedDose]; ok && e.PlanID == "" && e.RequestedDose != 0 && v.org == e.OrgID {
		e.PlanID = v.plan
	}
	return e
}

// applyRequestedDoses fills PlanID of the items idx that named only a dose
// instance, from found (requestedDoseReads), and refuses a dose instance
// that is another org's or not of the named plan. To a patient or a
// caregiver, another patient's dose is not found, exactly as a dose that
// does not exist: they must not learn which dose ids are real. A named
// plan that the caller cannot see (plans holds the plans items name) is
// not found as that plan, as it is without a doseId, rather than a dose
// "not of the plan".
func applyRequestedDoses(in []EventInput, idx []int, out []EventOutcome, found map[int64]doseRef, plans map[string]*planInfo) {
	for _, i := range idx {
		e := &in[i].Event
		if e.RequestedDose == 0 {
			continue
		}
		v, ok := found[e.RequestedDose]
		role := in[i].Actor.Role
		// Another patient of the caller's org: the refusal is audited as
		// an attempt on that patient. Another org's dose names no patient
		// of the caller's trail (it named the other org's patient there,
		// telling which dose ids exist elsewhere; QA).
		hidden := ok && v.org == e.OrgID && e.PatientID != "" && v.patient != e.PatientID && seesOwnPatientsOnly(role)
		switch {
		case !ok || v.org != e.OrgID || hidden:
			out[i].Err = &errs.Error{Code: errs.CodeNotFound, Field: "doseId", Message: "dose instance not found"}
			if hidden {
				out[i].RefusedPatientID = v.patient
			}
		case e.PlanID != "" && e.PlanID != v.plan:
			pl, known := plans[e.PlanID]
			switch {
			case !known || pl.orgID != e.OrgID:
				out[i].Err = &errs.Error{Code: errs.CodeNotFound, Field: "planId", Message: "plan not found"}
			case pl.patientID != e.PatientID && seesOwnPatientsOnly(role):
				out[i].Err = &errs.Error{Code: errs.CodeNotFound, Field: "planId", Message: "plan not found"}
				out[i].RefusedPatientID = pl.patientID
			default:
				out[i].Err = errs.Invalid("doseId", "is not a dose of the plan")
			}
		default:
			e.PlanID = v.plan
		}
	}
}

// newPlanIDs returns the plan ids named by the items idx without an error
// that plans does not hold yet.
func newPlanIDs(in []EventInput, idx []int, out []EventOutcome, plans map[string]*planInfo) []any {
	seen := map[string]bool{}
	var ids []any
	for _, i := range idx {
		id := in[i].Event.PlanID
		if out[i].Err == nil && isID(id) && !seen[id] && plans[id] == nil {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// planReads returns the queries that put into plans the plans ids, and
// into windows the windows of their orgs that set their own (org_settings).
func planReads(d db.Dialect, ids []any, plans map[string]*planInfo, windows map[string]adherence.Windows) []db.Statement {
	scan := func(rows db.Rows) error {
		for rows.Next() {
			var id string
			var p planInfo
			var on, late, dedupe sql.NullInt64
			var timing, zone sql.NullString
			if err := rows.Scan(&id, &p.orgID, &p.patientID, &p.asNeeded, &p.startAt, &p.onTime, &p.lateMax, &on, &late, &dedupe, &timing, &zone); err != nil {
				return fmt.Errorf("look up plans: %w", err)
			}
			p.startAt = p.startAt.UTC()
			if timing.Valid && zone.Valid {
				start, err := boundsStart(timing.String, zone.String)
				if err != nil {
					return fmt.Errorf("look up plan %s: %w", id, err)
				}
				if start.After(p.startAt) {
					p.startAt = start
				}
			}
			plans[id] = &p
			if on.Valid {
				windows[p.orgID] = orgWindows(on.Int64, late.Int64, dedupe.Int64)
			}
		}
		return nil
	}
	// On PostgreSQL the plans are share-locked (FOR KEY SHARE), once each,
	// in id order, before the dose instances and the audit chain head: a
	// writer holding a plan FOR UPDATE (deactivating its patient, changing
	// it) and then its doses and the head waits here, before this group
	// holds anything it needs. The events take their organization and
	// patient from these rows; migration 13's trigger checks each INSERT
	// against plans as a whole, without the per-row lock a foreign key
	// took (see the migration).
	lock := ""
	if d == db.Postgres {
		ids = append([]any(nil), ids...)
		sort.Slice(ids, func(i, j int) bool { return ids[i].(string) < ids[j].(string) })
		lock = ` ORDER BY p.id FOR KEY SHARE OF p`
	}
	var stmts []db.Statement
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		// The timing and the patient's zone are read only for a plan whose
		// timing has a boundsPeriod: its start (a date in that zone) may
		// come after startAt, and the plan starts with the later of them.
		stmts = append(stmts, db.Statement{SQL: `SELECT p.id, p.org_id, p.patient_id, p.as_needed, p.start_at, p.on_time_minutes, p.late_max_minutes,
				s.on_time_minutes, s.late_max_minutes, s.open_dedupe_minutes,
				CASE WHEN p.timing LIKE '%"boundsPeriod"%' THEN p.timing END,
				CASE WHEN p.timing LIKE '%"boundsPeriod"%' THEN (SELECT pt.time_zone FROM patients pt WHERE pt.id = p.patient_id) END
			FROM plans p LEFT JOIN org_settings s ON s.org_id = p.org_id
			WHERE p.id IN ` + db.Placeholders(d, 1, len(chunk)) + lock, Args: chunk, Scan: scan})
	}
	return stmts
}

// boundsStart is the start of the boundsPeriod of timing (a plan's
// stored FHIR Timing) for a patient in zone, or the zero time when it has
// none.
func boundsStart(timing, zone string) (time.Time, error) {
	var t schedule.Timing
	if err := json.Unmarshal([]byte(timing), &t); err != nil {
		return time.Time{}, fmt.Errorf("decode timing: %w", err)
	}
	loc, err := loadZone(zone)
	if err != nil {
		return time.Time{}, err
	}
	start, _, err := schedule.Bounds(t, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("timing bounds: %w", err)
	}
	return start.UTC(), nil
}

// orgWindows is an org's windows from its org_settings minutes.
func orgWindows(onTime, lateMax, openDedupe int64) adherence.Windows {
	return adherence.Windows{OnTime: time.Duration(onTime) * time.Minute, LateMax: time.Duration(lateMax) * time.Minute,
		OpenDedupe: time.Duration(openDedupe) * time.Minute}
}

// loadWindows loads the windows of the plans' orgs that set their own.
func loadWindows(ctx context.Context, q db.Querier, plans map[string]*planInfo) (map[string]adherence.Windows, error) {
	seen := map[string]bool{}
	var orgs []any
	for _, p := range plans {
		if !seen[p.orgID] {
			seen[p.orgID] = true
			orgs = append(orgs, p.orgID)
		}
	}
	out := map[string]adherence.Windows{}
	if len(orgs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT org_id, on_time_minutes, late_max_minutes, open_dedupe_minutes
		FROM org_settings WHERE org_id IN `+placeholders(1, len(orgs)), orgs...)
	if err != nil {
		return nil, fmt.Errorf("load windows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var org string
		var on, late, dedupe int64
		if err := rows.Scan(&org, &on, &late, &dedupe); err != nil {
			return nil, fmt.Errorf("load windows: %w", err)
		}
		out[org] = orgWindows(on, late, dedupe)
	}
	return out, rows.Err()
}

// candidateCond is one condition of the candidate instance reads: a named
// instance (dose), or a plan's instances due within [from, to].
type candidateCond struct {
	dose     int64
	plan     string
	from, to time.Time
}

// candidateConds returns the conditions that select every instance that
// could match one of the items idx, with each plan's windows from
// windowsOf. One condition per named instance, and one per plan covering
// the candidate ranges of all its items (a superset: each item keeps only
// the instances of its own range when it is decided). A batch of 2,000
// events then asks for a few hundred ranges, not 2,000.
func candidateConds(in []EventInput, idx []int, windowsOf func(plan string) adherence.Windows) []candidateCond {
	var conds []candidateCond
	byPlan := map[string]int{} // plan → index of its range in conds
	for _, i := range idx {
		e := &in[i].Event
		switch {
		case e.RequestedDose != 0:
			// e.PlanID is the dose's plan (given and checked, or taken
			// from the dose by applyRequestedDoses).
			conds = append(conds, candidateCond{dose: e.RequestedDose, plan: e.PlanID})
		default:
			from, to := match.CandidateRange(e.OccurredAt, windowsOf(e.PlanID))
			from, to = db.UTC(from), db.UTC(to)
			j, ok := byPlan[e.PlanID]
			if !ok {
				byPlan[e.PlanID] = len(conds)
				conds = append(conds, candidateCond{plan: e.PlanID, from: from, to: to})
				continue
			}
			if from.Before(conds[j].from) {
				conds[j].from = from
			}
			if to.After(conds[j].to) {
				conds[j].to = to
			}
		}
	}
	return conds
}

// covers reports whether the instances selected by have include those
// selected by want: every named instance of want is named in have, and
// every plan range of want lies within have's range of that plan.
func covers(have, want []candidateCond) bool {
	doses := map[int64]bool{}
	ranges := map[string]candidateCond{}
	for _, c := range have {
		if c.dose != 0 {
			doses[c.dose] = true
		} else {
			ranges[c.plan] = c
		}
	}
	for _, c := range want {
		if c.dose != 0 {
			if !doses[c.dose] {
				return false
			}
			continue
		}
		r, ok := ranges[c.plan]
		if !ok || c.from.Before(r.from) || c.to.After(r.to) {
			return false
		}
	}
	return true
}

// candidateReads returns the queries that load, and on PostgreSQL lock,
// the instances conds select into *out, in (plan_id, id) order per query.
func candidateReads(d db.Dialect, conds []candidateCond, out *[]*liveInstance) []db.Statement {
	conds = slices.Clone(conds)
	// Lock order: every group locks its instances in (plan_id, id) order,
	// so that two groups cannot each hold a row the other waits for. The
	// conditions go out in statements of about perQuery (one statement of
	// thousands of ORs costs far more to plan than several smaller ones),
	// sorted by plan, with all of a plan's conditions in one statement,
	// each statement ordering its rows by plan_id, id. (Ordered by id
	// alone, two statements' id ranges interleave: a group could lock
	// instance 100 in its first statement and wait for instance 50 in its
	// second while another group held 50 and waited for 100.)
	sort.SliceStable(conds, func(a, b int) bool { return conds[a].plan < conds[b].plan })
	seen := map[int64]bool{}
	scan := func(rows db.Rows) error {
		for rows.Next() {
			c, err := scanLive(rows)
			if err != nil {
				return fmt.Errorf("load dose instances: %w", err)
			}
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			*out = append(*out, c)
		}
		return nil
	}
	var stmts []db.Statement
	const perQuery = 300
	for start := 0; start < len(conds); {
		end := min(start+perQuery, len(conds))
		for end < len(conds) && conds[end].plan == conds[end-1].plan {
			end++ // the rest of the last plan's conditions
		}
		var parts []string
		var args []any
		for _, c := range conds[start:end] {
			if c.dose != 0 {
				args = append(args, c.dose)
				parts = append(parts, "id = "+param(d, len(args)))
				continue
			}
			args = append(args, c.plan, c.from, c.to)
			n := len(args)
			parts = append(parts, "(plan_id = "+param(d, n-2)+" AND due_at >= "+param(d, n-1)+" AND due_at <= "+param(d, n)+")")
		}
		stmts = append(stmts, db.Statement{SQL: `SELECT ` + liveColumns + `
			FROM dose_instances WHERE ` + strings.Join(parts, " OR ") + ` ORDER BY plan_id, id` + forUpdate(d), Args: args, Scan: scan})
		start = end
	}
	return stmts
}

// liveColumns are the dose_instances columns scanLive reads.
const liveColumns = `id, plan_id, due_at, status, taken_at, event_id, skip_reason, resolved_at, double_dose`

// scanLive reads a row of liveColumns.
func scanLive(row interface{ Scan(...any) error }) (*liveInstance, error) {
	var c liveInstance
	var status string
	var taken, resolved sql.NullTime
	var eventID, reason sql.NullString
	if err := row.Scan(&c.ID, &c.planID, &c.DueAt, &status, &taken, &eventID, &reason, &resolved, &c.doubleDose); err != nil {
		return nil, err
	}
	c.DueAt, c.Status = c.DueAt.UTC(), adherence.DoseStatus(status)
	c.TakenAt, c.resolvedAt = timePtr(taken), timePtr(resolved)
	c.eventID, c.skipReason = eventID.String, reason.String
	return &c, nil
}

// updateInstancesStatements returns the UPDATEs that write the outcomes
// of the dirty instances, 300 per statement (an UPDATE joined to a VALUES
// list: not one statement per instance), and the rows each must affect.
// An instance with an outcome has no reminder pending.
func updateInstancesStatements(d db.Dialect, dirty []*liveInstance) ([]db.Statement, []int64) {
	if len(dirty) == 0 {
		return nil, nil
	}
	if d == db.Postgres {
		return updateInstancesPostgres(dirty)
	}
	// SQLite: multi-row UPDATE OR FAIL (see insertEventsStatements).
	const cols, perStmt = 7, 300
	var stmts []db.Statement
	var want []int64
	for start := 0; start < len(dirty); start += perStmt {
		chunk := dirty[start:min(start+perStmt, len(dirty))]
		var q strings.Builder
		q.WriteString(`UPDATE OR FAIL dose_instances SET status = v.column2, event_id = v.column3, taken_at = v.column4,
			skip_reason = v.column5, resolved_at = v.column6, double_dose = v.column7, remind_at = NULL
			FROM (VALUES `)
		args := make([]any, 0, cols*len(chunk))
		for r, c := range chunk {
			if r > 0 {
				q.WriteString(", ")
			}
			q.WriteString(db.Placeholders(d, len(args)+1, cols))
			args = append(args, c.ID, string(c.Status), nullString(c.eventID), nullTime(c.TakenAt), nullString(c.skipReason),
				nullTime(c.resolvedAt), c.doubleDose)
		}
		q.WriteString(`) AS v WHERE dose_instances.id = v.column1`)
		stmts = append(stmts, db.Statement{SQL: q.String(), Args: args})
		want = append(want, int64(len(chunk)))
	}
	return stmts, want
}

// updateInstancesPostgres is updateInstancesStatements on PostgreSQL: one
// statement, whatever the number of instances, the values as parallel
// arrays expanded by unnest. Its text never changes, so it is prepared
// once per connection and planned cheaply, where multi-row VALUES lists of
// every length were each parsed, planned and prepared (a round trip) anew.
func updateInstancesPostgres(dirty []*liveInstance) ([]db.Statement, []int64) {
	n := len(dirty)
	ids, statuses := make([]int64, n), make([]string, n)
	eventIDs, reasons := make([]*string, n), make([]*string, n)
	taken, resolved := make([]*time.Time, n), make([]*time.Time, n)
	double := make([]bool, n)
	for i, c := range dirty {
		ids[i], statuses[i], double[i] = c.ID, string(c.Status), c.doubleDose
		eventIDs[i], reasons[i] = optString(c.eventID), optString(c.skipReason)
		taken[i], resolved[i] = utcPtr(c.TakenAt), utcPtr(c.resolvedAt)
	}
	return []db.Statement{{SQL: `UPDATE dose_instances SET status = v.status, event_id = v.event_id::uuid, taken_at = v.taken_at,
			skip_reason = v.skip_reason, resolved_at = v.resolved_at, double_dose = v.double_dose, remind_at = NULL
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[], $7::boolean[])
			AS v (id, status, event_id, taken_at, skip_reason, resolved_at, double_dose)
		WHERE dose_instances.id = v.id`,
		Args: []any{ids, statuses, eventIDs, taken, reasons, resolved, double}}}, []int64{int64(n)}
}

// insertEventsPostgres is insertEventsStatements on PostgreSQL: one
// statement of fixed text for any number of events (see
// updateInstancesPostgres).
func insertEventsPostgres(in []EventInput, idx []int) []db.Statement {
	n := len(idx)
	ids, orgs, patients, plans := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	requested, instances := make([]*int64, n), make([]*int64, n)
	kinds, reasons := make([]string, n), make([]string, n)
	snooze := make([]*int32, n)
	occurred, received := make([]time.Time, n), make([]time.Time, n)
	sources, clients, devices, results, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	double := make([]bool, n)
	actors, requests := make([]string, n), make([]string, n)
	for k, i := range idx {
		e := &in[i].Event
		ids[k], orgs[k], patients[k], plans[k] = e.ID, e.OrgID, e.PatientID, e.PlanID
		requested[k], instances[k] = optInt(e.RequestedDose), optInt(e.DoseInstanceID)
		kinds[k], reasons[k] = string(e.Kind), e.Reason
		if e.SnoozeMinutes != 0 {
			m := int32(e.SnoozeMinutes)
			snooze[k] = &m
		}
		occurred[k], received[k] = db.UTC(e.OccurredAt), db.UTC(e.ReceivedAt)
		sources[k], clients[k], devices[k] = string(e.Source), e.ClientEventID, e.DeviceID
		results[k], statuses[k], double[k] = string(e.Result), string(e.DoseStatus), e.DoubleDose
		actors[k], requests[k] = e.ActorID, e.RequestID
	}
	return []db.Statement{{SQL: `INSERT INTO events (` + eventColumns + `)
		SELECT u.id::uuid, u.org_id::uuid, u.patient_id::uuid, u.plan_id::uuid, u.requested_dose, u.dose_instance_id, u.kind, u.reason,
			u.snooze_minutes, u.occurred_at, u.received_at, u.source, u.client_event_id, u.device_id, u.result, u.dose_status,
			u.double_dose, u.actor_id, u.request_id
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[],
			$9::int[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
			$17::boolean[], $18::text[], $19::text[])
			AS u (id, org_id, patient_id, plan_id, requested_dose, dose_instance_id, kind, reason,
				snooze_minutes, occurred_at, received_at, source, client_event_id, device_id, result, dose_status,
				double_dose, actor_id, request_id)`,
		Args: []any{ids, orgs, patients, plans, requested, instances, kinds, reasons,
			snooze, occurred, received, sources, clients, devices, results, statuses,
			double, actors, requests}}}
}

// insertEventsStatements returns the INSERTs of the recorded events of the
// items idx: on SQLite multi-row INSERTs of 400 rows, OR FAIL (a failing
// row fails the whole transaction anyway, and without ABORT's statement
// rollback SQLite needs no statement journal).
func insertEventsStatements(d db.Dialect, in []EventInput, idx []int) []db.Statement {
	if len(idx) == 0 {
		return nil
	}
	if d == db.Postgres {
		return insertEventsPostgres(in, idx)
	}
	const cols, perStmt = 19, 400
	var stmts []db.Statement
	for start := 0; start < len(idx); start += perStmt {
		chunk := idx[start:min(start+perStmt, len(idx))]
		var q strings.Builder
		q.WriteString(`INSERT OR FAIL INTO events (` + eventColumns + `) VALUES `)
		args := make([]any, 0, cols*len(chunk))
		for n, i := range chunk {
			if n > 0 {
				q.WriteString(", ")
			}
			q.WriteString(db.Placeholders(d, len(args)+1, cols))
			e := &in[i].Event
			args = append(args, e.ID, e.OrgID, e.PatientID, e.PlanID, nullInt(e.RequestedDose), nullInt(e.DoseInstanceID),
				string(e.Kind), e.Reason, nullInt(int64(e.SnoozeMinutes)), db.UTC(e.OccurredAt), db.UTC(e.ReceivedAt),
				string(e.Source), e.ClientEventID, e.DeviceID, string(e.Result), string(e.DoseStatus), e.DoubleDose, e.ActorID, e.RequestID)
		}
		stmts = append(stmts, db.Statement{SQL: q.String(), Args: args})
	}
	return stmts
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// param is the placeholder of the n-th parameter of a statement built in
// parameter order: "$n" on PostgreSQL, "?" on SQLite (see db.Placeholders
// for why large statements avoid "$n" there).
func param(d db.Dialect, n int) string {
	if d == db.SQLite {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// snoozeStatement is the UPDATE that gives snoozed instance c the reminder
// time its snooze asked for. A snooze postpones: before the dose's first
// reminder (of its current life: see upsertConflict) it never brings that
// reminder earlier (a snooze made ahead of the due time sent a reminder
// before it; QA), and a dose not armed yet (due more than ArmLead ahead,
// in an on-time window of hours) is left to arming unless the snooze ends
// after its due time (QA again). And a snooze that a reminder due after it has answered
// (a device synced it late) changes nothing: that reminder went after the
// snooze, and the next follows the policy (it sent an extra reminder at
// once; QA). The latest reminder is found by its notification key
// (reminder:<dose>:<count>), which is indexed.
func snoozeStatement(c *liveInstance) db.Statement {
	return db.Statement{SQL: `UPDATE dose_instances SET remind_at = CASE
			WHEN reminders_sent = reminders_before AND remind_at IS NULL AND $1 <= due_at THEN NULL
			WHEN reminders_sent = reminders_before AND remind_at > $1 THEN remind_at ELSE $1 END
		WHERE id = $2 AND status = 'scheduled'
		  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.org_id = dose_instances.org_id
			AND n.idempotency_key = 'reminder:' || dose_instances.id || ':' || dose_instances.reminders_sent
			AND n.due_at > $3)`,
		Args: []any{nullTime(timeOrNil(c.snoozeTo)), c.ID, db.UTC(c.snoozedAt)}}
}

// snoozeUntil is when the next reminder of an open dose goes after a
// snooze: the snooze length (15 minutes by default) after the event, or
// zero — no more reminders — when the dose window closes first.
func snoozeUntil(e *adherence.Event, c *liveInstance, w adherence.Windows) time.Time {
	// remind.Snooze brings the length into the range an SMS SNOOZE takes
	// (default 15, 5 to 240 minutes), so the app and a text move the
	// reminder alike; the zero time means the window closes first.
	t := remind.Snooze(e.OccurredAt, e.SnoozeMinutes, remind.Dose{Open: true, WindowCloses: c.DueAt.Add(w.LateMax)})
	if t.IsZero() {
		return t
	}
	return db.UTC(t)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
