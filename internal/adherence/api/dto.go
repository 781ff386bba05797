package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// The JSON shapes of the API. PHI is copied out of its redacting wrapper
// (Reveal) only here, and only for callers allowed to see it.

type anchorsJSON struct {
	Wake      string `json:"wake"`
	Breakfast string `json:"breakfast"`
	Lunch     string `json:"lunch"`
	Dinner    string `json:"dinner"`
	Bed       string `json:"bed"`
}

type quietJSON struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type patientJSON struct {
	ID                            string       `json:"id"`
	GivenName                     string       `json:"givenName"`
	FamilyName                    string       `json:"familyName,omitempty"`
	BirthDate                     string       `json:"birthDate,omitempty"`
	Phone                         string       `json:"phone,omitempty"`
	Email                         string       `json:"email,omitempty"`
	TimeZone                      string       `json:"timeZone"`
	Language                      string       `json:"language"`
	Anchors                       *anchorsJSON `json:"anchors,omitempty"`
	QuietHours                    *quietJSON   `json:"quietHours,omitempty"`
	SMSConsent                    *bool        `json:"smsConsent,omitempty"`
	ShareMedicationWithCaregivers *bool        `json:"shareMedicationWithCaregivers,omitempty"`
	Active                        bool         `json:"active"`
	DeactivatedAt                 *time.Time   `json:"deactivatedAt,omitempty"`
	Version                       int          `json:"version,omitempty"`
	CreatedAt                     *time.Time   `json:"createdAt,omitempty"`
	UpdatedAt                     *time.Time   `json:"updatedAt,omitempty"`
}

func anchorsOut(a schedule.Anchors) *anchorsJSON {
	return &anchorsJSON{Wake: a.Wake.String(), Breakfast: a.Breakfast.String(), Lunch: a.Lunch.String(), Dinner: a.Dinner.String(), Bed: a.Bed.String()}
}

// patientOut renders a patient for a caller with view v.
func patientOut(p adherence.Patient, v view) patientJSON {
	out := patientJSON{
		ID:        p.ID,
		GivenName: p.GivenName.Reveal(),
		TimeZone:  p.TimeZone,
		Language:  p.Language,
		Active:    p.Active,
	}
	if v == viewCaregiver {
		// Minimum necessary for someone helping with medication: who and
		// when (time zone), nothing else.
		return out
	}
	sms, share := p.SMSConsent, p.ShareMedicationWithCaregivers
	created, updated := p.CreatedAt, p.UpdatedAt
	out.FamilyName = p.FamilyName.Reveal()
	out.BirthDate = p.BirthDate.Reveal()
	out.Phone = p.Phone.Reveal()
	out.Email = p.Email.Reveal()
	out.Anchors = anchorsOut(p.Anchors)
	if p.Quiet.Set {
		out.QuietHours = &quietJSON{Start: p.Quiet.Start.String(), End: p.Quiet.End.String()}
	}
	out.SMSConsent = &sms
	out.ShareMedicationWithCaregivers = &share
	out.DeactivatedAt = p.DeactivatedAt
	out.Version = p.Version
	out.CreatedAt = &created
	out.UpdatedAt = &updated
	return out
}

// patientInput is the body of POST /v1/patients and PATCH /v1/patients/{id}.
// On PATCH, absent fields keep their value; a null removes an optional
// field's value and is refused for a field the patient must have (see
// takeNulls).
type patientInput struct {
	GivenName                     *string      `json:"givenName"`
	FamilyName                    *string      `json:"familyName"`
	BirthDate                     *string      `json:"birthDate"`
	Phone                         *string      `json:"phone"`
	Email                         *string      `json:"email"`
	TimeZone                      *string      `json:"timeZone"`
	Language                      *string      `json:"language"`
	Anchors                       *anchorsJSON `json:"anchors"`
	QuietHours                    *quietJSON   `json:"quietHours"`
	SMSConsent                    *bool        `json:"smsConsent"`
	ShareMedicationWithCaregivers *bool        `json:"shareMedicationWithCaregivers"`
	Version                       *int         `json:"version"`
}

var (
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	// languages are the languages a patient (and so a message template)
	// can have.
	languages = map[string]bool{"en": true, "es": true, "fr": true, "zh": true, "vi": true, "ko": true, "tl": true, "ru": true, "ar": true, "pt": true, "ht": true, "de": true}
)

