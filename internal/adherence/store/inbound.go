package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Two-way SMS: what an inbound text does.
//
// Each provider message is handled once: its inbound_messages row, keyed
// by (provider, provider message id), records what was done, and a
// webhook retried by the provider finds it and changes nothing. The
// sender is found by number among patients and care-team members of every
// org; the number itself is never stored here, only its AddressKey.
//
//   - STOP (and the other carrier opt-out keywords): one consent ledger
//     row per patient and member with that number, sms_consent off for the
//     patients, and one confirmation — only if the number was not opted
//     out already, so a repeated STOP gets no second text.
//   - START: ledger rows, sms_consent restored where STOP turned it off
//     (see consent.go), and a confirmation.
//   - HELP: the help text, always.
//   - TAKEN / SKIP / SNOOZE from a patient (active or not: a reply to a
//     reminder sent before a deactivation still reports a dose): an event
//     through RecordEvents, exactly as the API records one (source sms,
//     client event id = the provider message id), for the dose the reply
//     answers (see findRepliedDose). With no such dose: the help text. A
//     number shared by patients may name one (TAKEN ANA); a reply naming
//     no one that could be either one's is asked which (which_patient).
//   - OK (ack) from a care-team member: AcknowledgeBySMS and a
//     confirmation. Anything else from a member: the help text.
//   - Anything not understood: the unknown-reply text.
//   - A number matching no record: STOP and START are kept in the consent
//     ledger for the number alone (no organization, no patient), so that
//     whoever is enrolled with it later is not texted after a STOP; no
//     answer goes. Anything else: the row says "ignored"; nothing else is
//     stored or sent.
//
// Automatic answers to what was not understood (unknown-reply and the
// help text for a dose reply with no dose) go at most once an hour per
// number, so a chatty sender and the program never ping-pong, and never
// to a number opted out (only HELP is answered after STOP). Answers to
// keywords always go. Every answer is a notification (kind reply) through
// the delivery pipeline, not a TwiML answer, so it is rate-limited,
// audited and falls back like any message.

// InboundSMS is one text received from a provider's webhook.
type InboundSMS struct {
	Provider          string // "twilio"
	ProviderMessageID string // Twilio MessageSid
	From              string // E.164
	To                string
	Body              string
	ReceivedAt        time.Time
	// RequestID is the webhook request's id, kept in the audit records
	// of what the text did, as a request of the API's is.
	RequestID string
}

// InboundResult says what an inbound text did.
type InboundResult struct {
	Result string // one of the Inbound… results
	// Replayed is set when the message had been handled already (a
	// retried webhook): Result is the stored one and nothing changed.
	Replayed bool
	Reply    remind.ReplyKind // what the text meant
	EventID  string           // the adherence event it recorded, if any
	// EventResult is how that event was matched (scored, orphan, …):
	// "recorded" says an event was stored, not that it scored a dose (a
	// reply after the dose's window is an orphan).
	EventResult adherence.EventResult
	// AcknowledgedLevels are the levels of the escalations an "OK"
	// acknowledged, at most one (for adherence_escalations_total, counted
	// by the caller as the API's acknowledgements are).
	AcknowledgedLevels []int
}

// Inbound results (inbound_messages.result).
const (
	InboundIgnored      = "ignored"        // the number matches no patient or member
	InboundOptedOut     = "opted_out"      // STOP recorded
	InboundOptedIn      = "opted_in"       // START recorded
	InboundHelp         = "help"           // answered with the help text
	InboundRecorded     = "recorded"       // a dose event was recorded
	InboundNoDose       = "no_dose"        // a dose reply with no reminded dose: help text
	InboundRejected     = "event_rejected" // the event was refused (e.g. before the plan started): help text
	InboundUnknown      = "unknown"        // not understood: unknown-reply text
	InboundUnanswered   = "unanswered"     // automatic answer withheld (hourly limit, or the number opted out)
	InboundAcknowledged = "acknowledged"   // a member acknowledged an escalation
	InboundNothingToAck = "nothing_to_acknowledge"
	// InboundAmbiguous: a dose reply naming no one, from a number whose
	// patients have a dose each waiting for an answer; answered with a
	// question (which_patient), nothing recorded.
	InboundAmbiguous = "ambiguous"
	// inboundAckPending marks a member's acknowledgement being applied
	// (see handleAck); inboundAckFailed one whose escalation step failed
	// and may be retried.
	inboundAckPending = "ack_pending"
	inboundAckFailed  = "ack_failed"
)

// Reply notification settings.
const (
	// replyValidity is how long a reply may wait for delivery: an answer
	// that cannot go within 15 minutes of the text is dropped.
	replyValidity = 15 * time.Minute
	// unknownReplyEvery is the least time between two automatic answers to
	// texts that were not understood, per number.
	unknownReplyEvery = time.Hour
	// replyDoseLookback bounds the reminders a dose reply is matched with;
	// recentDose is how old a dose that is no longer open may be.
	replyDoseLookback = 48 * time.Hour
	recentDose        = 24 * time.Hour
	// smsActor is the actor id of changes made by texts.
	smsActor = "sms"
)

