package remind_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

func TestTemplateValidate(t *testing.T) {
	sms := func(body string) remind.Template {
		return remind.Template{Kind: remind.KindReminder, Language: "en", Channel: notify.SMS, Body: body}
	}
	with := func(change func(*remind.Template)) remind.Template {
		tp := remind.Template{Kind: remind.KindReminder, Language: "en", Channel: notify.Email, Subject: "Reminder", Body: "Hi {{first_name}}"}
		change(&tp)
		return tp
	}
	tests := []struct {
		name     string
		template remind.Template
		field    string // "" means valid
		want     string // the whole message when it starts with the field name, else a part of it
	}{
		{name: "plain", template: sms("Time for your dose. Reply TAKEN.")},
		{name: "placeholders", template: sms("Hi {{first_name}}, {{medication}} at {{dose_time}} ({{program}}). {{reply_hint}}")},
		{name: "spaces inside braces", template: sms("Hi {{ first_name }} and {{\tdose_time}}")},
		{name: "closing braces alone are text", template: sms("Hi }} there")},
		{name: "SMS of exactly 459 characters", template: sms(strings.Repeat("ñ", 459))},
		{name: "long push body", template: with(func(tp *remind.Template) { tp.Channel = notify.Push; tp.Body = strings.Repeat("a", 2000) })},
		{name: "three-letter language", template: with(func(tp *remind.Template) { tp.Language = "fil" })},
		{name: "upper-case language", template: with(func(tp *remind.Template) { tp.Language = "ES" })},
		{name: "SMS without subject", template: sms("x")},

		{name: "unknown field with its column",
			template: sms("Take your dose: {{dose_tme}}"), field: "body",
			want: `body: unknown field "dose_tme" at column 17 (allowed: first_name, medication, dose_time, program, reply_hint)`},
		{name: "column counts characters, not bytes",
			template: sms("Señora, ¿{{nombre}}?"), field: "body",
			want: `body: unknown field "nombre" at column 10 (allowed: `},
		{name: "column of the second placeholder on a later line",
			template: with(func(tp *remind.Template) { tp.Body = "Hi {{first_name}},\n{{ patient_name }}" }), field: "body",
			want: `body: field "patient_name" is not allowed for kind reminder at column 20 (allowed: first_name, medication, dose_time, program, reply_hint)`},
		{name: "no personal data in the keyword flow",
			template: remind.Template{Kind: remind.KindOptOutConfirmation, Language: "en", Channel: notify.SMS, Body: "{{program}}: stopped {{medication}}"}, field: "body",
			want: `body: field "medication" is not allowed for kind optout_confirmation at column 22 (allowed: program, help_contact)`},
		{name: "caregiver cannot see the full name",
			template: remind.Template{Kind: remind.KindEscalationCaregiver, Language: "en", Channel: notify.SMS, Body: "{{patient_name}} missed"}, field: "body",
			want: `field "patient_name" is not allowed`},
		{name: "logic is not a field",
			template: sms("{{if medication}}x{{end}}"), field: "body",
			want: `unknown field "if medication" at column 1`},
		{name: "unterminated braces",
			template: sms("Hi {{first_name}}, dose at {{dose_time"), field: "body",
			want: `body: unterminated "{{" at column 28`},
		{name: "single closing brace",
			template: sms("Hi {{first_name}"), field: "body",
			want: `body: unterminated "{{" at column 4`},
		{name: "empty placeholder",
			template: sms("Hi {{ }}"), field: "body",
			want: `body: empty placeholder at column 4`},
		{name: "subject field error",
			template: with(func(tp *remind.Template) { tp.Subject = "For {{first_nam}}" }), field: "subject",
			want: `subject: unknown field "first_nam" at column 5`},
		{name: "unterminated subject",
			template: with(func(tp *remind.Template) { tp.Subject = "{{program" }), field: "subject",
			want: `subject: unterminated "{{" at column 1`},
		{name: "subject on two lines",
			template: with(func(tp *remind.Template) { tp.Subject = "Reminder\r\nBcc: x@example.com" }), field: "subject",
			want: "subject: must be a single line"},
		{name: "subject too long",
			template: with(func(tp *remind.Template) { tp.Subject = strings.Repeat("s", 201) }), field: "subject",
			want: "subject: is 201 characters long; the limit is 200"},
		{name: "SMS too long",
			template: sms(strings.Repeat("a", 460)), field: "body",
			want: "body: is 460 characters long; an SMS template may have at most 459"},
		{name: "empty body", template: sms(""), field: "body", want: "body: must have a visible character"},
		{name: "blank body", template: sms(" \n\t"), field: "body", want: "body: must have a visible character"},
		{name: "invisible body", template: sms("\u200b\u2060"), field: "body", want: "body: must have a visible character"},
		{name: "unknown kind", template: with(func(tp *remind.Template) { tp.Kind = "newsletter" }), field: "kind", want: `kind: unknown kind "newsletter"`},
		{name: "webhook channel", template: with(func(tp *remind.Template) { tp.Channel = notify.Webhook }), field: "channel", want: `channel: unknown channel "webhook"`},
		{name: "no channel", template: with(func(tp *remind.Template) { tp.Channel = "" }), field: "channel", want: "channel: unknown channel"},
		{name: "language name", template: with(func(tp *remind.Template) { tp.Language = "english" }), field: "language", want: "language: must be a 2 or 3 letter"},
		{name: "language with region", template: with(func(tp *remind.Template) { tp.Language = "es-MX" }), field: "language", want: "language:"},
		{name: "one-letter language", template: with(func(tp *remind.Template) { tp.Language = "e" }), field: "language", want: "language:"},
		{name: "no language", template: with(func(tp *remind.Template) { tp.Language = "" }), field: "language", want: "language:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.template.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, err, tt.field, tt.want)
			if strings.HasPrefix(tt.want, tt.field+":") && strings.HasSuffix(tt.want, ")") && err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	values := remind.Values{
		FirstName: "Ana", PatientName: "Ana Pérez", PatientRef: "MRN-1234",
		Medication: "Lisinopril 10 mg", DoseTime: "8:00", Program: "Corazón Sano",
		HelpContact: "1-800-555-0100", Link: "https://app.example.org/e/1",
		MissedCount: 2, Level: 1,
	}
	consent := values
	consent.MedicationAllowed = true
	custom := func(kind remind.Kind, lang string, ch notify.Channel, subject, body string) remind.Template {
		return remind.Template{Kind: kind, Language: lang, Channel: ch, Subject: subject, Body: body}
	}
	tests := []struct {
		name        string
		template    remind.Template
		values      remind.Values
		wantSubject string
		wantBody    string
	}{
		{
			name:     "en reminder push without consent",
			template: remind.Default(remind.KindReminder, "en", notify.Push), values: values,
			wantSubject: "Medication reminder",
			wantBody:    "Hi Ana, it's time to take your medication (8:00 dose).",
		},
		{
			name:     "en reminder push with consent",
			template: remind.Default(remind.KindReminder, "en", notify.Push), values: consent,
			wantSubject: "Medication reminder",
			wantBody:    "Hi Ana, it's time to take Lisinopril 10 mg (8:00 dose).",
		},
		{
			name:     "es reminder push without consent",
			template: remind.Default(remind.KindReminder, "es", notify.Push), values: values,
			wantSubject: "Recordatorio de medicamento",
			wantBody:    "Hola Ana, es hora de tomar su medicamento (dosis de las 8:00).",
		},
		{
			name:     "es reminder push with consent",
			template: remind.Default(remind.KindReminder, "es-MX", notify.Push), values: consent,
			wantSubject: "Recordatorio de medicamento",
			wantBody:    "Hola Ana, es hora de tomar Lisinopril 10 mg (dosis de las 8:00).",
		},
		{
			name:     "en reminder SMS names no drug even with consent",
			template: remind.Default(remind.KindReminder, "en", notify.SMS), values: consent,
			wantBody: "Corazón Sano: Hi Ana, it's time for your 8:00 dose. Reply TAKEN, SKIP or SNOOZE.",
		},
		{
			name:     "es reminder SMS",
			template: remind.Default(remind.KindReminder, "es", notify.SMS), values: consent,
			wantBody: "Corazón Sano: Hola Ana, es hora de su dosis de las 8:00. Responda TOMADA, OMITIR o MAS TARDE.",
		},
		{
			name:     "en caregiver push without consent",
			template: remind.Default(remind.KindEscalationCaregiver, "en", notify.Push), values: values,
			wantSubject: "Missed dose alert",
			wantBody:    "Ana has missed 2 dose(s) of their medication, the latest due at 8:00.",
		},
		{
			name:     "es caregiver push with consent",
			template: remind.Default(remind.KindEscalationCaregiver, "es", notify.Push), values: consent,
			wantSubject: "Alerta de dosis omitida",
			wantBody:    "Ana tiene 2 dosis sin tomar de Lisinopril 10 mg; la última estaba prevista a las 8:00.",
		},
		{
			name:     "en clinician SMS",
			template: remind.Default(remind.KindEscalationClinician, "en", notify.SMS), values: values,
			wantBody: "Corazón Sano: patient MRN-1234 missed 2 dose(s), latest due 8:00 (level 1). https://app.example.org/e/1 Reply OK to acknowledge.",
		},
		{
			name:     "en opt-out confirmation",
			template: remind.Default(remind.KindOptOutConfirmation, "en", notify.SMS), values: values,
			wantBody: "Corazón Sano: You are unsubscribed and will get no more messages. Reply START to resubscribe.",
		},
		{
			name:     "reply hint defaults by language",
			template: custom(remind.KindReminder, "es", notify.SMS, "", "{{ reply_hint }}."), values: values,
			wantBody: "Responda TOMADA, OMITIR o MAS TARDE.",
		},
		{
			name:     "reply hint given",
			template: custom(remind.KindReminder, "en", notify.SMS, "", "{{reply_hint}}"), values: remind.Values{ReplyHint: "Reply 1 when done"},
			wantBody: "Reply 1 when done",
		},
		{
			name:     "empty medication renders generically even with consent",
			template: custom(remind.KindReminder, "en", notify.SMS, "", "Take {{medication}}"), values: remind.Values{MedicationAllowed: true},
			wantBody: "Take your medication",
		},
		{
			name:     "language without its own phrase gets English",
			template: custom(remind.KindReminder, "fr", notify.SMS, "", "Prenez {{medication}}"), values: values,
			wantBody: "Prenez your medication",
		},
		{
			name:     "line breaks in values become spaces",
			template: custom(remind.KindReminder, "en", notify.Email, "For {{first_name}}", "Hi {{first_name}}"), values: remind.Values{FirstName: "Ana\r\nBcc: x@example.com"},
			wantSubject: "For Ana  Bcc: x@example.com",
			wantBody:    "Hi Ana  Bcc: x@example.com",
		},
		{
			name:     "a value is not expanded again",
			template: custom(remind.KindReminder, "en", notify.SMS, "", "Hi {{first_name}}"), values: remind.Values{FirstName: "{{medication}}"},
			wantBody: "Hi {{medication}}",
		},
		{
			name:     "numbers",
			template: custom(remind.KindEscalationClinician, "en", notify.SMS, "", "{{missed_count}}/{{level}}"), values: remind.Values{MissedCount: 0, Level: 3},
			wantBody: "0/3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject, body, err := remind.Render(tt.template, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tt.wantSubject || body != tt.wantBody {
				t.Errorf("Render = %q, %q\nwant     %q, %q", subject, body, tt.wantSubject, tt.wantBody)
			}
		})
	}
}

