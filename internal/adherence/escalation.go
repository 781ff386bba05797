package adherence

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TriggerKind says what opens an escalation.
type TriggerKind string

// The trigger kinds.
const (
	// TriggerMissedDose fires on every missed dose.
	TriggerMissedDose TriggerKind = "missed_dose"
	// TriggerMissedCount fires when the patient has missed at least Count
	// doses due within Window up to the dose just missed.
	TriggerMissedCount TriggerKind = "missed_count"
	// TriggerLowAdherence fires when the patient's taking adherence over
	// the last LowAdherencePeriod is below Threshold (with at least
	// LowAdherenceMinDoses doses counted).
	TriggerLowAdherence TriggerKind = "low_adherence"
)

// Limits of escalation policies.
const (
	// MaxEscalationLevels is the most levels a policy may have.
	MaxEscalationLevels = 10
	// MaxLevelAfter is the latest a level may fire after its escalation
	// opened.
	MaxLevelAfter = 7 * 24 * time.Hour
	// LowAdherencePeriod is the period over which TriggerLowAdherence
	// computes taking adherence, ending at the time of evaluation.
	LowAdherencePeriod = 14 * 24 * time.Hour
	// LowAdherenceMinDoses is how many doses must count (the denominator of
	// taking adherence) before TriggerLowAdherence can fire.
	LowAdherenceMinDoses = 4
)

// EscalationTrigger is the condition that opens an escalation, evaluated
// when one of the patient's doses is marked missed.
type EscalationTrigger struct {
	Kind TriggerKind
	// Count and Window (TriggerMissedCount): at least Count missed doses
	// due in (due − Window, due], due being the dose just missed.
	Count  int
	Window time.Duration
	// Threshold (TriggerLowAdherence): taking adherence over the last
	// LowAdherencePeriod below which the trigger fires, in (0, 1).
	Threshold float64
}

// Recipients says who a level notifies.
type Recipients string

// The recipient groups of a level.
const (
	// RecipientsCaregivers are the active caregivers linked to the patient.
	RecipientsCaregivers Recipients = "caregivers"
	// RecipientsClinicians are the active clinicians linked to the patient
	// (none when no clinician is linked).
	RecipientsClinicians Recipients = "clinicians"
	// RecipientsWebhook is the level's URL.
	RecipientsWebhook Recipients = "webhook"
)

// EscalationLevel is one step of a policy: whom to notify, how, and when.
type EscalationLevel struct {
	// After is when the level fires, counted from the opening of the
	// escalation (not from the previous level).
	After      time.Duration
	Recipients Recipients
	// Channels are tried in order: sms and email for people (care-team
	// members have no push token); webhook for RecipientsWebhook.
	Channels []notify.Channel
	// URL is the https endpoint of RecipientsWebhook; empty otherwise.
	URL string
	// Urgent messages ignore the recipients' quiet hours.
	Urgent bool
}

