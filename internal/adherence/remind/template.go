package remind

import (
	"github.com/medplatform/medplatform/internal/adherence"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Kind is what a message is for.
type Kind string

// The message kinds.
const (
	// KindReminder reminds a patient of a dose.
	KindReminder Kind = "reminder"
	// KindEscalationCaregiver tells a caregiver that doses were missed.
	KindEscalationCaregiver Kind = "escalation_caregiver"
	// KindEscalationClinician tells a clinician that doses were missed.
	KindEscalationClinician Kind = "escalation_clinician"
	// KindOptOutConfirmation is the one message allowed after an SMS
	// opt-out.
	KindOptOutConfirmation Kind = "optout_confirmation"
	// KindOptInConfirmation confirms a (re-)subscription.
	KindOptInConfirmation Kind = "optin_confirmation"
	// KindHelp answers HELP with program information.
	KindHelp Kind = "help"
	// KindUnknownReply answers a reply that was not understood.
	KindUnknownReply Kind = "unknown_reply"
	// KindAckConfirmation confirms that a reply was recorded.
	KindAckConfirmation Kind = "ack_confirmation"
	// KindWhichPatient answers a dose reply from a number shared by
	// patients with a dose each waiting for an answer: it asks for the
	// first name with the keyword (TAKEN ANA), as a plain TAKEN could be
	// either one's.
	KindWhichPatient Kind = "which_patient"
)

// Kinds returns every message kind.
func Kinds() []Kind {
	return []Kind{
		KindReminder, KindEscalationCaregiver, KindEscalationClinician,
		KindOptOutConfirmation, KindOptInConfirmation, KindHelp,
		KindUnknownReply, KindAckConfirmation, KindWhichPatient,
	}
}

// Fields returns the placeholders a template of kind k may use, or nil for
// an unknown kind. Each kind gets only what its recipient needs: a
// caregiver sees the patient's first name, a clinician the name and a
// record reference, and the messages of the SMS keyword flow (opt-out,
// opt-in, help, unknown reply, acknowledgement) no personal data at all.
func (k Kind) Fields() []string {
	switch k {
	case KindReminder:
		return []string{"first_name", "medication", "dose_time", "program", "reply_hint"}
	case KindEscalationCaregiver:
		return []string{"patient_first_name", "medication", "dose_time", "missed_count", "program", "level"}
	case KindEscalationClinician:
		return []string{"patient_name", "patient_ref", "medication", "dose_time", "missed_count", "program", "level", "link"}
	case KindOptOutConfirmation, KindOptInConfirmation, KindHelp, KindUnknownReply, KindAckConfirmation:
		return []string{"program", "help_contact"}
	case KindWhichPatient:
		// The first name of the patient reminded last, as an example: the
		// number's reminders have named each of its patients already.
		return []string{"first_name", "program", "help_contact"}
	}
	return nil
}

// Limits on template text, in characters.
const (
	// MaxSMSBody is the longest SMS template body: three concatenated
	// GSM 7-bit segments of 153 characters (a body with characters outside
	// that alphabet is sent as UCS-2, 67 characters a segment: seven).
	MaxSMSBody = 459
	// MaxSubject is the longest subject (email subject, push title).
	MaxSubject = 200
)

// Template is the text of one kind of message in one language and channel.
// Subject and Body may hold placeholders {{name}} (spaces inside the braces
// are allowed: {{ name }}) from the kind's Fields, and nothing else: there
// is no logic in a template.
type Template struct {
	Kind Kind
	// Language is a BCP 47 primary language tag such as "en" or "es".
	Language string
	Channel  notify.Channel
	// Subject is the email subject or push title; SMS ignores it and may
	// leave it empty.
	Subject string
	Body    string
}

// Validate checks a template before it is saved, so that sending never
// meets a template it cannot render. It rejects an unknown kind, channel
// (sms, push and email are allowed) or language (a 2 or 3 letter primary
// tag), an empty body, an SMS body over MaxSMSBody characters, a subject
// over MaxSubject characters or on more than one line, an unterminated
// "{{", and any placeholder the kind does not allow. The error is an
// *errs.Error naming the field; for a placeholder it gives the name and the
// 1-based character position of its "{{" in the field, e.g.
//
//	body: unknown field "dose_tme" at column 17 (allowed: first_name, medication, dose_time, program, reply_hint)
func (t Template) Validate() error {
	if err := t.ValidateKey(); err != nil {
		return err
	}
	allowed := t.Kind.Fields()
	if strings.ContainsAny(t.Subject, "\r\n") {
		return errs.Invalid("subject", "must be a single line")
	}
	if t.Subject != "" && adherence.Blank(t.Subject) {
		// Shown as nothing, and not replaced by the built-in subject as
		// an empty one is.
		return errs.Invalid("subject", "must have a visible character, or be left out")
	}
	if n := utf8.RuneCountInString(t.Subject); n > MaxSubject {
		return errs.Invalid("subject", "is %d characters long; the limit is %d", n, MaxSubject)
	}
	if adherence.Blank(t.Body) {
		// Empty, or shown as nothing (a zero-width space): a message with
		// nothing to read.
		return errs.Invalid("body", "must have a visible character")
	}
	if n := utf8.RuneCountInString(t.Body); t.Channel == notify.SMS && n > MaxSMSBody {
		return errs.Invalid("body", "is %d characters long; an SMS template may have at most %d", n, MaxSMSBody)
	}
	if _, err := parse("subject", t.Subject, t.Kind, allowed); err != nil {
		return err
	}
	if _, err := parse("body", t.Body, t.Kind, allowed); err != nil {
		return err
	}
	return nil
}

// ValidateKey checks what names a template, its kind, channel and
// language (the path of PUT and DELETE /v1/templates/…), as Validate does.
func (t Template) ValidateKey() error {
	if t.Kind.Fields() == nil {
		return errs.Invalid("kind", "unknown kind %q", clip(string(t.Kind)))
	}
	if !reminderChannel(t.Channel) {
		return errs.Invalid("channel", "unknown channel %q; want sms, push or email", clip(string(t.Channel)))
	}
	if !validLanguage(t.Language) {
		return errs.Invalid("language", "must be a 2 or 3 letter language tag such as en or es")
	}
	return nil
}

// validLanguage reports whether tag is a 2 or 3 letter ASCII language tag.
func validLanguage(tag string) bool {
	if len(tag) < 2 || len(tag) > 3 {
		return false
	}
	for _, r := range tag {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// part is a piece of a parsed template: literal text, or a placeholder.
type part struct {
	text  string // the literal text, or the field name of a placeholder
	field bool
}

// parse splits s into literal text and placeholders, checking each
// placeholder against allowed. Errors name the template field (subject or
// body) and the 1-based character position of the offending "{{".
func parse(name, s string, k Kind, allowed []string) ([]part, error) {
	var parts []part
	rest, off := s, 0 // off is the byte offset of rest in s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				parts = append(parts, part{text: rest})
			}
			return parts, nil
		}
		if i > 0 {
			parts = append(parts, part{text: rest[:i]})
		}
		col := utf8.RuneCountInString(s[:off+i]) + 1
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, errs.Invalid(name, "unterminated \"{{\" at column %d", col)
		}
		field := strings.TrimSpace(rest[i+2 : i+2+j])
		switch {
		case field == "":
			return nil, errs.Invalid(name, "empty placeholder at column %d", col)
		case !slices.Contains(allowed, field) && knownField(field):
			return nil, errs.Invalid(name, "field %q is not allowed for kind %s at column %d (allowed: %s)",
				field, k, col, strings.Join(allowed, ", "))
		case !slices.Contains(allowed, field):
			return nil, errs.Invalid(name, "unknown field %q at column %d (allowed: %s)",
				clip(field), col, strings.Join(allowed, ", "))
		}
		parts = append(parts, part{text: field, field: true})
		n := i + 2 + j + 2
		rest, off = rest[n:], off+n
	}
}