func TestRenderRejectsInvalidTemplatesWithoutValues(t *testing.T) {
	secret := remind.Values{FirstName: "Zebulon", PatientName: "Zebulon Quist", Medication: "Warfarin", MedicationAllowed: true}
	for _, tp := range []remind.Template{
		{Kind: remind.KindReminder, Language: "en", Channel: notify.SMS, Body: "Hi {{first_name}} {{patient_name}}"},
		{Kind: remind.KindReminder, Language: "en", Channel: notify.SMS, Body: "Hi {{first_name"},
		{Kind: remind.KindHelp, Language: "en", Channel: notify.SMS, Body: "{{medication}}"},
	} {
		subject, body, err := remind.Render(tp, secret)
		if err == nil || subject != "" || body != "" {
			t.Fatalf("Render(%q) = %q, %q, %v; want an error and nothing rendered", tp.Body, subject, body, err)
		}
		for _, s := range []string{"Zebulon", "Quist", "Warfarin"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q carries a value", err)
			}
		}
	}
}

// gsmLength returns the length of s in GSM 03.38 septets, and false when s
// needs another alphabet (UCS-2, 70 characters a segment).
func gsmLength(s string) (int, bool) {
	const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	const extension = "^{}\\[~]|€\f"
	n := 0
	for _, r := range s {
		switch {
		case strings.ContainsRune(basic, r):
			n++
		case strings.ContainsRune(extension, r):
			n += 2
		default:
			return 0, false
		}
	}
	return n, true
}