// errInboundExists aborts a transaction that found the message's row
// inserted by a concurrent delivery of the same webhook.
var errInboundExists = errors.New("inbound message handled concurrently")

// HandleInboundSMS handles one inbound text (see the top of this file).
// It is safe to call again with the same message: a message already
// handled is answered from its row (Replayed). Everything a message does
// commits in one transaction with its row, except the adherence event,
// which RecordEvents commits first: a retry after that commit finds the
// event by its idempotency key and replays it rather than recording
// another.
func (s *Store) HandleInboundSMS(ctx context.Context, in InboundSMS) (InboundResult, error) {
	switch {
	case in.Provider == "" || in.ProviderMessageID == "":
		return InboundResult{}, errs.Invalid("", "provider and provider message id are required")
	case len(in.Provider) > 32 || len(in.ProviderMessageID) > maxProviderMessageID:
		return InboundResult{}, errs.Invalid("", "provider or provider message id too long")
	case strings.TrimSpace(in.From) == "":
		return InboundResult{}, errs.Invalid("from", "is required")
	}
	in.From = strings.TrimSpace(in.From)
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.clock()
	}
	in.ReceivedAt = db.UTC(in.ReceivedAt)

	prev, found, err := s.inboundRow(ctx, s.db.SQL, in.Provider, in.ProviderMessageID)
	if err != nil {
		return InboundResult{}, err
	}
	if found && prev.Result != inboundAckFailed {
		prev.Replayed = true
		return prev, nil
	}

	h := &inboundText{s: s, in: in, reply: remind.ParseReply(in.Body), key: AddressKey(in.From)}
	if err := h.findSender(ctx); err != nil {
		return InboundResult{}, err
	}
	h.readName()
	reply := h.reply
	switch {
	case len(h.patients) == 0 && len(h.members) == 0 && reply.Kind == remind.ReplyOptOut:
		// STOP from a number on no record is kept for the number: a
		// patient enrolled with it later, in any organization, gets no
		// text until the number says START (QA: the STOP was dropped and
		// that patient was texted). No program has texted the number, so
		// none answers it.
		return h.commit(ctx, inboundOutcome{result: InboundOptedOut, consent: ConsentOptOut})
	case len(h.patients) == 0 && len(h.members) == 0 && reply.Kind == remind.ReplyOptIn:
		return h.commit(ctx, inboundOutcome{result: InboundOptedIn, consent: ConsentOptIn})
	case len(h.patients) == 0 && len(h.members) == 0:
		return h.commit(ctx, inboundOutcome{result: InboundIgnored})
	case found: // a failed acknowledgement being retried
		return h.handleAck(ctx, true)
	}
	switch reply.Kind {
	case remind.ReplyOptOut, remind.ReplyOptIn:
		return h.handleKeyword(ctx)
	case remind.ReplyHelp:
		return h.answer(ctx, InboundHelp, remind.KindHelp, false)
	case remind.ReplyAck:
		if h.activeMembers() {
			return h.handleAck(ctx, false)
		}
	case remind.ReplyTaken, remind.ReplySkipped, remind.ReplySnoozed:
		// Inactive patients too: a reply to a reminder sent before the
		// patient was deactivated reports a dose taken or skipped, which
		// the API records for that patient too (QA: it was dropped).
		if len(h.patients) > 0 {
			return h.handleDoseReply(ctx)
		}
	}
	if len(h.members) > 0 && !h.activePatients() {
		// A member gets the help text for anything but OK; so does one
		// deactivated, whose OK acknowledges nothing (QA: they were told
		// to reply TAKEN or SKIP, the patient's dose replies).
		return h.answer(ctx, InboundUnknown, remind.KindHelp, true)
	}
	// Not understood — OK from a patient included: it acknowledges nothing.
	return h.answer(ctx, InboundUnknown, remind.KindUnknownReply, true)
}

// inboundText is one inbound text being handled.
type inboundText struct {
	s     *Store
	in    InboundSMS
	reply remind.Reply
	key   string // AddressKey of the sender

	patients []senderRecord
	members  []senderRecord
	// named is the first name a dose reply gave ("TAKEN ANA": ANA, see
	// readName), "" for none; manyNamed says it gave several.
	named     string
	manyNamed bool
	// whole is the text read without looking for names, kept when a name
	// was found: a name of a patient with no dose to answer is then read
	// as the reply's own words ("NO CARO": a skip for its cost).
	whole remind.Reply
}

// senderRecord is a patient or member with the sender's number.
type senderRecord struct {
	orgID, id string
	active    bool
	kind      string // member kind; "patient" for patients
	name      string // a patient's first name as a reply reads it (remind.ReplyWords, joined by spaces); "" for members
}