// knownField reports whether some kind allows the field.
func knownField(field string) bool {
	for _, k := range Kinds() {
		if slices.Contains(k.Fields(), field) {
			return true
		}
	}
	return false
}

// clip shortens text quoted back in an error message.
func clip(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit]) + "…"
}

// Values are what the placeholders of a template stand for. Which of them
// reach a message is decided by the template's kind (Kind.Fields): a
// reminder or caregiver message cannot show PatientName or PatientRef
// whatever the caller fills in.
type Values struct {
	// FirstName is the patient's first name ({{first_name}} in reminders,
	// {{patient_first_name}} in caregiver escalations).
	FirstName string
	// PatientName is the patient's full name ({{patient_name}}, clinician
	// escalations only).
	PatientName string
	// PatientRef is a short opaque reference to the patient: the end of
	// the patient's id, which reveals neither the patient nor when they
	// were enrolled ({{patient_ref}}, clinician escalations only).
	PatientRef string
	// Medication is the drug's display name. It is used only when
	// MedicationAllowed; otherwise {{medication}} renders as a generic
	// phrase.
	Medication string
	// DoseTime is the dose's scheduled time, formatted for the recipient:
	// the patient's local clock time ("08:00"), or, for a member who lives
	// in another time zone, the time on theirs with its abbreviation
	// ("03:00 EST").
	DoseTime string
	// Program is the care program's name, which identifies the sender.
	Program string
	// ReplyHint is the SMS reply instruction; empty means the language's
	// default ("Reply TAKEN, SKIP or SNOOZE").
	ReplyHint string
	// HelpContact is where to get help: a phone number, an address or a
	// URL. Empty (the organization gave none), the sentence of a template
	// that holds {{help_contact}} is left out of the message instead of
	// reading "Help: ." (see Render).
	HelpContact string
	// Link points a clinician to the escalation in the application. It
	// must not carry personal data itself (an opaque id, not a name).
	// Empty (no PUBLIC_URL), a template line whose only placeholder is
	// {{link}} is left out of the message instead of ending in nothing.
	Link string
	// MissedCount is the number of missed doses that opened the
	// escalation: 1 for a missed_dose trigger, the misses in the window for
	// missed_count, the misses in the 14-day period for low_adherence.
	MissedCount int
	// Level is the escalation level, 1 for the first.
	Level int
	// MedicationAllowed says the recipient may see the drug name: for the
	// patient's own reminders, that the patient agreed to drug names in
	// messages; for caregivers, Patient.ShareMedicationWithCaregivers.
	MedicationAllowed bool
}