func TestDefaults(t *testing.T) {
	// Values of ordinary length; what a real program or name is may be
	// longer, and the message then takes two segments.
	values := remind.Values{
		FirstName: "Alexandra", PatientName: "Alexandra Montgomery", PatientRef: "MRN-00012345",
		Medication: "Atorvastatin 40 mg", DoseTime: "10:30 PM", Program: "Heart Health Program",
		HelpContact: "1-800-555-0100", Link: "https://app.example.org/v1/escalations/01a24e6f-2402-728f-8dcc-e97df8d0a06b",
		MissedCount: 12, Level: 2,
	}
	personal := []string{values.FirstName, values.PatientName, values.PatientRef, values.Medication}
	for _, kind := range remind.Kinds() {
		for _, lang := range []string{"en", "es"} {
			for _, ch := range []notify.Channel{notify.SMS, notify.Push, notify.Email} {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, lang, ch), func(t *testing.T) {
					tp := remind.Default(kind, lang, ch)
					if tp.Kind != kind || tp.Language != lang || tp.Channel != ch {
						t.Fatalf("Default = %+v", tp)
					}
					if err := tp.Validate(); err != nil {
						t.Fatalf("Validate: %v", err)
					}
					if ch != notify.SMS && tp.Subject == "" {
						t.Errorf("%s default has no subject", ch)
					}
					for _, allowed := range []bool{false, true} {
						v := values
						v.MedicationAllowed = allowed
						subject, body, err := remind.Render(tp, v)
						if err != nil {
							t.Fatal(err)
						}
						if strings.Contains(body, "{{") || strings.Contains(subject, "{{") {
							t.Errorf("placeholder left in %q / %q", subject, body)
						}
						for _, p := range personal {
							if strings.Contains(subject, p) {
								t.Errorf("subject %q names %q", subject, p)
							}
						}
						if strings.Contains(body, values.Medication) && (!allowed || ch == notify.SMS) {
							t.Errorf("body names the drug (allowed %v): %q", allowed, body)
						}
						if ch == notify.SMS {
							n, ok := gsmLength(body)
							if !ok {
								t.Errorf("SMS %q is not in the GSM 7-bit alphabet", body)
							}
							// One segment; the clinician's, which carries
							// the escalation's link, two (153 each).
							limit := 160
							if kind == remind.KindEscalationClinician {
								limit = 2 * 153
							}
							if n > limit {
								t.Errorf("SMS is %d characters, over %d: %q", n, limit, body)
							}
						}
					}
				})
			}
		}
	}
}