// readName finds patients' first names in a dose reply from a number of
// several patients ("TAKEN ANA", "SNOOZE ANA 30", "YES ANNE MARIE"), which
// such a number is asked for when a plain TAKEN could be either one's (see
// findRepliedDose). The whole first name is looked for (Anne-Marie and
// Anne-Sophie share a first word; a word belongs to the longest name found
// at it), or its first word alone when no other name of the number starts
// with it. The names found are taken out and the rest read again: it must
// be a dose reply. If it is not, each name alone is tried, leftmost first
// ("SI ANA", from a number of Si and Ana, is YES for Ana). A reply naming
// two patients ("TAKEN ANA AND LUIS") names no one in particular (many):
// it is asked about as a plain one is. A number of one name is not read for
// names: "NO CARO" from Caro is a skip for its cost.
func (h *inboundText) readName() {
	names := map[string]bool{}
	for _, p := range h.patients {
		if p.name != "" {
			names[p.name] = true
		}
	}
	words := remind.ReplyWords(h.in.Body)
	if len(names) < 2 || len(words) < 2 {
		return
	}
	type found struct {
		name     string
		at, span int
	}
	var finds []found
	claimed := make([]bool, len(words))
	claim := func(name string, seq []string) bool {
		for i := 0; i+len(seq) <= len(words); i++ {
			if slices.Equal(words[i:i+len(seq)], seq) && !slices.Contains(claimed[i:i+len(seq)], true) {
				for k := i; k < i+len(seq); k++ {
					claimed[k] = true
				}
				finds = append(finds, found{name: name, at: i, span: len(seq)})
				return true
			}
		}
		return false
	}
	// Longest names first, then in order: the outcome never depends on
	// map order.
	ordered := slices.Sorted(maps.Keys(names))
	slices.SortStableFunc(ordered, func(a, b string) int { return len(strings.Fields(b)) - len(strings.Fields(a)) })
	firsts := map[string]int{} // first word → how many names start with it
	for _, n := range ordered {
		first, _, _ := strings.Cut(n, " ")
		firsts[first]++
	}
	// A one-word name that the text, read whole as a dose reply, uses as
	// a word of its own ("SNOOZE 30 MIN", "SKIP RAN OUT") is the reply's,
	// not a patient's: such a text names no one.
	own := func(seq []string) bool { return len(seq) == 1 && h.reply.Uses(seq[0]) }
	var missing []string
	for _, n := range ordered {
		if seq := strings.Fields(n); own(seq) || !claim(n, seq) {
			missing = append(missing, n)
		}
	}
	for _, n := range missing {
		if first, _, _ := strings.Cut(n, " "); firsts[first] == 1 && !own([]string{first}) {
			claim(n, []string{first})
		}
	}
	if len(finds) == 0 {
		return
	}
	slices.SortFunc(finds, func(a, b found) int { return a.at - b.at })
	without := func(drop []found) (remind.Reply, bool) {
		out := make([]string, 0, len(words))
		for i := 0; i < len(words); i++ {
			skip := false
			for _, f := range drop {
				if i >= f.at && i < f.at+f.span {
					skip = true
				}
			}
			if !skip {
				out = append(out, words[i])
			}
		}
		r := remind.ParseReply(strings.Join(out, " "))
		return r, isDoseReply(r)
	}
	h.whole = h.reply
	if r, ok := without(finds); ok {
		h.reply, h.named = r, finds[0].name
		for _, f := range finds[1:] {
			if f.name != finds[0].name {
				h.named, h.manyNamed = "", true
			}
		}
		return
	}
	for _, f := range finds {
		if r, ok := without([]found{f}); ok {
			h.reply, h.named = r, f.name
			return
		}
	}
}

func (h *inboundText) activePatients() bool {
	for _, p := range h.patients {
		if p.active {
			return true
		}
	}
	return false
}

func (h *inboundText) activeMembers() bool {
	for _, m := range h.members {
		if m.active {
			return true
		}
	}
	return false
}