// Render validates t and substitutes v into its subject and body. Minimum
// necessary: unless v.MedicationAllowed, {{medication}} renders as a
// generic phrase in the template's language ("your medication" / "su
// medicamento" in reminders, "their medication" / "su medicamento" in
// escalations; languages without a phrase of their own get the English
// one). Control characters in values (line breaks included) become spaces,
// so a value can neither add a header line to an email subject nor break
// a message's layout. Without v.Link, lines that only label the link are
// left out (see Values.Link); without v.HelpContact (empty or blank), the
// sentences that hold {{help_contact}} are (see withoutHelpSentences), and
// a template left with no body by that is rendered as the built-in one of
// its kind, language and channel (Default), and one left with no subject
// gets the built-in subject.
// Errors come from Validate and carry no values.
func Render(t Template, v Values) (subject, body string, err error) {
	if err := t.Validate(); err != nil {
		return "", "", err
	}
	allowed := t.Kind.Fields()
	subj, text := t.Subject, t.Body
	if v.Link == "" {
		subj, text = withoutLinkLines(subj, t.Kind, allowed), withoutLinkLines(text, t.Kind, allowed)
	}
	var builtInSubject bool
	if strings.TrimSpace(v.HelpContact) == "" {
		subj, text = withoutHelpSentences(subj, t.Kind, allowed), withoutHelpSentences(text, t.Kind, allowed)
		d := Default(t.Kind, t.Language, t.Channel)
		if strings.TrimSpace(text) == "" && d.Body != "" && d != t {
			// An organization's own text that said nothing but where
			// to get help would go out empty (a HELP answered with
			// nothing): the built-in text, whose other sentences name
			// the program and what it sends, goes instead.
			return Render(d, v)
		}
		// Likewise an own subject (an e-mail's, a push title) that said
		// nothing but where to get help would go out empty: the
		// built-in subject goes with the organization's body.
		builtInSubject = strings.TrimSpace(subj) == "" && strings.TrimSpace(t.Subject) != "" && d.Subject != "" && d != t
	}
	sp, err := parse("subject", subj, t.Kind, allowed)
	if err != nil {
		return "", "", err
	}
	bp, err := parse("body", text, t.Kind, allowed)
	if err != nil {
		return "", "", err
	}
	subject = fill(sp, t, v)
	if builtInSubject {
		if subject, _, err = Render(Default(t.Kind, t.Language, t.Channel), v); err != nil {
			return "", "", err
		}
	}
	return subject, fill(bp, t, v), nil
}