// TestDefaultKeywordsAreUnderstood checks that every reply keyword a
// default SMS suggests is understood by ParseReply.
func TestDefaultKeywordsAreUnderstood(t *testing.T) {
	tests := []struct {
		kind  remind.Kind
		lang  string
		words map[string]remind.ReplyKind
	}{
		{remind.KindReminder, "en", map[string]remind.ReplyKind{"TAKEN": remind.ReplyTaken, "SKIP": remind.ReplySkipped, "SNOOZE": remind.ReplySnoozed}},
		{remind.KindReminder, "es", map[string]remind.ReplyKind{"TOMADA": remind.ReplyTaken, "OMITIR": remind.ReplySkipped, "MAS TARDE": remind.ReplySnoozed}},
		{remind.KindUnknownReply, "en", map[string]remind.ReplyKind{"TAKEN": remind.ReplyTaken, "SKIP": remind.ReplySkipped, "SNOOZE": remind.ReplySnoozed, "HELP": remind.ReplyHelp, "STOP": remind.ReplyOptOut}},
		{remind.KindUnknownReply, "es", map[string]remind.ReplyKind{"TOMADA": remind.ReplyTaken, "OMITIR": remind.ReplySkipped, "MAS TARDE": remind.ReplySnoozed, "AYUDA": remind.ReplyHelp, "PARAR": remind.ReplyOptOut}},
		{remind.KindOptOutConfirmation, "en", map[string]remind.ReplyKind{"START": remind.ReplyOptIn}},
		{remind.KindOptOutConfirmation, "es", map[string]remind.ReplyKind{"COMENZAR": remind.ReplyOptIn}},
		{remind.KindOptInConfirmation, "en", map[string]remind.ReplyKind{"HELP": remind.ReplyHelp, "STOP": remind.ReplyOptOut}},
		{remind.KindOptInConfirmation, "es", map[string]remind.ReplyKind{"AYUDA": remind.ReplyHelp, "PARAR": remind.ReplyOptOut}},
		{remind.KindHelp, "en", map[string]remind.ReplyKind{"STOP": remind.ReplyOptOut}},
		{remind.KindHelp, "es", map[string]remind.ReplyKind{"PARAR": remind.ReplyOptOut}},
		{remind.KindEscalationCaregiver, "en", map[string]remind.ReplyKind{"OK": remind.ReplyAck}},
		{remind.KindEscalationCaregiver, "es", map[string]remind.ReplyKind{"OK": remind.ReplyAck}},
		{remind.KindEscalationClinician, "en", map[string]remind.ReplyKind{"OK": remind.ReplyAck}},
	}
	for _, tt := range tests {
		body := remind.Default(tt.kind, tt.lang, notify.SMS).Body
		for word, want := range tt.words {
			if !strings.Contains(body, word) {
				t.Errorf("%s/%s SMS %q does not mention %s", tt.kind, tt.lang, body, word)
			}
			if got := remind.ParseReply(word).Kind; got != want {
				t.Errorf("ParseReply(%q) = %s, want %s", word, got, want)
			}
		}
	}
	if !strings.Contains(remind.Default(remind.KindReminder, "en", notify.SMS).Body, remind.ReplyHintEN) ||
		!strings.Contains(remind.Default(remind.KindReminder, "es", notify.SMS).Body, remind.ReplyHintES) {
		t.Error("the reminder SMS defaults lack the reply hint")
	}
}