// validEmail reports whether s can be an e-mail address: one address of at
// most 254 bytes (RFC 5321's path limit) without a control character. \s
// in emailRe covers only tab, line breaks, form feed and space: an escape,
// DEL or a C1 control (U+0085, a line break to some readers) passed it and
// went into the To header and the audit trail.
//
// It must also be what the e-mail sender reads as one bare address
// (net/mail, as internal/platform/notify/email parses the recipient):
// "a@b.org,c", "a@b..org" or "a(b)@c.org" passed the pattern, and every
// message to them failed at send (QA).
func validEmail(s string) bool {
	if len(s) > 254 || !emailRe.MatchString(s) || adherence.HasControl(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// controlChars is the message of a one-line text field (a name, a
// relationship) holding a control character; see adherence.HasControl.
const controlChars = adherence.ControlRule

// unsupportedLanguage is the message for a language not in languages.
const unsupportedLanguage = "unsupported language; use one of en, es, fr, zh, vi, ko, tl, ru, ar, pt, ht, de"

// decodeWithNulls decodes a request body into dst as httpx.Decode does and
// returns the names, lower-cased, of its top-level members whose value is
// null, and of the null members of its top-level objects by their path
// ("quiethours.start"). encoding/json leaves a pointer field nil for a null
// as for a member left out, so {"phone": null} read as a body without
// phone: the PATCH kept the number and answered 200; and it leaves a
// string field of a nested object "", so {"quietHours": {"start": null,
// "end": null}} removed the quiet hours. Names are lower-cased because
// encoding/json matches them to fields without regard to case.
func decodeWithNulls(w http.ResponseWriter, r *http.Request, dst any) (map[string]bool, error) {
	var body json.RawMessage
	if err := httpx.Decode(w, r, &body); err != nil {
		return nil, err
	}
	if err := httpx.DecodeBytes(body, dst); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		// dst decoded, so the body is an object: not reached.
		return nil, errs.Invalid("", "request body must be a JSON object")
	}
	nulls := map[string]bool{}
	for name, v := range members {
		name = strings.ToLower(name)
		if string(v) == "null" {
			nulls[name] = true
			continue
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(v, &inner) != nil {
			continue // not an object
		}
		for child, cv := range inner {
			if string(cv) == "null" {
				nulls[name+"."+strings.ToLower(child)] = true
			}
		}
	}
	return nulls, nil
}

// nullRefused is a field that may not be null, and the 400's message.
type nullRefused struct{ name, msg string }

// nullCleared is an optional text field a null removes, as "" does.
type nullCleared struct {
	name string
	dst  **string
}

// applyNulls refuses the first null member of refused (a 400 naming it)
// and sets each null member of cleared to "". nulls holds the body's null
// members by lower-case name (decodeWithNulls).
func applyNulls(nulls map[string]bool, refused []nullRefused, cleared []nullCleared) error {
	for _, f := range refused {
		if nulls[strings.ToLower(f.name)] {
			return errs.Invalid(f.name, "%s", f.msg)
		}
	}
	for _, f := range cleared {
		if nulls[strings.ToLower(f.name)] {
			empty := ""
			*f.dst = &empty
		}
	}
	return nil
}

// takeNulls applies the null members of the body (from decodeWithNulls):
// a null optional field is removed, as its empty value removes it; a null
// field the patient must have is a 400 naming it. So are a null anchor
// time (a patient has all five: an anchor left out keeps its time) and a
// null end of the quiet hours (an object given replaces the quiet hours
// as a whole, and has both ends: "quietHours": null removes them).
func (in *patientInput) takeNulls(nulls map[string]bool) error {
	const anchor = "cannot be removed (null): a patient has every anchor time; give HH:MM, or leave it out to keep it"
	const quiet = "must be HH:MM, not null (\"quietHours\": null removes the quiet hours)"
	err := applyNulls(nulls, []nullRefused{
		{"givenName", "cannot be removed (null): a patient must have one"},
		{"timeZone", "cannot be removed (null): a patient must have one (an IANA zone such as America/New_York)"},
		{"language", "cannot be removed (null): " + unsupportedLanguage},
		{"anchors", "cannot be removed (null): give the anchor times to change"},
		{"anchors.wake", anchor},
		{"anchors.breakfast", anchor},
		{"anchors.lunch", anchor},
		{"anchors.dinner", anchor},
		{"anchors.bed", anchor},
		{"quietHours.start", quiet},
		{"quietHours.end", quiet},
		{"smsConsent", "must be true or false, not null"},
		{"shareMedicationWithCaregivers", "must be true or false, not null"},
		{"version", "must be a number, not null"},
	}, []nullCleared{
		{"familyName", &in.FamilyName},
		{"birthDate", &in.BirthDate},
		{"phone", &in.Phone},
		{"email", &in.Email},
	})
	if err != nil {
		return err
	}
	if nulls["quiethours"] {
		in.QuietHours = &quietJSON{} // no quiet hours
	}
	return nil
}

// apply validates the input and copies it onto p. Every error names its
// field; no PHI value is echoed in a message.
func (in patientInput) apply(p *adherence.Patient, now time.Time, create bool) error {
	if in.GivenName != nil {
		v := strings.TrimSpace(*in.GivenName)
		if adherence.Blank(v) || utf8.RuneCountInString(v) > 200 {
			return errs.Invalid("givenName", "must be 1 to 200 characters, one of them visible")
		}
		if adherence.HasControl(v) {
			return errs.Invalid("givenName", controlChars)
		}
		p.GivenName = phi.New(v)
	} else if create {
		return errs.Invalid("givenName", "is required")
	}
	if in.FamilyName != nil {
		v := strings.TrimSpace(*in.FamilyName)
		if utf8.RuneCountInString(v) > 200 {
			return errs.Invalid("familyName", "must be at most 200 characters")
		}
		if adherence.HasControl(v) {
			return errs.Invalid("familyName", controlChars)
		}
		if v != "" && adherence.Blank(v) {
			return errs.Invalid("familyName", "has no visible character (only invisible formatting characters): leave it empty instead")
		}
		p.FamilyName = phi.New(v)
	}
	if in.BirthDate != nil {
		if *in.BirthDate != "" {
			d, err := time.Parse("2006-01-02", *in.BirthDate)
			if err != nil {
				return errs.Invalid("birthDate", "must be a date YYYY-MM-DD")
			}
			if d.After(now) || d.Year() < 1900 {
				return errs.Invalid("birthDate", "must be between 1900-01-01 and today")
			}
		}
		p.BirthDate = phi.New(*in.BirthDate)
	}
	if in.Phone != nil {
		if *in.Phone != "" && !e164.MatchString(*in.Phone) {
			return errs.Invalid("phone", "must be an E.164 number such as +15551234567")
		}
		// Consent to SMS is given for a number: a new number of a patient
		// who consented (a typo, a number passed on to someone else) is
		// not texted on the old number's consent. The request that changes
		// it says whether the patient consents for the new one.
		if !create && *in.Phone != "" && !p.Phone.IsZero() && *in.Phone != p.Phone.Reveal() && p.SMSConsent && in.SMSConsent == nil {
			return errs.Invalid("phone", "a new number needs its own SMS consent: send smsConsent with it")
		}
		p.Phone = phi.New(*in.Phone)
	}
	if in.Email != nil {
		if *in.Email != "" && !validEmail(*in.Email) {
			return errs.Invalid("email", "must be an e-mail address")
		}
		p.Email = phi.New(*in.Email)
	}
	if in.TimeZone != nil {
		if err := validZone(*in.TimeZone); err != nil {
			return err
		}
		p.TimeZone = *in.TimeZone
	} else if create {
		return errs.Invalid("timeZone", "is required (an IANA zone such as America/New_York)")
	}
	if in.Language != nil {
		if !languages[*in.Language] {
			return errs.Invalid("language", unsupportedLanguage)
		}
		p.Language = *in.Language
	} else if create {
		p.Language = "en"
	}
	if create {
		p.Anchors = schedule.DefaultAnchors()
	}
	if in.Anchors != nil {
		a, err := in.Anchors.merge(p.Anchors)
		if err != nil {
			return err
		}
		p.Anchors = a
	}
	if in.QuietHours != nil {
		if in.QuietHours.Start == "" && in.QuietHours.End == "" {
			p.Quiet = adherence.QuietHours{}
		} else {
			start, err := schedule.ParseClock(in.QuietHours.Start)
			if err != nil {
				return errs.Invalid("quietHours.start", "must be HH:MM")
			}
			end, err := schedule.ParseClock(in.QuietHours.End)
			if err != nil {
				return errs.Invalid("quietHours.end", "must be HH:MM")
			}
			if start == end {
				return errs.Invalid("quietHours.end", "must differ from start")
			}
			p.Quiet = adherence.QuietHours{Start: start, End: end, Set: true}
		}
	}
	if in.SMSConsent != nil {
		if *in.SMSConsent && p.Phone.IsZero() {
			return errs.Invalid("smsConsent", "requires a phone number")
		}
		p.SMSConsent = *in.SMSConsent
	}
	// A PATCH removing the phone of a patient who consented to SMS would
	// leave consent without a number: it must withdraw the consent too.
	if p.SMSConsent && p.Phone.IsZero() {
		return errs.Invalid("phone", "cannot be removed while smsConsent is true; set smsConsent to false with it")
	}
	if in.ShareMedicationWithCaregivers != nil {
		p.ShareMedicationWithCaregivers = *in.ShareMedicationWithCaregivers
	}
	return nil
}

// merge overlays the given anchors on base; empty strings keep base.
func (a anchorsJSON) merge(base schedule.Anchors) (schedule.Anchors, error) {
	out := base
	for _, f := range []struct {
		name string
		in   string
		dst  *schedule.Clock
	}{
		{"anchors.wake", a.Wake, &out.Wake},
		{"anchors.breakfast", a.Breakfast, &out.Breakfast},
		{"anchors.lunch", a.Lunch, &out.Lunch},
		{"anchors.dinner", a.Dinner, &out.Dinner},
		{"anchors.bed", a.Bed, &out.Bed},
	} {
		if f.in == "" {
			continue
		}
		c, err := schedule.ParseClock(f.in)
		if err != nil {
			return out, errs.Invalid(f.name, "must be HH:MM")
		}
		*f.dst = c
	}
	return out, nil
}

func validZone(name string) error {
	if name == "" || name == "Local" {
		return errs.Invalid("timeZone", "must be an IANA time zone such as America/New_York")
	}
	if _, err := time.LoadLocation(name); err != nil {
		return errs.Invalid("timeZone", "unknown IANA time zone")
	}
	return nil
}

type medicationJSON struct {
	RxNorm  string `json:"rxnorm"`
	Display string `json:"display"`
}

type planJSON struct {
	ID           string          `json:"id"`
	PatientID    string          `json:"patientId"`
	Medication   *medicationJSON `json:"medication,omitempty"`
	Dose         string          `json:"dose,omitempty"`
	Instructions string          `json:"instructions,omitempty"`
	DaysSupply   int             `json:"daysSupply,omitempty"`
	AsNeeded     bool            `json:"asNeeded"`
	Timing       schedule.Timing `json:"timing"`
	Ingredient   string          `json:"ingredient,omitempty"`
	DrugClass    string          `json:"drugClass,omitempty"`
	Windows      *planWindows    `json:"windows,omitempty"`
	Status       string          `json:"status"`
	StartAt      time.Time       `json:"startAt"`
	EndAt        *time.Time      `json:"endAt,omitempty"`
	Version      int             `json:"version"`
	CreatedAt    time.Time       `json:"createdAt"`
	UpdatedAt    time.Time       `json:"updatedAt"`
}

// planOut renders a plan; caregivers see the drug only if the patient
// shares it, and so the timing's code too: its text, codes and displays are
// free text that may name the medication ("warfarin at bedtime").
func planOut(p adherence.Plan, pat adherence.Patient, v view) planJSON {
	out := planJSON{
		ID: p.ID, PatientID: p.PatientID, AsNeeded: p.AsNeeded, Timing: p.Timing,
		Status: string(p.Status), StartAt: p.StartAt, EndAt: p.EndAt, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if p.OnTimeMinutes != nil || p.LateMaxMinutes != nil {
		out.Windows = &planWindows{OnTimeMinutes: p.OnTimeMinutes, LateMaxMinutes: p.LateMaxMinutes}
	}
	if v == viewFull || pat.ShareMedicationWithCaregivers {
		out.Medication = &medicationJSON{RxNorm: p.Medication.RxNorm, Display: p.Medication.Display}
		out.Ingredient, out.DrugClass = p.Ingredient, p.DrugClass
		out.Dose = p.Dose
		out.Instructions = p.Instructions
		out.DaysSupply = p.DaysSupply
	} else {
		out.Timing = caregiverTiming(p.Timing)
	}
	return out
}

// caregiverTiming is the timing a caregiver of a patient who does not
// share medication details sees: when the doses fall, without what is kept
// as given and never read, which may be free text naming the drug — the
// code, and the element ids and extensions of the timing, its repeat and
// its boundsPeriod. t is not changed: its repeat and bounds are copied.
func caregiverTiming(t schedule.Timing) schedule.Timing {
	t.ID, t.Extension, t.Code = "", nil, nil
	if t.Repeat != nil {
		r := *t.Repeat
		r.ID, r.Extension = "", nil
		if r.BoundsPeriod != nil {
			b := *r.BoundsPeriod
			b.ID, b.Extension = "", nil
			r.BoundsPeriod = &b
		}
		t.Repeat = &r
	}
	return t
}

// planInput is the body of POST /v1/patients/{id}/plans and PATCH
// /v1/plans/{id}; on PATCH absent fields keep their value, and a null
// removes an optional field's value or is refused (see takeNulls).
type planInput struct {
	Medication   *medicationJSON  `json:"medication"`
	Dose         *string          `json:"dose"`
	Instructions *string          `json:"instructions"`
	DaysSupply   *int             `json:"daysSupply"`
	AsNeeded     *bool            `json:"asNeeded"`
	Timing       *strictTiming    `json:"timing"`
	StartAt      *httpx.Instant   `json:"startAt"`
	EndAt        planEndField     `json:"endAt"`
	Ingredient   *string          `json:"ingredient"`
	DrugClass    *string          `json:"drugClass"`
	Windows      planWindowsField `json:"windows"`
	Version      *int             `json:"version"`
}

// strictTiming is a plan's timing as the API reads it: decoded by
// schedule.DecodeTiming, as FHIR JSON (names are case-sensitive, no nulls),
// with errors naming the element down to its index, e.g.
// "timing.repeat.timeOfDay[1]". encoding/json matched "timeofday" to
// timeOfDay and named a wrong-typed list item by its list only.
type strictTiming schedule.Timing

// UnmarshalJSON implements json.Unmarshaler. A null timing leaves the
// pointer nil without calling it.
func (t *strictTiming) UnmarshalJSON(data []byte) error {
	v, err := schedule.DecodeTiming(data)
	if err != nil {
		return errs.PrefixField(err, "timing")
	}
	*t = strictTiming(v)
	return nil
}

// planWindowsField is the windows of a planInput. A pointer could not
// tell "windows": null, which stands for the organization's windows (as a
// plan without an override shows it), from windows left out, which on
// PATCH keep the plan's: set records that windows were given.
type planWindowsField struct {
	set     bool
	windows *planWindows // nil: the organization's
}

// UnmarshalJSON implements json.Unmarshaler. encoding/json calls it for a
// null too, unlike a pointer field, which it leaves as it was.
func (f *planWindowsField) UnmarshalJSON(data []byte) error {
	f.set, f.windows = true, nil
	if string(data) == "null" {
		return nil
	}
	var w planWindows
	if err := httpx.DecodeBytes(data, &w); err != nil {
		// Named from the body: "windows.onTimeMinutes", or "windows"
		// when the value as a whole is not an object.
		var e *errs.Error
		if errors.As(err, &e) && e.Field == "(body)" {
			e.Field = ""
		}
		return errs.PrefixField(err, "windows")
	}
	f.windows = &w
	return nil
}

// planEndField is the endAt of a planInput. As for windows, a pointer
// could not tell "endAt": null, which removes the plan's end (the plan is
// open-ended, as a plan without an end shows it), from endAt left out,
// which on PATCH keeps the plan's: set records that endAt was given.
type planEndField struct {
	set bool
	at  *time.Time // nil: no end
}

// UnmarshalJSON implements json.Unmarshaler; encoding/json calls it for a
// null too.
func (f *planEndField) UnmarshalJSON(data []byte) error {
	f.set, f.at = true, nil
	if string(data) == "null" {
		return nil
	}
	var t httpx.Instant // strictly RFC 3339, as occurredAt
	if err := t.UnmarshalJSON(data); err != nil {
		return err
	}
	f.at = &t.Time
	return nil
}

// planWindows overrides the org's matching windows for one plan; a null
// field keeps (or, on PATCH, restores) the org's value.
type planWindows struct {
	OnTimeMinutes  *int `json:"onTimeMinutes"`
	LateMaxMinutes *int `json:"lateMaxMinutes"`
}

// takeNulls applies the null members of the body (from decodeWithNulls):
// a null optional text or days supply is removed, as its empty value (or
// 0) removes it, and so does a null timing (allowed for a plan taken as
// needed); a null field a plan must have is a 400 naming it, the drug's
// rxnorm and display included. endAt and windows read their null
// themselves (a null window follows the organization's), and the timing
// refuses its own (see strictTiming).
func (in *planInput) takeNulls(nulls map[string]bool) error {
	err := applyNulls(nulls, []nullRefused{
		{"medication", "cannot be removed (null): a plan is for a drug"},
		{"medication.rxnorm", "must be an RxNorm concept id (digits), not null"},
		{"medication.display", "must be 1 to 500 characters, not null"},
		{"startAt", "cannot be removed (null): a plan has a start"},
		{"asNeeded", "must be true or false, not null"},
		{"version", "must be a number, not null"},
	}, []nullCleared{
		{"dose", &in.Dose},
		{"instructions", &in.Instructions},
		{"ingredient", &in.Ingredient},
		{"drugClass", &in.DrugClass},
	})
	if err != nil {
		return err
	}
	if nulls["timing"] {
		// No timing, which only a plan taken as needed may have: the
		// timing's check names what else is missing.
		in.Timing = &strictTiming{}
	}
	if nulls["dayssupply"] {
		none := 0
		in.DaysSupply = &none
	}
	return nil
}

var rxcui = regexp.MustCompile(`^[0-9]{1,10}$`)

func (in planInput) apply(p *adherence.Plan, create bool) error {
	if in.Medication != nil {
		if in.Medication.RxNorm == "" {
			// A PATCH correcting the display name without it (QA) was told
			// its rxnorm was malformed.
			return errs.Invalid("medication.rxnorm", "is required: medication is given whole, the plan's RxNorm concept id with its display name")
		}
		if !rxcui.MatchString(in.Medication.RxNorm) {
			return errs.Invalid("medication.rxnorm", "must be an RxNorm concept id (digits)")
		}
		d := strings.TrimSpace(in.Medication.Display)
		if d == "" || utf8.RuneCountInString(d) > 500 {
			return errs.Invalid("medication.display", "must be 1 to 500 characters")
		}
		if err := checkLine("medication.display", d, 500); err != nil {
			return err
		}
		// A plan's doses, events, fills and their FHIR exports are records
		// of its drug: another drug on the same plan would rewrite that
		// history (last month's administrations exported as the new drug,
		// its fills counted in the new drug's PDC). A new drug is a new
		// plan; the name may still be corrected.
		if !create && in.Medication.RxNorm != p.Medication.RxNorm {
			// The plan's own drug is not quoted: no error message carries PHI.
			return errs.Invalid("medication.rxnorm", "cannot change: stop the plan and create a new one for another drug, so that its history stays the record of the drug taken")
		}
		p.Medication = adherence.Medication{RxNorm: in.Medication.RxNorm, Display: d}
	} else if create {
		return errs.Invalid("medication", "is required")
	}
	if in.Dose != nil {
		if utf8.RuneCountInString(*in.Dose) > 100 {
			return errs.Invalid("dose", "must be at most 100 characters")
		}
		v := strings.TrimSpace(*in.Dose)
		if err := checkLine("dose", v, 100); err != nil {
			return err
		}
		p.Dose = v
	}
	if in.Instructions != nil {
		if utf8.RuneCountInString(*in.Instructions) > 2000 {
			return errs.Invalid("instructions", "must be at most 2000 characters")
		}
		p.Instructions = strings.TrimSpace(*in.Instructions)
	}
	if in.DaysSupply != nil {
		if *in.DaysSupply < 0 || *in.DaysSupply > 366 {
			return errs.Invalid("daysSupply", "must be between 0 and 366")
		}
		p.DaysSupply = *in.DaysSupply
	}
	if in.AsNeeded != nil {
		p.AsNeeded = *in.AsNeeded
	}
	if in.Ingredient != nil {
		v := strings.ToLower(strings.TrimSpace(*in.Ingredient))
		if utf8.RuneCountInString(v) > 200 {
			return errs.Invalid("ingredient", "must be at most 200 characters")
		}
		if adherence.HasControl(v) {
			return errs.Invalid("ingredient", controlChars)
		}
		p.Ingredient = v
	}
	if in.DrugClass != nil {
		v := strings.TrimSpace(*in.DrugClass)
		if utf8.RuneCountInString(v) > 100 {
			return errs.Invalid("drugClass", "must be at most 100 characters")
		}
		if adherence.HasControl(v) {
			return errs.Invalid("drugClass", controlChars)
		}
		p.DrugClass = v
	}
	if in.Windows.set {
		p.OnTimeMinutes, p.LateMaxMinutes = nil, nil
		if w := in.Windows.windows; w != nil {
			p.OnTimeMinutes, p.LateMaxMinutes = w.OnTimeMinutes, w.LateMaxMinutes
		}
	}
	if in.Timing != nil {
		trimTimingText((*schedule.Timing)(in.Timing))
		if err := checkTimingText(schedule.Timing(*in.Timing), "timing"); err != nil {
			return err
		}
		p.Timing = schedule.Timing(*in.Timing)
	} else if create && !p.AsNeeded {
		return errs.Invalid("timing", "is required unless asNeeded is true")
	}
	if in.StartAt != nil {
		if err := instantInRange("startAt", in.StartAt.Time); err != nil {
			return err
		}
		if in.StartAt.IsZero() {
			// The store reads a zero start as none given (the plan
			// starts now, a PATCH keeps its start): the instant would be
			// dropped without a word.
			return errs.Invalid("startAt", "must be after 0001-01-01T00:00:00Z")
		}
		p.StartAt = in.StartAt.UTC()
	}
	if in.EndAt.set {
		p.EndAt = nil
		if in.EndAt.at != nil {
			if err := instantInRange("endAt", *in.EndAt.at); err != nil {
				return err
			}
			// Stored to the microsecond, rounded up rather than down:
			// endAt is exclusive, so a dose before the instant sent stays
			// a dose (QA: 01:00:00.0000005 was stored as 01:00:00, and
			// the dose due at 01:00:00 was deleted).
			e := in.EndAt.at.UTC()
			if t := e.Truncate(time.Microsecond); !t.Equal(e) {
				e = t.Add(time.Microsecond)
			}
			p.EndAt = &e
		}
	}
	if p.EndAt != nil && !p.StartAt.IsZero() && !p.EndAt.After(p.StartAt) {
		return errs.Invalid("endAt", "must be after the plan's start (startAt, which is when the plan is created when not given)")
	}
	if err := p.Timing.Validate(p.AsNeeded); err != nil {
		return errs.PrefixField(err, "timing")
	}
	return nil
}

// maxTimingText is the longest timing code.text, in characters: as long
// as a plan's drug name (medication.display), the other concept text a
// plan holds.
const maxTimingText = 500

// maxElementID is the longest FHIR element id a timing's elements carry,
// in characters: as long as a coding's code.
const maxElementID = 100

// trimTimingText trims the white space around the text of a timing's code
// and the displays of its codings, as around a plan's drug name (a pasted
// line break at the end of "twice daily" was refused there only).
func trimTimingText(t *schedule.Timing) {
	if t.Code == nil {
		return
	}
	t.Code.Text = strings.TrimSpace(t.Code.Text)
	for i := range t.Code.Coding {
		t.Code.Coding[i].Display = strings.TrimSpace(t.Code.Coding[i].Display)
	}
}

// checkTimingText holds the text of a timing's code ("twice daily with
// meals") to the rules of the plan's other one-line texts: at most
// maxTimingText characters and no control character; and so the values
// of each of its codings, a display as long as the text, a system (a URI)
// as long too, a code and a version of at most 100 characters, as a
// plan's dose; and so the FHIR element ids of the timing, its repeat and
// boundsPeriod, its code and each coding, at most maxElementID
// characters. They are shown with the plan and exported in its FHIR
// resources. field is where the timing is in the request ("timing", or
// "dosageInstruction[0].timing" in a FHIR import). It is checked when a
// timing is given, not in schedule.Timing.Validate, which the store runs
// on every change of a plan: a plan saved with such a text before keeps
// taking the changes that leave its timing alone.
func checkTimingText(t schedule.Timing, field string) error {
	if err := checkLine(field+".id", t.ID, maxElementID); err != nil {
		return err
	}
	if t.Repeat != nil {
		if err := checkLine(field+".repeat.id", t.Repeat.ID, maxElementID); err != nil {
			return err
		}
		if b := t.Repeat.BoundsPeriod; b != nil {
			if err := checkLine(field+".repeat.boundsPeriod.id", b.ID, maxElementID); err != nil {
				return err
			}
		}
	}
	if t.Code == nil {
		return nil
	}
	if err := checkLine(field+".code.id", t.Code.ID, maxElementID); err != nil {
		return err
	}
	if err := checkLine(field+".code.text", t.Code.Text, maxTimingText); err != nil {
		return err
	}
	for i, c := range t.Code.Coding {
		at := field + ".code.coding[" + strconv.Itoa(i) + "]"
		for _, v := range []struct {
			name, value string
			max         int
		}{
			{"id", c.ID, maxElementID},
			{"system", c.System, maxTimingText},
			{"version", c.Version, 100},
			{"code", c.Code, 100},
			{"display", c.Display, maxTimingText},
		} {
			if err := checkLine(at+"."+v.name, v.value, v.max); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLine refuses a one-line text of more than max characters or with a
// control character, naming field.
func checkLine(field, v string, max int) error {
	if utf8.RuneCountInString(v) > max {
		return errs.Invalid(field, "must be at most %d characters", max)
	}
	if v != "" && adherence.Blank(v) {
		// Shown as nothing: refused as every name of invisible
		// characters only is (empty: none).
		return errs.Invalid(field, "must have a visible character, or be left out")
	}
	if adherence.HasControl(v) {
		return errs.Invalid(field, controlChars)
	}
	return nil
}

// instantInRange refuses an instant outside the years 1 to 9999 in UTC,
// as parseTimeParam does: an offset can carry a valid timestamp there
// (9999-12-31T23:00:00-05:00 is in the year 10000), where JSON cannot state
// it, and a plan holding one could not be answered again.
func instantInRange(field string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return errs.Invalid(field, "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
	}
	return nil
}

type doseJSON struct {
	ID        int64     `json:"id"`
	PlanID    string    `json:"planId"`
	PatientID string    `json:"patientId"`
	Seq       int       `json:"seq"`
	DueAt     time.Time `json:"dueAt"`
	LocalTime string    `json:"localTime"`
	Status    string    `json:"status"`
	// The outcome, once there is one.
	EventID            string     `json:"eventId,omitempty"`
	TakenAt            *time.Time `json:"takenAt,omitempty"`
	SkipReason         string     `json:"skipReason,omitempty"`
	ResolvedAt         *time.Time `json:"resolvedAt,omitempty"`
	PossibleDoubleDose bool       `json:"possibleDoubleDose,omitempty"`
}

func dosesOut(ds []adherence.DoseInstance) []doseJSON {
	out := make([]doseJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, doseJSON{ID: d.ID, PlanID: d.PlanID, PatientID: d.PatientID, Seq: d.Seq, DueAt: d.DueAt,
			LocalTime: d.LocalTime, Status: string(d.Status), EventID: d.EventID, TakenAt: d.TakenAt,
			SkipReason: d.SkipReason, ResolvedAt: d.ResolvedAt, PossibleDoubleDose: d.DoubleDose})
	}
	return out
}

type memberJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	TimeZone  string    `json:"timeZone,omitempty"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"createdAt"`
}

func memberOut(m adherence.Member) memberJSON {
	return memberJSON{ID: m.ID, Kind: string(m.Kind), Name: m.Name.Reveal(), Email: m.Email.Reveal(), Phone: m.Phone.Reveal(),
		TimeZone: m.TimeZone, Active: m.Active, CreatedAt: m.CreatedAt}
}

type memberInput struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	// TimeZone is optional: quiet hours then follow the patient's zone.
	TimeZone string `json:"timeZone"`
}

func (in memberInput) member() (adherence.Member, error) {
	kind := adherence.MemberKind(in.Kind)
	if kind != adherence.MemberClinician && kind != adherence.MemberCaregiver {
		return adherence.Member{}, errs.Invalid("kind", "must be clinician or caregiver")
	}
	name, err := memberName(in.Name)
	if err != nil {
		return adherence.Member{}, err
	}
	if err := checkMemberContact(in.Email, in.Phone, in.TimeZone); err != nil {
		return adherence.Member{}, err
	}
	return adherence.Member{Kind: kind, Name: phi.New(name), Email: phi.New(in.Email), Phone: phi.New(in.Phone), TimeZone: in.TimeZone, Active: true}, nil
}

// memberName returns a member's name trimmed, or why it is refused.
func memberName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	if adherence.Blank(name) || utf8.RuneCountInString(name) > 200 {
		return "", errs.Invalid("name", "must be 1 to 200 characters, one of them visible")
	}
	if adherence.HasControl(name) {
		return "", errs.Invalid("name", controlChars)
	}
	return name, nil
}

// checkMemberContact refuses a member's email, phone or time zone that is
// not empty and not valid.
func checkMemberContact(email, phone, zone string) error {
	if email != "" && !validEmail(email) {
		return errs.Invalid("email", "must be an e-mail address")
	}
	if phone != "" && !e164.MatchString(phone) {
		return errs.Invalid("phone", "must be an E.164 number such as +15551234567")
	}
	if zone != "" {
		return validZone(zone)
	}
	return nil
}

// memberPatch is the body of PATCH /v1/members/{id}: the fields given
// change, a null or "" email, phone or timeZone removes it. A member's
// kind does not change: a caregiver who becomes a clinician is a new
// member (their keys and links say which they are).
type memberPatch struct {
	Name     *string `json:"name"`
	Email    *string `json:"email"`
	Phone    *string `json:"phone"`
	TimeZone *string `json:"timeZone"`
}

// change validates the patch as memberInput.member validates a new member.
func (in *memberPatch) change(nulls map[string]bool) (store.MemberChange, error) {
	err := applyNulls(nulls, []nullRefused{{"name", "cannot be removed (null): a member must have one"}},
		[]nullCleared{{"email", &in.Email}, {"phone", &in.Phone}, {"timeZone", &in.TimeZone}})
	if err != nil {
		return store.MemberChange{}, err
	}
	ch := store.MemberChange{Email: in.Email, Phone: in.Phone, TimeZone: in.TimeZone}
	if in.Name != nil {
		name, err := memberName(*in.Name)
		if err != nil {
			return store.MemberChange{}, err
		}
		ch.Name = &name
	}
	text := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if err := checkMemberContact(text(in.Email), text(in.Phone), text(in.TimeZone)); err != nil {
		return store.MemberChange{}, err
	}
	return ch, nil
}

// zoneOf loads a patient's stored time zone. Stored zones are validated;
// one the zone database no longer has falls back to UTC.
func zoneOf(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}