// withoutLinkLines leaves out of s, for a message without a link, every
// line whose only placeholder is {{link}} ("Review and acknowledge:
// {{link}}"), and the blank line that follows it: a label followed by
// nothing tells the reader nothing. A {{link}} among other placeholders
// renders as nothing (see fill).
func withoutLinkLines(s string, k Kind, allowed []string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	dropped := false
	for _, l := range lines {
		if dropped && strings.TrimSpace(l) == "" {
			dropped = false
			continue
		}
		dropped = false
		if onlyLink(l, k, allowed) {
			dropped = true
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// withoutHelpSentences leaves out of s, for an organization that gave no
// help contact, every sentence that holds {{help_contact}} ("Help:
// {{help_contact}}." or "For help, contact {{help_contact}}."): a sentence
// pointing to nothing only reads as broken. A sentence ends at a line end
// or at '.', '!' or '?' followed by a space or the line's end. A line left
// with nothing is left out with the blank line that follows it, as
// withoutLinkLines does.
func withoutHelpSentences(s string, k Kind, allowed []string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	dropped := false
	for _, l := range lines {
		if dropped && strings.TrimSpace(l) == "" {
			dropped = false
			continue
		}
		dropped = false
		kept, changed := withoutHelpSentence(l, k, allowed)
		if changed && strings.TrimSpace(kept) == "" {
			dropped = true
			continue
		}
		out = append(out, kept)
	}
	return strings.Join(out, "\n")
}

// withoutHelpSentence returns the template line l without its sentences
// that hold {{help_contact}}, and whether any was left out. A sentence
// keeps the spaces that follow it, so what is left is joined as written;
// the spaces that would end the line are trimmed.
func withoutHelpSentence(l string, k Kind, allowed []string) (string, bool) {
	parts, err := parse("", l, k, allowed)
	if err != nil {
		return l, false
	}
	var kept, cur strings.Builder
	help, changed := false, false
	flush := func() {
		if help {
			changed = true
		} else {
			kept.WriteString(cur.String())
		}
		cur.Reset()
		help = false
	}
	for _, p := range parts {
		if p.field {
			cur.WriteString("{{" + p.text + "}}")
			help = help || p.text == "help_contact"
			continue
		}
		text := p.text
		for {
			end := sentenceEnd(text)
			if end < 0 {
				cur.WriteString(text)
				break
			}
			cur.WriteString(text[:end])
			flush()
			text = text[end:]
		}
	}
	flush()
	if !changed {
		return l, false
	}
	return strings.TrimRight(kept.String(), " "), true
}

// sentenceEnd returns the byte offset in text just past the first
// sentence end ('.', '!' or '?', then the spaces that follow it) that is
// followed by a space or ends text, or -1 when text ends no sentence.
func sentenceEnd(text string) int {
	for i := 0; i < len(text); i++ {
		if !strings.ContainsRune(".!?", rune(text[i])) {
			continue
		}
		j := i + 1
		for j < len(text) && strings.ContainsRune(".!?", rune(text[j])) {
			j++
		}
		if j < len(text) && text[j] != ' ' {
			i = j - 1
			continue
		}
		for j < len(text) && text[j] == ' ' {
			j++
		}
		return j
	}
	return -1
}

// onlyLink reports whether the template line l has placeholders and all
// of them are {{link}}.
func onlyLink(l string, k Kind, allowed []string) bool {
	parts, err := parse("", l, k, allowed)
	if err != nil {
		return false
	}
	links := 0
	for _, p := range parts {
		if p.field && p.text != "link" {
			return false
		}
		if p.field {
			links++
		}
	}
	return links > 0
}

func fill(parts []part, t Template, v Values) string {
	var b strings.Builder
	skipSpace := false
	for _, p := range parts {
		if !p.field {
			text := p.text
			if skipSpace {
				// An empty {{link}} inside a line: no double space.
				text = strings.TrimPrefix(text, " ")
			}
			skipSpace = false
			b.WriteString(text)
			continue
		}
		val := clean(value(p.text, t, v))
		skipSpace = p.text == "link" && val == ""
		b.WriteString(val)
	}
	return b.String()
}

// value returns what field stands for in template t.
func value(field string, t Template, v Values) string {
	spanish := primaryLanguage(t.Language) == "es"
	switch field {
	case "first_name", "patient_first_name":
		return v.FirstName
	case "patient_name":
		return v.PatientName
	case "patient_ref":
		return v.PatientRef
	case "medication":
		if v.MedicationAllowed && strings.TrimSpace(v.Medication) != "" {
			return v.Medication
		}
		switch {
		case spanish:
			return "su medicamento"
		case t.Kind == KindReminder:
			return "your medication"
		default:
			return "their medication"
		}
	case "dose_time":
		return v.DoseTime
	case "program":
		return v.Program
	case "reply_hint":
		if v.ReplyHint != "" {
			return v.ReplyHint
		}
		if spanish {
			return ReplyHintES
		}
		return ReplyHintEN
	case "help_contact":
		return v.HelpContact
	case "link":
		return v.Link
	case "missed_count":
		return strconv.Itoa(v.MissedCount)
	case "level":
		return strconv.Itoa(v.Level)
	}
	return ""
}

// clean replaces control characters with spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// primaryLanguage returns the lower-case primary subtag of a BCP 47 tag:
// "es" for "es-MX" or "ES".
func primaryLanguage(tag string) string {
	primary, _, _ := strings.Cut(tag, "-")
	primary, _, _ = strings.Cut(primary, "_")
	return strings.ToLower(strings.TrimSpace(primary))
}