func TestDefaultFallbacks(t *testing.T) {
	tests := []struct {
		name     string
		kind     remind.Kind
		language string
		channel  notify.Channel
		wantLang string // "" means the zero Template
	}{
		{"unknown language is English", remind.KindHelp, "de", notify.SMS, "en"},
		{"empty language is English", remind.KindHelp, "", notify.Email, "en"},
		{"region subtag ignored", remind.KindHelp, "es-US", notify.Push, "es"},
		{"upper case", remind.KindHelp, "ES", notify.SMS, "es"},
		{"unknown kind", "newsletter", "en", notify.SMS, ""},
		{"webhook channel", remind.KindReminder, "en", notify.Webhook, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := remind.Default(tt.kind, tt.language, tt.channel)
			if tt.wantLang == "" {
				if tp != (remind.Template{}) {
					t.Errorf("Default = %+v, want the zero Template", tp)
				}
				return
			}
			if tp.Language != tt.wantLang || tp.Body == "" {
				t.Errorf("Default = %+v, want language %s", tp, tt.wantLang)
			}
		})
	}
}

// TestRenderWithoutHelpContact checks that, when the organization gave no
// help contact, the sentence that would carry it is left out of every
// default text instead of reading "Help: ." or "contact .".
func TestRenderWithoutHelpContact(t *testing.T) {
	values := remind.Values{FirstName: "Ana", PatientName: "Ana Diaz", PatientRef: "0a1b2c3d4e5f", DoseTime: "8:00", Program: "Heart Care", MissedCount: 1, Level: 1, Link: "https://app.example.org/e/1"}
	for _, kind := range remind.Kinds() {
		for _, lang := range []string{"en", "es"} {
			for _, ch := range []notify.Channel{notify.SMS, notify.Push, notify.Email} {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, lang, ch), func(t *testing.T) {
					tp := remind.Default(kind, lang, ch)
					for _, help := range []string{"", "  "} {
						v := values
						v.HelpContact = help
						subject, body, err := remind.Render(tp, v)
						if err != nil {
							t.Fatal(err)
						}
						for _, text := range []string{subject, body} {
							for _, bad := range []string{"Help:", "Ayuda:", "contact .", "con .", " .", ": .", "  ", "\n\n\n"} {
								if strings.Contains(text, bad) {
									t.Errorf("help contact %q: %q holds %q", help, text, bad)
								}
							}
							if strings.HasSuffix(strings.TrimRight(text, "\n"), " ") {
								t.Errorf("help contact %q: %q ends in a space", help, text)
							}
						}
						if strings.TrimSpace(body) == "" {
							t.Errorf("help contact %q: empty body", help)
						}
					}
				})
			}
		}
	}

	tests := []struct {
		name     string
		template remind.Template
		want     string
	}{
		// An organization's own text that says nothing but where to get
		// help would send an empty message: the built-in one goes instead.
		{"custom: only the help sentence", remind.Template{Kind: remind.KindHelp, Language: "en", Channel: notify.SMS,
			Body: "For help, call {{help_contact}}."},
			"Heart Care medication reminders and alerts. Msg&data rates may apply. Reply STOP to cancel."},
		{"custom: program and help in one sentence", remind.Template{Kind: remind.KindHelp, Language: "es", Channel: notify.SMS,
			Body: "{{program}}: llame al {{help_contact}}"},
			"Heart Care: recordatorios y alertas de medicamentos. Pueden aplicar tarifas de msj y datos. PARAR para cancelar."},
		{"custom unknown reply: only the help sentence", remind.Template{Kind: remind.KindUnknownReply, Language: "en", Channel: notify.SMS,
			Body: "Help: {{help_contact}}"},
			"Heart Care: Sorry, we did not understand. Reply TAKEN, SKIP, SNOOZE, HELP or STOP."},
		{"en help SMS", remind.Default(remind.KindHelp, "en", notify.SMS),
			"Heart Care medication reminders and alerts. Msg&data rates may apply. Reply STOP to cancel."},
		{"es help SMS", remind.Default(remind.KindHelp, "es", notify.SMS),
			"Heart Care: recordatorios y alertas de medicamentos. Pueden aplicar tarifas de msj y datos. PARAR para cancelar."},
		{"en help push", remind.Default(remind.KindHelp, "en", notify.Push),
			"Heart Care medication reminders and alerts."},
		{"en unknown reply email", remind.Default(remind.KindUnknownReply, "en", notify.Email),
			"Sorry, we did not understand your reply.\n\nHeart Care\n"},
		{"es opt-out email", remind.Default(remind.KindOptOutConfirmation, "es", notify.Email),
			"Se ha dado de baja y no recibirá más mensajes de Heart Care.\n"},
		{"custom: the sentence ends at a question mark", remind.Template{Kind: remind.KindHelp, Language: "en", Channel: notify.SMS,
			Body: "{{program}}. Questions? Call {{help_contact}}! Reply STOP to cancel."},
			"Heart Care. Questions? Reply STOP to cancel."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body, err := remind.Render(tt.template, remind.Values{Program: "Heart Care"})
			if err != nil {
				t.Fatal(err)
			}
			if body != tt.want {
				t.Errorf("body = %q\nwant   %q", body, tt.want)
			}
			_, withHelp, err := remind.Render(tt.template, remind.Values{Program: "Heart Care", HelpContact: "555-0100"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(withHelp, "555-0100") {
				t.Errorf("with a help contact: %q does not give it", withHelp)
			}
		})
	}
}