// findSender loads the patients and members, of every org, whose number
// is the sender's.
func (h *inboundText) findSender(ctx context.Context) error {
	q := h.s.db.SQL
	load := func(query string) ([]senderRecord, error) {
		rows, err := q.QueryContext(ctx, query, h.in.From)
		if err != nil {
			return nil, fmt.Errorf("find sender: %w", err)
		}
		defer rows.Close()
		var out []senderRecord
		for rows.Next() {
			var r senderRecord
			var given string
			if err := rows.Scan(&r.id, &r.orgID, &r.active, &r.kind, &given); err != nil {
				return nil, fmt.Errorf("find sender: %w", err)
			}
			r.name = strings.Join(remind.ReplyWords(given), " ")
			out = append(out, r)
		}
		return out, rows.Err()
	}
	var err error
	// phone <> '' lets PostgreSQL use the partial phone indexes.
	h.patients, err = load(`SELECT id, org_id, active, 'patient', COALESCE(given_name, '') FROM patients
		WHERE phone = $1 AND phone <> '' ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	h.members, err = load(`SELECT id, org_id, active, kind, '' FROM members
		WHERE phone = $1 AND phone <> '' ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	return h.lastTextedFirst(ctx)
}

// lastTextedFirst puts first, among several active patients with the
// sender's number (one person enrolled by two programs), the one last
// texted: a HELP or STOP answers in the name of the program whose message
// the person is answering, as a dose reply goes to the dose last reminded
// (findRepliedDose). Carriers require a HELP answer to name that program.
func (h *inboundText) lastTextedFirst(ctx context.Context) error {
	active := 0
	for _, p := range h.patients {
		if p.active {
			active++
		}
	}
	if active < 2 {
		return nil
	}
	last := make(map[string]int64, len(h.patients))
	for _, p := range h.patients {
		if !p.active {
			continue
		}
		var id sql.NullInt64
		err := h.s.db.SQL.QueryRowContext(ctx, `SELECT max(id) FROM notifications
			WHERE org_id = $1 AND patient_id = $2 AND member_id IS NULL AND channel = 'sms'
			  AND status IN ('sending', 'sent', 'delivered', 'unknown')`, p.orgID, p.id).Scan(&id)
		if err != nil {
			return fmt.Errorf("find sender: last text: %w", err)
		}
		last[p.orgID+"/"+p.id] = id.Int64
	}
	sort.SliceStable(h.patients, func(a, b int) bool {
		pa, pb := h.patients[a], h.patients[b]
		if pa.active != pb.active {
			return pa.active
		}
		return last[pa.orgID+"/"+pa.id] > last[pb.orgID+"/"+pb.id]
	})
	return nil
}

// primary is the record an answer is about when the text names none in
// particular: the first active patient (the one last texted, see
// lastTextedFirst), else the first active member, else the first record.
func (h *inboundText) primary() senderRecord {
	for _, p := range h.patients {
		if p.active {
			return p
		}
	}
	for _, m := range h.members {
		if m.active {
			return m
		}
	}
	if len(h.patients) > 0 {
		return h.patients[0]
	}
	return h.members[0]
}

// inboundOutcome is what handling a text decided, written by commit.
type inboundOutcome struct {
	result      string
	who         senderRecord // the org and patient or member of the row
	eventID     string
	eventResult adherence.EventResult
	// answer is the template of the reply to send ("" for none);
	// limited answers are withheld when the number got one within
	// unknownReplyEvery.
	answer  remind.Kind
	limited bool
	// consent, when set, records the keyword in the ledger for every
	// record with the number; a STOP is confirmed only if the number was
	// not opted out already.
	consent string
}

// answer commits a text answered with template kind (limited: the hourly
// limit for automatic answers applies).
func (h *inboundText) answer(ctx context.Context, result string, kind remind.Kind, limited bool) (InboundResult, error) {
	return h.commit(ctx, inboundOutcome{result: result, who: h.primary(), answer: kind, limited: limited})
}

// handleKeyword records STOP or START.
func (h *inboundText) handleKeyword(ctx context.Context) (InboundResult, error) {
	o := inboundOutcome{result: InboundOptedOut, who: h.primary(), answer: remind.KindOptOutConfirmation, consent: ConsentOptOut}
	if h.reply.Kind == remind.ReplyOptIn {
		o.result, o.answer, o.consent = InboundOptedIn, remind.KindOptInConfirmation, ConsentOptIn
	}
	return h.commit(ctx, o)
}

// commit writes the inbound row and everything the outcome asks for in
// one transaction, the audit records last.
func (h *inboundText) commit(ctx context.Context, o inboundOutcome) (InboundResult, error) {
	s := h.s
	res := InboundResult{Result: o.result, Reply: h.reply.Kind, EventID: o.eventID, EventResult: o.eventResult}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// What was already sent to the number decides what this text
		// gets: one STOP confirmation, one automatic answer an hour.
		if err := lockAddress(ctx, tx, h.key); err != nil {
			return err
		}
		res.Result = o.result
		var recs []audit.Record
		answer := o.answer
		if o.consent != "" {
			was, err := lastOwnConsent(ctx, tx, "sms", h.key)
			if err != nil {
				return err
			}
			if o.consent == ConsentOptOut && was.Action == ConsentOptOut {
				answer = "" // the one confirmation went with the first STOP
			}
			if recs, err = h.recordKeyword(ctx, tx, o.consent); err != nil {
				return err
			}
			if answer == remind.KindOptInConfirmation {
				// START restores the consent STOP removed, and no other:
				// a patient enrolled without SMS consent stays without
				// it. Told "you are subscribed to medication reminders and alerts",
				// that patient would wait for texts that never come; the
				// help text names the program and its contact instead.
				subscribed, err := h.subscribed(ctx, tx)
				if err != nil {
					return err
				}
				if !subscribed {
					answer = remind.KindHelp
				}
			}
		}
		if answer != "" && (o.limited || answer == remind.KindWhichPatient) {
			// An opted-out number gets the STOP confirmation and answers
			// to HELP only, never an automatic answer to other texts (nor
			// the question which_patient asks: not an answer to HELP). The
			// row says none went: the hourly limit counts the texts that
			// were answered, and a number that texts START is answered
			// again at once.
			was, err := lastOwnConsent(ctx, tx, "sms", h.key)
			if err != nil {
				return err
			}
			if was.Action == ConsentOptOut {
				// The row keeps what the text was when it is a question
				// withheld (ambiguous), else it says none went.
				if answer != remind.KindWhichPatient {
					res.Result = InboundUnanswered
				}
				answer = ""
			}
		}
		if answer != "" && o.limited {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbound_messages
				WHERE address_key = $1 AND received_at > $2 AND result IN ($3, $4, $5)`,
				h.key, h.in.ReceivedAt.Add(-unknownReplyEvery), InboundUnknown, InboundNoDose, InboundRejected).Scan(&n)
			if err != nil {
				return fmt.Errorf("count recent answers: %w", err)
			}
			if n > 0 {
				answer, res.Result = "", InboundUnanswered
			}
		}
		id, err := h.insertRow(ctx, tx, o.who, res.Result, o.eventID)
		if err != nil {
			return err
		}
		if answer != "" {
			if err := h.enqueueAnswer(ctx, tx, o.who, answer); err != nil {
				return err
			}
		}
		if o.who.orgID != "" {
			recs = append(recs, h.auditRecord(o.who, id, res.Result))
		}
		if _, err := s.audit.AppendBatch(ctx, tx, recs); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		return nil
	})
	if errors.Is(err, errInboundExists) {
		return h.replay(ctx)
	}
	if err != nil {
		return InboundResult{}, fmt.Errorf("handle inbound sms: %w", err)
	}
	return res, nil
}

// replay answers with the stored row of a message handled concurrently.
func (h *inboundText) replay(ctx context.Context) (InboundResult, error) {
	prev, found, err := h.s.inboundRow(ctx, h.s.db.SQL, h.in.Provider, h.in.ProviderMessageID)
	if err != nil {
		return InboundResult{}, err
	}
	if !found {
		return InboundResult{}, errors.New("handle inbound sms: row vanished")
	}
	prev.Replayed = true
	return prev, nil
}

// insertRow inserts the message's row, or fails with errInboundExists.
func (h *inboundText) insertRow(ctx context.Context, tx *db.Tx, who senderRecord, result, eventID string) (int64, error) {
	var patientID, memberID string
	if who.kind == "patient" {
		patientID = who.id
	} else {
		memberID = who.id
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO inbound_messages (provider, provider_message_id, address_key, org_id,
			patient_id, member_id, reply_kind, result, event_id, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id`,
		h.in.Provider, h.in.ProviderMessageID, h.key, nullString(who.orgID), nullString(patientID), nullString(memberID),
		string(h.reply.Kind), result, nullString(eventID), h.in.ReceivedAt).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errInboundExists
	}
	if err != nil {
		return 0, fmt.Errorf("insert inbound message: %w", err)
	}
	return id, nil
}

