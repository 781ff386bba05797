// Package adherence holds the domain types of the Medication Adherence
// Platform and the interfaces of the services that act on them. The
// implementations live in subpackages: schedule (FHIR Timing expansion),
// store (SQL on SQLite and PostgreSQL), doses (dose-instance generation),
// fhir (FHIR R4 JSON), api (HTTP).
package adherence

import (
	"time"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// Org is an organization: a care program with its own patients, staff and
// keys. Nothing crosses org boundaries.
type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// MemberKind says what a care-team member is.
type MemberKind string

// The member kinds.
const (
	MemberClinician MemberKind = "clinician"
	MemberCaregiver MemberKind = "caregiver"
)

// Member is a clinician or caregiver of an org. Caregivers are linked to
// specific patients and see only those; clinicians see the whole org.
// Names and contact details are personal data and treated like PHI.
type Member struct {
	ID    string
	OrgID string
	Kind  MemberKind
	Name  phi.String
	Email phi.String
	Phone phi.String
	// TimeZone is the member's own IANA zone, for quiet hours; "" means
	// the zone of the patient a message is about.
	TimeZone  string
	Active    bool
	CreatedAt time.Time
}

// Link attaches a member to a patient's circle of care.
type Link struct {
	PatientID    string
	MemberID     string
	Kind         MemberKind
	Relationship string // e.g. "daughter", "primary care"; not PHI by itself
	CreatedAt    time.Time
}

// QuietHours is a daily local-time range in which non-urgent messages are
// held. Start may be after End (22:00–07:00 spans midnight). Zero means none.
type QuietHours struct {
	Start schedule.Clock
	End   schedule.Clock
	Set   bool
}

// Patient is an enrolled patient. Demographics are PHI.
type Patient struct {
	ID         string
	OrgID      string
	GivenName  phi.String
	FamilyName phi.String
	BirthDate  phi.String // YYYY-MM-DD
	Phone      phi.String // E.164
	Email      phi.String
	TimeZone   string // IANA name, e.g. America/New_York
	Language   string // BCP 47, e.g. en, es
	Anchors    schedule.Anchors
	Quiet      QuietHours
	SMSConsent bool
	// ShareMedicationWithCaregivers lets linked caregivers see drug names.
	// Minimum necessary: off unless the patient agreed.
	ShareMedicationWithCaregivers bool
	Active                        bool
	DeactivatedAt                 *time.Time
	CreatedAt                     time.Time
	UpdatedAt                     time.Time
	Version                       int
}

// PlanStatus is the lifecycle state of a medication plan.
type PlanStatus string

// The plan states. Only active plans have scheduled doses.
const (
	PlanActive  PlanStatus = "active"
	PlanPaused  PlanStatus = "paused"
	PlanStopped PlanStatus = "stopped"
)

// RxNormSystem is the code system URI of RxNorm.
const RxNormSystem = "http://www.nlm.nih.gov/research/umls/rxnorm"

// Medication identifies a drug by RxNorm code (RxCUI) with display text.
type Medication struct {
	RxNorm  string
	Display string
}

// Plan is a medication plan: what the patient takes and when. The schedule
// is a FHIR R4 Timing.
type Plan struct {
	ID           string
	OrgID        string
	PatientID    string
	Medication   Medication
	Dose         string // e.g. "10 mg", "1 tablet"
	Instructions string
	DaysSupply   int
	AsNeeded     bool
	Timing       schedule.Timing
	// Ingredient is the active ingredient ("lisinopril"): refills of the
	// same ingredient are shifted in PDC. Empty means the RxNorm code.
	Ingredient string
	// DrugClass groups plans for PDC (e.g. "RASA", "statins",
	// "antiretroviral"). Empty means the plan is a class of its own.
	DrugClass string
	// OnTimeMinutes and LateMaxMinutes override the org's matching windows
	// for this plan; nil keeps the org's.
	OnTimeMinutes  *int
	LateMaxMinutes *int
	Status         PlanStatus
	StartAt        time.Time
	EndAt          *time.Time
	// GeneratedUntil is the end of the window for which dose instances exist.
	GeneratedUntil *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int
}

// Fill is a pharmacy fill of a plan's medication, the input of PDC.
type Fill struct {
	ID         string
	PlanID     string
	FillDate   string // YYYY-MM-DD
	DaysSupply int
	Quantity   float64
	// FillID is the client's key of the fill (the pharmacy's claim id, or
	// Rx number and fill number), unique per plan: a retry with the same
	// key is answered with the fill already recorded. "" when none.
	FillID    string
	CreatedAt time.Time
}

// DoseStatus is the state of one scheduled dose.
type DoseStatus string

// Dose states. scheduled is the only open state; excluded doses (plan on
// hold, patient deactivated) are outside the denominator; the rest are
// outcomes, set by event ingestion (taken_*, skipped) and the missed-dose
// job (missed). A late event can still move missed or skipped to taken.
const (
	DoseScheduled   DoseStatus = "scheduled"
	DoseExcluded    DoseStatus = "excluded"
	DoseTakenOnTime DoseStatus = "taken_on_time"
	DoseTakenLate   DoseStatus = "taken_late"
	DoseSkipped     DoseStatus = "skipped"
	DoseMissed      DoseStatus = "missed"
)

// Taken reports whether s records the dose as taken.
func (s DoseStatus) Taken() bool { return s == DoseTakenOnTime || s == DoseTakenLate }

// DoseInstance is one scheduled dose, materialised ahead of time.
type DoseInstance struct {
	ID        int64
	PlanID    string
	PatientID string
	Seq       int       // ordinal from the schedule start (repeat.count)
	DueAt     time.Time // UTC
	LocalTime string    // wall time in the patient's zone, 2006-01-02T15:04
	Status    DoseStatus
	// The outcome, once there is one: the event that decided it, when the
	// dose was taken, the skip reason, when the status was set, and whether
	// a second taking was reported (possible double dose).
	EventID    string
	TakenAt    *time.Time
	SkipReason string
	ResolvedAt *time.Time
	DoubleDose bool
}

// Actor is who performs an operation, as recorded in the audit trail.
type Actor struct {
	ID         string // API key id or OIDC-derived principal id
	Role       string
	OrgID      string
	RequestID  string
	ClientAddr string
}

// APIKey is a stored API key. Only the hash of the secret is kept; the
// plaintext is shown once, when the key is created.
type APIKey struct {
	ID        string // public key id, part of the token
	OrgID     string
	Role      string
	Subject   string // patient id for role patient, member id for clinician/caregiver
	Name      string
	Hash      []byte
	CreatedAt time.Time
	CreatedBy string
	ExpiresAt *time.Time
	RevokedAt *time.Time
	// LastUsedAt is when the key last authenticated a request, to within
	// auth.KeyUseInterval; nil if never.
	LastUsedAt *time.Time
}