// TestRenderSubjectWithoutHelpContact: an organization's own subject (an
// e-mail's subject, a push title) that says nothing but where to get help
// rendered empty when the organization gave no help contact, and the
// message went out without one; the built-in subject of its kind,
// language and channel goes instead, with the organization's body, as the
// built-in body replaces an own body left empty.
func TestRenderSubjectWithoutHelpContact(t *testing.T) {
	for _, kind := range []remind.Kind{remind.KindHelp, remind.KindOptOutConfirmation, remind.KindAckConfirmation} {
		for _, ch := range []notify.Channel{notify.Email, notify.Push} {
			t.Run(fmt.Sprintf("%s/%s", kind, ch), func(t *testing.T) {
				v := remind.Values{Program: "Heart Care"}
				d := remind.Default(kind, "en", ch)
				if d.Subject == "" {
					t.Skip("no built-in subject")
				}
				wantSubject, _, err := remind.Render(d, v)
				if err != nil {
					t.Fatal(err)
				}
				own := remind.Template{Kind: kind, Language: "en", Channel: ch,
					Subject: "Call {{help_contact}} for help", Body: "{{program}} here. Call {{help_contact}} with questions."}
				subject, body, err := remind.Render(own, v)
				if err != nil {
					t.Fatal(err)
				}
				if strings.TrimSpace(subject) == "" || subject != wantSubject {
					t.Errorf("subject = %q, want the built-in %q", subject, wantSubject)
				}
				if body != "Heart Care here." {
					t.Errorf("body = %q, want the organization's without its help sentence", body)
				}
				v.HelpContact = "555-0100"
				if subject, _, err = remind.Render(own, v); err != nil || subject != "Call 555-0100 for help" {
					t.Errorf("with a help contact: subject = %q, %v; want the organization's", subject, err)
				}
			})
		}
	}
}

