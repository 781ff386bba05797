package remind

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ReplyKind is what an inbound SMS reply means.
type ReplyKind string

// The reply kinds.
const (
	ReplyTaken   ReplyKind = "taken"
	ReplySkipped ReplyKind = "skipped"
	ReplySnoozed ReplyKind = "snoozed"
	ReplyOptOut  ReplyKind = "opt_out"
	ReplyOptIn   ReplyKind = "opt_in"
	ReplyHelp    ReplyKind = "help"
	// ReplyAck is a caregiver or clinician acknowledging an escalation.
	ReplyAck     ReplyKind = "ack"
	ReplyUnknown ReplyKind = "unknown"
)

// The skip reason codes a reply can carry (adherence event reason codes).
const (
	SkipSideEffects   = "side_effects"
	SkipForgot        = "forgot"
	SkipRanOut        = "ran_out"
	SkipFeltBetter    = "felt_better"
	SkipCost          = "cost"
	SkipDoctorAdvised = "doctor_advised"
	SkipOther         = "other"
)

// Reply is the meaning of an inbound SMS.
type Reply struct {
	Kind ReplyKind
	// Reason is the skip reason code of a skipped reply (SkipOther when
	// none was recognised), empty otherwise.
	Reason string
	// SnoozeMinutes is the snooze length a snoozed reply asked for,
	// MinSnoozeMinutes to MaxSnoozeMinutes; 0 means none given (Snooze then
	// uses DefaultSnoozeMinutes).
	SnoozeMinutes int
}

// ParseReply reads an inbound SMS. Matching ignores case, accents (SÍ is
// SI, whether the accent is part of the letter or a combining mark after
// it), full width (ＴＡＫＥＮ is TAKEN), surrounding white space and
// punctuation; punctuation inside counts as a space (OPT-OUT is OPT OUT,
// "snooze,30" is SNOOZE 30) and runs of spaces count as one.
//
// Carrier keywords count only as the whole message, as carriers treat
// them: STOP, STOPALL (or STOP ALL), UNSUBSCRIBE, CANCEL, END, QUIT,
// REVOKE, OPT OUT, OPTOUT, PARAR, ALTO, BAJA are opt_out; START, UNSTOP, SUBSCRIBE,
// COMENZAR are opt_in; HELP, INFO, AYUDA are help; OK, OKAY, ACK,
// ACKNOWLEDGE, ACKNOWLEDGED, RECEIVED, RECIBIDO are ack ("STOP it" is
// unknown and gets the unknown-reply answer, which explains STOP).
//
// Dose replies:
//   - taken: TAKEN, TOOK, DONE, TOMADA, TOMADO as the first word ("took
//     it"); YES, Y, 1, TAKE, SI only as the whole message, so that "yes
//     but later" is not recorded as a taking.
//   - skipped: SKIP, SKIPPED, OMITIR, OMITIDA, OMITIDO as the first word,
//     then an optional reason anywhere in the rest: SIDE (EFFECTS),
//     EFECTOS → side_effects; FORGOT, FORGET, OLVIDE, OLVIDO → forgot; OUT,
//     RAN (OUT), ACABO, AGOTADO → ran_out; BETTER, FELT, MEJOR →
//     felt_better; COST, EXPENSIVE, CARO, COSTO, PRECIO → cost; DOCTOR, DR,
//     MEDICO → doctor_advised; anything else or nothing → other. NO counts
//     as a skip alone or followed by a recognised reason ("no forgot"),
//     and "no, I took it" stays unknown.
//   - snoozed: SNOOZE, LATER, LUEGO or MAS TARDE, optionally followed by
//     minutes ("SNOOZE 30", "later 45 min", "snooze 1h"), brought into
//     MinSnoozeMinutes to MaxSnoozeMinutes.
//
// YES means taken, never opt-in: only START, UNSTOP, SUBSCRIBE and
// COMENZAR re-subscribe. Twilio's default opt-in keywords include YES, so
// a Messaging Service with Advanced Opt-Out should drop YES from them, or a
// patient who opted out and texts YES is re-subscribed at the carrier
// while the consent ledger still says opted out. Whether OK from a patient
// acknowledges anything is for the caller, who knows the sender, to
// decide.
func ParseReply(body string) Reply {
	words := strings.Fields(normalize(body))
	if len(words) == 0 {
		return Reply{Kind: ReplyUnknown}
	}
	switch strings.Join(words, " ") {
	case "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT", "PARAR", "ALTO", "BAJA":
		return Reply{Kind: ReplyOptOut}
	case "START", "UNSTOP", "SUBSCRIBE", "COMENZAR":
		return Reply{Kind: ReplyOptIn}
	case "HELP", "INFO", "AYUDA":
		return Reply{Kind: ReplyHelp}
	case "OK", "OKAY", "ACK", "ACKNOWLEDGE", "ACKNOWLEDGED", "RECEIVED", "RECIBIDO":
		return Reply{Kind: ReplyAck}
	case "YES", "Y", "1", "TAKE", "SI":
		return Reply{Kind: ReplyTaken}
	case "NO":
		return Reply{Kind: ReplySkipped, Reason: SkipOther}
	}
	switch first, rest := words[0], words[1:]; first {
	case "TAKEN", "TOOK", "DONE", "TOMADA", "TOMADO":
		return Reply{Kind: ReplyTaken}
	case "SKIP", "SKIPPED", "OMITIR", "OMITIDA", "OMITIDO":
		reason := skipReason(rest)
		if reason == "" {
			reason = SkipOther
		}
		return Reply{Kind: ReplySkipped, Reason: reason}
	case "NO":
		if reason := skipReason(rest); reason != "" {
			return Reply{Kind: ReplySkipped, Reason: reason}
		}
	case "SNOOZE", "LATER", "LUEGO":
		return Reply{Kind: ReplySnoozed, SnoozeMinutes: snoozeMinutes(rest)}
	case "MAS":
		if len(rest) > 0 && rest[0] == "TARDE" {
			return Reply{Kind: ReplySnoozed, SnoozeMinutes: snoozeMinutes(rest[1:])}
		}
	}
	return Reply{Kind: ReplyUnknown}
}