// EscalationPolicy says when an org escalates missed doses and to whom.
// Policies are configuration, not PHI.
type EscalationPolicy struct {
	ID        string
	OrgID     string
	Name      string
	Trigger   EscalationTrigger
	Levels    []EscalationLevel
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks a policy; errors name the offending field as the API
// spells it (trigger.count, levels[1].afterMinutes, …).
func (p EscalationPolicy) Validate() error {
	if n := utf8.RuneCountInString(strings.TrimSpace(p.Name)); Blank(p.Name) || n > 200 {
		return errs.Invalid("name", "must be 1 to 200 characters, one of them visible")
	}
	// Leading and trailing white space (a pasted line break) is trimmed
	// when the policy is stored, as a member's or patient's name is.
	if HasControl(strings.TrimSpace(p.Name)) {
		return errs.Invalid("name", ControlRule)
	}
	if err := p.Trigger.validate(); err != nil {
		return err
	}
	if len(p.Levels) < 1 || len(p.Levels) > MaxEscalationLevels {
		return errs.Invalid("levels", "must have 1 to %d levels", MaxEscalationLevels)
	}
	for i, l := range p.Levels {
		field := fmt.Sprintf("levels[%d]", i)
		if err := l.validate(field); err != nil {
			return err
		}
		if i > 0 && l.After < p.Levels[i-1].After {
			return errs.Invalid(field+".afterMinutes", "must not be less than the previous level's")
		}
	}
	return nil
}

func (t EscalationTrigger) validate() error {
	switch t.Kind {
	case TriggerMissedDose, TriggerMissedCount, TriggerLowAdherence:
	default:
		return errs.Invalid("trigger.kind", "must be missed_dose, missed_count or low_adherence")
	}
	if t.Kind == TriggerMissedCount {
		if t.Count < 2 || t.Count > 50 {
			return errs.Invalid("trigger.count", "must be between 2 and 50")
		}
		if t.Window < time.Hour || t.Window > 30*24*time.Hour || t.Window%time.Minute != 0 {
			return errs.Invalid("trigger.windowMinutes", "must be whole minutes between 60 (1 hour) and 43200 (30 days)")
		}
	} else if t.Count != 0 || t.Window != 0 {
		return errs.Invalid("trigger.count", "count and windowMinutes apply to missed_count only")
	}
	if t.Kind == TriggerLowAdherence {
		if !(t.Threshold > 0 && t.Threshold < 1) {
			return errs.Invalid("trigger.threshold", "must be greater than 0 and less than 1")
		}
	} else if t.Threshold != 0 {
		return errs.Invalid("trigger.threshold", "applies to low_adherence only")
	}
	return nil
}

func (l EscalationLevel) validate(field string) error {
	if l.After < 0 || l.After > MaxLevelAfter || l.After%time.Minute != 0 {
		return errs.Invalid(field+".afterMinutes", "must be whole minutes between 0 and 10080 (7 days)")
	}
	switch l.Recipients {
	case RecipientsCaregivers, RecipientsClinicians:
		if len(l.Channels) == 0 {
			return errs.Invalid(field+".channels", "must name at least one of sms, email")
		}
		seen := map[notify.Channel]bool{}
		for j, ch := range l.Channels {
			// Members have no push token (only patients register one), so
			// a push message to one is never sent: a level of push only
			// would page nobody.
			if ch == notify.Push {
				return errs.Invalid(fmt.Sprintf("%s.channels[%d]", field, j), "push cannot reach caregivers or clinicians (they have no push token): use sms or email")
			}
			if ch != notify.SMS && ch != notify.Email {
				return errs.Invalid(fmt.Sprintf("%s.channels[%d]", field, j), "must be sms or email")
			}
			if seen[ch] {
				return errs.Invalid(fmt.Sprintf("%s.channels[%d]", field, j), "is listed twice")
			}
			seen[ch] = true
		}
		if l.URL != "" {
			return errs.Invalid(field+".url", "applies to webhook recipients only")
		}
	case RecipientsWebhook:
		if len(l.Channels) != 1 || l.Channels[0] != notify.Webhook {
			return errs.Invalid(field+".channels", `must be ["webhook"] for webhook recipients`)
		}
		if err := checkWebhookURL(l.URL); err != nil {
			return errs.Invalid(field+".url", "%s", err.Error())
		}
	default:
		return errs.Invalid(field+".recipients", "must be caregivers, clinicians or webhook")
	}
	return nil
}

// checkWebhookURL accepts absolute http and https URLs with a host and
// without credentials. Whether http is allowed is a setting of the server
// (WEBHOOK_ALLOW_HTTP), which the API checks when a policy is saved and the
// webhook provider when it posts; a policy holds either.
func checkWebhookURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("is required for webhook recipients")
	}
	if len(raw) > 2000 {
		return fmt.Errorf("must be at most 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials")
	}
	return nil
}

// EscalationStatus is the state of an escalation.
type EscalationStatus string

// The escalation states. Only open escalations fire further levels.
const (
	// EscalationOpen: nobody acknowledged it yet and the trigger still
	// holds; levels fire while they remain.
	EscalationOpen EscalationStatus = "open"
	// EscalationAcknowledged: a member took it in hand; nothing more fires.
	EscalationAcknowledged EscalationStatus = "acknowledged"
	// EscalationResolved: the patient recorded the dose after all, the
	// trigger no longer holds, or its policy was deactivated.
	EscalationResolved EscalationStatus = "resolved"
	// EscalationExhausted: every level had fired, nobody acknowledged it,
	// and the patient missed another dose, for which a new escalation
	// opened (an escalation whose levels have all fired stays open until
	// then). Exhausted escalations are treated like open ones by
	// acknowledgement, resolution and delivery: their last level's
	// messages still waiting (quiet hours, retries) are sent.
	EscalationExhausted EscalationStatus = "exhausted"
)

// Escalation is one escalation of a patient's missed doses under a policy.
type Escalation struct {
	ID        string
	OrgID     string
	PatientID string
	PolicyID  string
	// DoseInstanceID is the missed dose that opened it.
	DoseInstanceID int64
	Status         EscalationStatus
	// Level is the last level fired (0: none yet).
	Level    int
	OpenedAt time.Time
	ClosedAt *time.Time
	// ClosedBy says who closed it: a member or API key id, "patient"
	// (dose recorded), or the actor who deactivated the policy.
	ClosedBy string
	Reason   string
	// Steps and NotificationIDs are filled by reads of one escalation.
	Steps           []EscalationStep
	NotificationIDs []int64
}

// StepStatus is the state of an escalation step.
type StepStatus string

// The step states.
const (
	StepPending   StepStatus = "pending"
	StepFired     StepStatus = "fired"
	StepCancelled StepStatus = "cancelled"
)

// EscalationStep is one level of an escalation, due at a given time.
type EscalationStep struct {
	ID      int64
	Level   int // 1-based
	DueAt   time.Time
	Status  StepStatus
	FiredAt *time.Time
	// Redriven counts the times the stall sweeper re-enqueued the step's
	// job because it was still pending well after its due time.
	Redriven int
}