// recordKeyword appends a ledger row for every patient and member with
// the sender's number and returns their audit records.
func (h *inboundText) recordKeyword(ctx context.Context, tx *db.Tx, action string) ([]audit.Record, error) {
	keyword := keywordOf(h.in.Body)
	if len(h.patients) == 0 && len(h.members) == 0 {
		// The number's own row, of no organization and no one: what
		// OptedOut reads for whoever has the number later. Not audited:
		// it concerns no patient's record.
		in := ConsentInput{Channel: "sms", Address: h.in.From, Action: action, Source: ConsentSourceSMSKeyword,
			Keyword: keyword, ProviderMessageID: h.in.ProviderMessageID, Actor: adherence.Actor{ID: smsActor}}
		_, err := h.s.appendConsent(ctx, tx, in, h.key)
		return nil, err
	}
	var recs []audit.Record
	for _, group := range [][]senderRecord{h.patients, h.members} {
		for _, r := range group {
			in := ConsentInput{
				OrgID: r.orgID, Channel: "sms", Address: h.in.From, Action: action,
				Source: ConsentSourceSMSKeyword, Keyword: keyword, ProviderMessageID: h.in.ProviderMessageID,
				Actor: adherence.Actor{ID: smsActor, Role: r.kind, OrgID: r.orgID, RequestID: h.in.RequestID},
			}
			if r.kind == "patient" {
				in.PatientID = r.id
			} else {
				in.MemberID = r.id
			}
			rec, err := h.s.appendConsent(ctx, tx, in, h.key)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

// subscribed reports whether texts may go to the sender's number: an
// active patient with it has SMS consent and has not opted out, or an
// active member has it (a caregiver or clinician texted about escalations).
func (h *inboundText) subscribed(ctx context.Context, tx *db.Tx) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM patients WHERE phone = $1 AND phone <> '' AND active AND sms_consent AND NOT sms_opted_out) +
		(SELECT COUNT(*) FROM members WHERE phone = $1 AND phone <> '' AND active)`, h.in.From).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("handle inbound sms: read consent: %w", err)
	}
	return n > 0, nil
}

// keywordOf is the keyword texted, as the ledger keeps it: letters and
// digits upper-cased, one space between words, at most 32 characters.
func keywordOf(body string) string {
	words := strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToUpper(r)
		}
		return ' '
	}, body))
	k := []rune(strings.Join(words, " "))
	if len(k) > 32 {
		k = k[:32]
	}
	return string(k)
}

// enqueueAnswer enqueues the reply notification to the sender.
func (h *inboundText) enqueueAnswer(ctx context.Context, tx *db.Tx, who senderRecord, kind remind.Kind) error {
	now := h.s.clock()
	valid := now.Add(replyValidity)
	n := NotificationInput{
		OrgID: who.orgID, IdempotencyKey: "reply:" + h.in.ProviderMessageID, Kind: KindReply, Template: kind,
		Address: h.in.From, Channels: []notify.Channel{notify.SMS},
		// The sender has just texted us: the answer is not held for
		// quiet hours (it would outlive its validity and be dropped).
		Urgent: true,
		DueAt:  now, ValidUntil: &valid,
	}
	if who.kind == "patient" {
		n.PatientID = who.id
	} else {
		n.MemberID = who.id
	}
	_, err := h.s.enqueueNotifications(ctx, tx, []NotificationInput{n})
	return err
}

// auditRecord is the audit record of the inbound message's row.
func (h *inboundText) auditRecord(who senderRecord, id int64, result string) audit.Record {
	rec := audit.Record{
		OrgID: who.orgID, ActorID: smsActor, ActorRole: who.kind, Action: audit.ActionCreate,
		ResourceType: "InboundMessage", ResourceID: fmt.Sprint(id), Outcome: audit.OutcomeSuccess, RequestID: h.in.RequestID,
		Detail: "reply=" + string(h.reply.Kind) + " result=" + result,
	}
	if who.kind == "patient" {
		rec.PatientID = who.id
	}
	return rec
}

// inboundRow reads the stored row of a provider message.
func (s *Store) inboundRow(ctx context.Context, q db.Querier, provider, messageID string) (InboundResult, bool, error) {
	var r InboundResult
	var kind string
	var event sql.NullString
	err := q.QueryRowContext(ctx, `SELECT result, reply_kind, event_id FROM inbound_messages
		WHERE provider = $1 AND provider_message_id = $2`, provider, messageID).Scan(&r.Result, &kind, &event)
	if errors.Is(err, sql.ErrNoRows) {
		return InboundResult{}, false, nil
	}
	if err != nil {
		return InboundResult{}, false, fmt.Errorf("read inbound message: %w", err)
	}
	r.Reply, r.EventID = remind.ReplyKind(kind), event.String
	return r, true, nil
}

// handleDoseReply records TAKEN / SKIP / SNOOZE from a patient.
func (h *inboundText) handleDoseReply(ctx context.Context) (InboundResult, error) {
	// A retry after RecordEvents committed but the row did not: replay
	// the recorded event (the dose picked now may be another one).
	ev, found, err := h.recordedEvent(ctx)
	if err != nil {
		return InboundResult{}, err
	}
	var input EventInput
	var who senderRecord
	if found {
		input = EventInput{Actor: h.eventActor(ev.OrgID), Event: adherence.Event{
			OrgID: ev.OrgID, PatientID: ev.PatientID, PlanID: ev.PlanID, RequestedDose: ev.RequestedDose,
			Kind: ev.Kind, Reason: ev.Reason, SnoozeMinutes: ev.SnoozeMinutes, OccurredAt: ev.OccurredAt,
			ReceivedAt: ev.ReceivedAt, Source: ev.Source, ClientEventID: ev.ClientEventID, DeviceID: ev.DeviceID,
		}}
		who = senderRecord{orgID: ev.OrgID, id: ev.PatientID, kind: "patient", active: true}
	} else {
		d, match, err := h.findRepliedDose(ctx)
		if err != nil {
			return InboundResult{}, err
		}
		if match == noReplyDose && h.named != "" && isDoseReply(h.whole) {
			// The patient named has no reminded dose (a deactivated one,
			// say): the word was the reply's.
			h.reply, h.named = h.whole, ""
			if d, match, err = h.findRepliedDose(ctx); err != nil {
				return InboundResult{}, err
			}
		}
		switch match {
		case noReplyDose:
			return h.commit(ctx, inboundOutcome{result: InboundNoDose, who: h.primary(), answer: remind.KindHelp, limited: true})
		case ambiguousReply:
			// Not limited to one an hour: each plain TAKEN is a patient
			// trying to answer, and is told how.
			return h.commit(ctx, inboundOutcome{result: InboundAmbiguous, who: d.patient, answer: remind.KindWhichPatient})
		}
		who = d.patient
		e := adherence.Event{
			OrgID: d.patient.orgID, PatientID: d.patient.id, PlanID: d.planID, RequestedDose: d.doseID,
			Kind: adherence.EventKind(h.reply.Kind), OccurredAt: h.in.ReceivedAt, ReceivedAt: h.in.ReceivedAt,
			Source: adherence.SourceSMS, ClientEventID: h.in.ProviderMessageID,
		}
		switch h.reply.Kind {
		case remind.ReplySkipped:
			e.Reason = h.reply.Reason
		case remind.ReplySnoozed:
			e.SnoozeMinutes = h.reply.SnoozeMinutes
		}
		input = EventInput{Actor: h.eventActor(e.OrgID), Event: e}
	}
	var out []EventOutcome
	if h.s.Events != nil {
		out, err = h.s.Events.Submit(ctx, []EventInput{input}, h.in.ReceivedAt)
	} else {
		out, err = h.s.RecordEvents(ctx, []EventInput{input})
	}
	if err != nil {
		return InboundResult{}, fmt.Errorf("handle inbound sms: %w", err)
	}
	if errs.CodeOf(out[0].Err) == errs.CodeUnavailable {
		// Not refused: its commit could not be confirmed. Failed, the
		// webhook is retried by the provider, and the retry replays the
		// event if it was recorded.
		return InboundResult{}, fmt.Errorf("handle inbound sms: %w", out[0].Err)
	}
	if out[0].Err != nil {
		// Refused (the plan has not started, the dose is gone): the
		// patient gets the help text; the event is not recorded.
		return h.commit(ctx, inboundOutcome{result: InboundRejected, who: who, answer: remind.KindHelp, limited: true})
	}
	return h.commit(ctx, inboundOutcome{result: InboundRecorded, who: who, eventID: out[0].Event.ID, eventResult: out[0].Event.Result})
}

func (h *inboundText) eventActor(orgID string) adherence.Actor {
	return adherence.Actor{ID: smsActor, Role: "patient", OrgID: orgID, RequestID: h.in.RequestID}
}

// recordedEvent finds an event already recorded for this message in the
// org of one of the sender's patients.
func (h *inboundText) recordedEvent(ctx context.Context) (adherence.Event, bool, error) {
	seen := map[string]bool{}
	for _, p := range h.patients {
		if seen[p.orgID] {
			continue
		}
		seen[p.orgID] = true
		e, err := scanEvent(h.s.db.SQL.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
			WHERE org_id = $1 AND source = $2 AND client_event_id = $3`, p.orgID, string(adherence.SourceSMS), h.in.ProviderMessageID))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return adherence.Event{}, false, fmt.Errorf("find recorded sms event: %w", err)
		}
		return e, true, nil
	}
	return adherence.Event{}, false, nil
}