// ReplyWords returns the words of an inbound text as ParseReply reads
// them: upper case, without accents or punctuation. ParseReply of the
// words joined by spaces means what ParseReply of the text means.
func ReplyWords(body string) []string {
	return strings.Fields(normalize(body))
}

// normalize upper-cases s, strips accents (precomposed, or combining
// marks after their letter), reads full-width forms as their ASCII letters
// and digits, and turns everything but letters and digits into spaces.
func normalize(s string) string {
	// Decomposed first, every accented letter is its base letter and
	// marks, which are dropped below: TOMÁŠ is TOMAS, ZOË is ZOE.
	s = norm.NFD.String(s)
	return strings.Map(func(r rune) rune {
		if r >= '！' && r <= '～' {
			// Full-width ASCII (U+FF01–U+FF5E), typed on East Asian
			// keyboards in full-width mode: ＴＡＫＥＮ is TAKEN, １ is 1.
			r -= '！' - '!'
		}
		if unicode.Is(unicode.Mn, r) {
			// A combining accent typed after its letter (decomposed
			// text): "ma\u0301s" is MAS, as "más" is.
			return -1
		}
		r = unicode.ToUpper(r)
		switch r {
		case 'Á', 'À', 'Â', 'Ä', 'Ã', 'Å':
			return 'A'
		case 'É', 'È', 'Ê', 'Ë':
			return 'E'
		case 'Í', 'Ì', 'Î', 'Ï':
			return 'I'
		case 'Ó', 'Ò', 'Ô', 'Ö', 'Õ':
			return 'O'
		case 'Ú', 'Ù', 'Û', 'Ü':
			return 'U'
		case 'Ñ':
			return 'N'
		case 'Ç':
			return 'C'
		case 'Ł':
			return 'L'
		case 'Ø':
			return 'O'
		case 'Đ':
			return 'D'
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return ' '
	}, s)
}

// Uses reports whether word (as ReplyWords gives it) is one of the words
// that make r what it is beyond its keyword: a skip's reason words
// ("RAN", "OUT", "CARO"), a snooze's units ("MIN", "H"). A caller looking
// for other words in the text (a patient's first name) leaves these to
// the reply: "SNOOZE 30 MIN" names no patient Min.
func (r Reply) Uses(word string) bool {
	switch r.Kind {
	case ReplySkipped:
		return skipReason([]string{word}) != ""
	case ReplySnoozed:
		switch word {
		case "M", "MIN", "MINS", "MINUTE", "MINUTES", "MINUTO", "MINUTOS",
			"H", "HR", "HRS", "HOUR", "HOURS", "HORA", "HORAS":
			return true
		}
	}
	return false
}

// skipReason returns the reason code of the first reason word in words, or
// "" when there is none.
func skipReason(words []string) string {
	for _, w := range words {
		switch w {
		case "SIDE", "EFFECT", "EFFECTS", "EFECTOS", "EFECTO":
			return SkipSideEffects
		case "FORGOT", "FORGET", "FORGOTTEN", "OLVIDE", "OLVIDO", "OLVIDADO", "OLVIDADA":
			return SkipForgot
		case "OUT", "RAN", "ACABO", "ACABE", "AGOTADO", "AGOTADA":
			return SkipRanOut
		case "BETTER", "FELT", "MEJOR":
			return SkipFeltBetter
		case "COST", "COSTS", "EXPENSIVE", "CARO", "CARA", "COSTO", "PRECIO":
			return SkipCost
		case "DOCTOR", "DR", "MEDICO", "MEDICA":
			return SkipDoctorAdvised
		}
	}
	return ""
}

// snoozeMinutes reads an optional length after a snooze keyword: a number
// with an optional unit ("30", "30 min", "30m", "1 hour", "2h", "1 hora",
// "1.5h", "1,5 horas"), minutes by default; hours may be followed by
// minutes ("1h30", "1 hr 30 min"). It returns 0 when there is none.
func snoozeMinutes(words []string) int {
	if len(words) == 0 {
		return 0
	}
	w := words[0]
	i := 0
	for i < len(w) && w[i] >= '0' && w[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0
	}
	unit, rest := w[i:], words[1:]
	frac := ""
	if unit == "" && len(rest) > 0 {
		// A decimal point or comma became a space: "1.5h" reads 1 5H.
		j := 0
		for j < len(rest[0]) && rest[0][j] >= '0' && rest[0][j] <= '9' {
			j++
		}
		if j > 0 {
			frac, unit, rest = rest[0][:j], rest[0][j:], rest[1:]
		}
	}
	if unit == "" && len(rest) > 0 {
		unit, rest = rest[0], rest[1:]
	}
	// Minutes may follow an hour unit in the same word: "1h30" is 1 H30.
	k := 0
	for k < len(unit) && (unit[k] < '0' || unit[k] > '9') {
		k++
	}
	unit, tail := unit[:k], unit[k:]
	n := MaxSnoozeMinutes
	if i <= 4 {
		n, _ = strconv.Atoi(w[:i])
	}
	switch unit {
	case "H", "HR", "HRS", "HOUR", "HOURS", "HORA", "HORAS":
		n *= 60
		if frac != "" {
			// The fraction of an hour, to the minute: 1.5h is 90.
			f, _ := strconv.ParseFloat("0."+frac[:min(len(frac), 4)], 64)
			n += int(math.Round(f * 60))
			break
		}
		// Minutes after the hours: "1h30", "1h30m", "1 hr 30 min".
		if tail == "" && len(rest) > 0 {
			tail = rest[0]
		}
		j := 0
		for j < len(tail) && j < 2 && tail[j] >= '0' && tail[j] <= '9' {
			j++
		}
		if j > 0 {
			m, _ := strconv.Atoi(tail[:j])
			n += m
		}
	}
	return min(max(n, MinSnoozeMinutes), MaxSnoozeMinutes)
}