// TestConsentTextsFitCareTeamMembers: caregivers and clinicians text
// START and HELP too, and get the same confirmation as patients: it named
// medication reminders only, which they never get (QA). The defaults name
// the alerts as well, in every built-in language and channel.
func TestConsentTextsFitCareTeamMembers(t *testing.T) {
	for _, lang := range []string{"en", "es"} {
		for _, kind := range []remind.Kind{remind.KindOptInConfirmation, remind.KindHelp} {
			for _, ch := range []notify.Channel{notify.SMS, notify.Push, notify.Email} {
				body := remind.Default(kind, lang, ch).Body
				if !strings.Contains(body, "alerts") && !strings.Contains(body, "alertas") {
					t.Errorf("%s %s %s: %q does not name the alerts", lang, kind, ch, body)
				}
			}
		}
	}
}

// TestConsentTextsFitOneSegment: the built-in STOP, START and HELP SMS fit
// one 160-character GSM-7 segment with a program name and a help contact
// of ordinary length (24 characters each); naming the alerts too made the
// Spanish HELP two segments with an e-mail address for help (QA re-test).
func TestConsentTextsFitOneSegment(t *testing.T) {
	values := remind.Values{Program: "Riverside Medical Center", HelpContact: "help@riversidehealth.org"}
	for _, lang := range []string{"en", "es"} {
		for _, kind := range []remind.Kind{remind.KindOptOutConfirmation, remind.KindOptInConfirmation, remind.KindHelp} {
			_, body, err := remind.Render(remind.Default(kind, lang, notify.SMS), values)
			if err != nil {
				t.Fatal(err)
			}
			if n := len([]rune(body)); n > 160 {
				t.Errorf("%s %s: %d characters, over one segment: %q", lang, kind, n, body)
			}
			for _, r := range body {
				if r > 0x7e && !strings.ContainsRune("£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà¡", r) {
					t.Errorf("%s %s: %q is not in the GSM 7-bit alphabet", lang, kind, r)
				}
			}
		}
	}
}