// repliedDose is the dose a reply answers.
type repliedDose struct {
	patient senderRecord
	doseID  int64
	planID  string
}

// replyMatch is what findRepliedDose found.
type replyMatch int

const (
	noReplyDose    replyMatch = iota // no reminded dose to answer
	foundReplyDose                   // the dose the reply answers
	ambiguousReply                   // several patients' doses: ask which
)

// findRepliedDose picks the dose a TAKEN / SKIP / SNOOZE answers. The
// candidates are the doses of the sender's patients (active or not: a
// patient deactivated after a reminder went out may still answer it) that
// were reminded (a reminder notification sending, sent, delivered or
// unknown — it may have gone — created in the last 48 hours); only the
// named patient's when the reply gave a first name (TAKEN ANA). Of each
// patient's candidates, the open dose (status scheduled) due last is
// meant; with none open, the one due last within the last 24 hours (a
// late reply: matching decides what it does to a dose already resolved).
//
// When several patients share the number (a parent texted for two
// children, one person in two programs), a patient with an open dose is
// meant before one whose doses are resolved, and of those the one
// reminded most recently. But when patients of different first names (see
// distinguishable) each have an open dose and the reply named none (or
// several), it is ambiguous: recorded for the one reminded last, the
// other's dose would be marked missed and escalated although it was
// perhaps the one taken. The reply then records nothing and the number is
// asked for the name (patient: the one reminded last).
func (h *inboundText) findRepliedDose(ctx context.Context) (repliedDose, replyMatch, error) {
	type cand struct {
		notification int64
		dose         int64
		plan, status string
		due          time.Time
	}
	type pick struct {
		dose repliedDose
		open bool
		last int64 // the patient's latest reminder notification
	}
	var picks []pick
	for _, p := range h.patients {
		if h.named != "" && p.name != h.named {
			continue
		}
		rows, err := h.s.db.SQL.QueryContext(ctx, `SELECT n.id, d.id, d.plan_id, d.status, d.due_at
			FROM notifications n JOIN dose_instances d ON d.id = n.dose_instance_id
			WHERE n.org_id = $1 AND n.patient_id = $2 AND n.kind = $3
			  AND n.status IN ('sending', 'sent', 'delivered', 'unknown') AND n.created_at >= $4
			ORDER BY n.id DESC LIMIT 100`, p.orgID, p.id, KindReminder, h.in.ReceivedAt.Add(-replyDoseLookback))
		if err != nil {
			return repliedDose{}, noReplyDose, fmt.Errorf("find replied dose: %w", err)
		}
		var cands []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.notification, &c.dose, &c.plan, &c.status, &c.due); err != nil {
				rows.Close()
				return repliedDose{}, noReplyDose, fmt.Errorf("find replied dose: %w", err)
			}
			c.due = c.due.UTC()
			cands = append(cands, c)
		}
		if err := rows.Close(); err != nil {
			return repliedDose{}, noReplyDose, fmt.Errorf("find replied dose: %w", err)
		}
		var chosen *cand
		for i := range cands {
			c := &cands[i]
			if c.status == string(adherence.DoseScheduled) && (chosen == nil || c.due.After(chosen.due)) {
				chosen = c
			}
		}
		open := chosen != nil
		if chosen == nil {
			for i := range cands {
				c := &cands[i]
				if !c.due.Before(h.in.ReceivedAt.Add(-recentDose)) && (chosen == nil || c.due.After(chosen.due)) {
					chosen = c
				}
			}
		}
		if chosen == nil {
			continue
		}
		picks = append(picks, pick{
			dose: repliedDose{patient: p, doseID: chosen.dose, planID: chosen.plan},
			open: open, last: cands[0].notification,
		})
	}
	if len(picks) == 0 {
		return repliedDose{}, noReplyDose, nil
	}
	// Open doses first, then the patient reminded most recently.
	sort.SliceStable(picks, func(a, b int) bool {
		if picks[a].open != picks[b].open {
			return picks[a].open
		}
		return picks[a].last > picks[b].last
	})
	best := picks[0]
	if h.manyNamed {
		return best.dose, ambiguousReply, nil
	}
	if h.named == "" && best.open {
		for _, other := range picks[1:] {
			if other.open && distinguishable(other.dose.patient, best.dose.patient) {
				return best.dose, ambiguousReply, nil
			}
		}
	}
	return best.dose, foundReplyDose, nil
}

// isDoseReply reports whether r records a dose event.
func isDoseReply(r remind.Reply) bool {
	switch r.Kind {
	case remind.ReplyTaken, remind.ReplySkipped, remind.ReplySnoozed:
		return true
	}
	return false
}

// distinguishable reports whether a reply can tell two patient records of
// one number apart by first name: both have one, and they differ. Records
// of one first name — one person enrolled by two programs, or a father and
// son of one name — cannot be named apart, and a reply is not asked to
// (it would be asked again and again): it goes to the one reminded last.
func distinguishable(a, b senderRecord) bool {
	return a.name != "" && b.name != "" && a.name != b.name
}

// handleAck applies a member's OK. The acknowledgement commits in its own
// transaction (AcknowledgeBySMS), so the message's row is claimed first
// (ack_pending): a retried webhook then replays instead of acknowledging a
// second, unrelated escalation. If the acknowledgement fails the row says
// ack_failed and a retry tries again; a crash between the two leaves
// ack_pending, and the acknowledgement is not retried (the escalation goes
// on to its next level: the safe side).
func (h *inboundText) handleAck(ctx context.Context, retry bool) (InboundResult, error) {
	s := h.s
	var members []senderRecord
	for _, m := range h.members {
		if m.active {
			members = append(members, m)
		}
	}
	if len(members) == 0 {
		return h.answer(ctx, InboundUnknown, remind.KindUnknownReply, true)
	}
	who := members[0]
	if retry {
		r, err := s.db.SQL.ExecContext(ctx, `UPDATE inbound_messages SET result = $1
			WHERE provider = $2 AND provider_message_id = $3 AND result = $4`,
			inboundAckPending, h.in.Provider, h.in.ProviderMessageID, inboundAckFailed)
		if err != nil {
			return InboundResult{}, fmt.Errorf("handle inbound sms: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return h.replay(ctx) // another delivery of the webhook took it
		}
	} else {
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			_, err := h.insertRow(ctx, tx, who, inboundAckPending, "")
			return err
		})
		if errors.Is(err, errInboundExists) {
			return h.replay(ctx)
		}
		if err != nil {
			return InboundResult{}, fmt.Errorf("handle inbound sms: %w", err)
		}
	}
	// One acknowledgement for all the sender's member records: the
	// escalation it answers is the one last notified to any of them.
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.id
	}
	esc, by, acked, err := s.acknowledgeOneBySMS(ctx, ids, h.in.RequestID, h.in.ReceivedAt)
	if err != nil {
		if _, uerr := s.db.SQL.ExecContext(ctx, `UPDATE inbound_messages SET result = $1
			WHERE provider = $2 AND provider_message_id = $3`, inboundAckFailed, h.in.Provider, h.in.ProviderMessageID); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return InboundResult{}, fmt.Errorf("handle inbound sms: acknowledge: %w", err)
	}
	var levels []int
	if acked {
		levels = []int{esc.Level}
		for _, m := range members {
			if m.id == by {
				who = m
			}
		}
	}
	res := InboundResult{Result: InboundNothingToAck, Reply: h.reply.Kind, AcknowledgedLevels: levels}
	if acked {
		res.Result = InboundAcknowledged
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE inbound_messages SET result = $1, org_id = $2, member_id = $3
			WHERE provider = $4 AND provider_message_id = $5 AND result = $6 RETURNING id`,
			res.Result, who.orgID, who.id, h.in.Provider, h.in.ProviderMessageID, inboundAckPending).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return errInboundExists
		}
		if err != nil {
			return fmt.Errorf("update inbound message: %w", err)
		}
		if acked {
			if err := h.enqueueAnswer(ctx, tx, who, remind.KindAckConfirmation); err != nil {
				return err
			}
		}
		_, err = s.audit.AppendBatch(ctx, tx, []audit.Record{h.auditRecord(who, id, res.Result)})
		return err
	})
	if errors.Is(err, errInboundExists) {
		return h.replay(ctx)
	}
	if err != nil {
		return InboundResult{}, fmt.Errorf("handle inbound sms: %w", err)
	}
	return res, nil
}

// acknowledgeOneBySMS acknowledges the escalation last notified to one of
// the member records memberIDs and reports whether there was one, and
// which member acknowledged it.
func (s *Store) acknowledgeOneBySMS(ctx context.Context, memberIDs []string, requestID string, now time.Time) (adherence.Escalation, string, bool, error) {
	e, by, err := s.acknowledgeBySMS(ctx, memberIDs, requestID, now)
	if errs.Is(err, errs.CodeNotFound) {
		return e, "", false, nil
	}
	if err != nil {
		return e, "", false, err
	}
	return e, by, true, nil
}
