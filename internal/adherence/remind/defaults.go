package remind

import (
	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// The reply instructions of the default reminders. Every keyword in them is
// understood by ParseReply.
const (
	ReplyHintEN = "Reply TAKEN, SKIP or SNOOZE"
	ReplyHintES = "Responda TOMADA, OMITIR o MAS TARDE"
)

// Default returns the built-in template of kind for language and channel
// ch. English ("en") and Spanish ("es") are built in; a region subtag is
// ignored ("es-MX" is Spanish) and any other language gets English. The
// returned Template's Language is the one actually used. An unknown kind,
// or a channel other than sms, push and email, gives the zero Template
// (which does not Validate).
//
// Minimum necessary, by channel: no SMS default names a drug, even when
// the recipient could see it, because texts show on lock screens and stay
// on shared phones; the push and email defaults of reminders and
// escalations use {{medication}}, which Render writes as a generic phrase
// unless Values.MedicationAllowed. Caregiver messages name the patient by
// first name only; clinician SMS and push use the patient reference, and
// only the clinician email gives the full name. No subject or push title
// names a patient or drug. SMS defaults use the GSM 7-bit alphabet (no
// á, í, ó, ú in Spanish) and stay within one 160-character segment with
// values of ordinary length, but for the clinician's, which with its link
// (PUBLIC_URL/v1/escalations/<id>, some 75 characters) takes two.
func Default(kind Kind, language string, ch notify.Channel) Template {
	lang := "en"
	if primaryLanguage(language) == "es" {
		lang = "es"
	}
	var tx texts
	if lang == "es" {
		tx = spanish(kind)
	} else {
		tx = english(kind)
	}
	if tx.sms == "" {
		return Template{}
	}
	return tx.template(kind, lang, ch)
}

// DefaultFor is Default for a message about an escalation opened by a
// trigger of kind trigger: the escalation kinds opened by low_adherence
// get push titles and email subjects that speak of low adherence, not of
// a missed dose (their bodies, which count the missed doses, are the
// same). Any other trigger, or "", gives Default's template.
func DefaultFor(kind Kind, trigger adherence.TriggerKind, language string, ch notify.Channel) Template {
	t := Default(kind, language, ch)
	if trigger != adherence.TriggerLowAdherence || t.Body == "" {
		return t
	}
	titles, ok := lowAdherenceTitles[t.Language][kind]
	if !ok {
		return t
	}
	switch ch {
	case notify.Push:
		t.Subject = titles.push
	case notify.Email:
		t.Subject = titles.email
	}
	return t
}

// lowAdherenceTitles are the push titles and email subjects of escalations
// opened by low_adherence, by language and kind.
var lowAdherenceTitles = map[string]map[Kind]struct{ push, email string }{
	"en": {
		KindEscalationCaregiver: {"Low adherence alert", "{{program}}: low adherence alert"},
		KindEscalationClinician: {"Low adherence escalation, level {{level}}", "{{program}}: low adherence escalation, level {{level}}"},
	},
	"es": {
		KindEscalationCaregiver: {"Alerta de baja adherencia", "{{program}}: alerta de baja adherencia"},
		KindEscalationClinician: {"Escalamiento por baja adherencia, nivel {{level}}", "{{program}}: escalamiento por baja adherencia, nivel {{level}}"},
	},
}

// template is the built-in template of kind in lang for channel ch.
func (tx texts) template(kind Kind, lang string, ch notify.Channel) Template {
	t := Template{Kind: kind, Language: lang, Channel: ch}
	switch ch {
	case notify.SMS:
		t.Body = tx.sms
	case notify.Push:
		t.Subject, t.Body = tx.pushTitle, tx.push
	case notify.Email:
		t.Subject, t.Body = tx.emailSubject, tx.email
	default:
		return Template{}
	}
	return t
}

// texts are the default texts of one kind in one language.
type texts struct {
	sms                 string
	pushTitle, push     string
	emailSubject, email string
}

func english(kind Kind) texts {
	switch kind {
	case KindReminder:
		return texts{
			sms:          "{{program}}: Hi {{first_name}}, it's time for your {{dose_time}} dose. " + ReplyHintEN + ".",
			pushTitle:    "Medication reminder",
			push:         "Hi {{first_name}}, it's time to take {{medication}} ({{dose_time}} dose).",
			emailSubject: "{{program}}: medication reminder",
			email: "Hi {{first_name}},\n\n" +
				"It's time to take {{medication}} (your {{dose_time}} dose).\n\n" +
				"Open the app to record it as taken or skipped, or to be reminded later.\n\n" +
				"{{program}}\n",
		}
	case KindEscalationCaregiver:
		return texts{
			sms:          "{{program}}: {{patient_first_name}} has missed {{missed_count}} scheduled dose(s), the latest due at {{dose_time}}. Reply OK to acknowledge.",
			pushTitle:    "Missed dose alert",
			push:         "{{patient_first_name}} has missed {{missed_count}} dose(s) of {{medication}}, the latest due at {{dose_time}}.",
			emailSubject: "{{program}}: missed dose alert",
			email: "Hello,\n\n" +
				"{{patient_first_name}} has missed {{missed_count}} scheduled dose(s) of {{medication}}; the latest was due at {{dose_time}}.\n\n" +
				"You may want to check in with them.\n\n" +
				"{{program}}\n",
		}
	case KindEscalationClinician:
		return texts{
			sms:          "{{program}}: patient {{patient_ref}} missed {{missed_count}} dose(s), latest due {{dose_time}} (level {{level}}). {{link}} Reply OK to acknowledge.",
			pushTitle:    "Missed dose escalation, level {{level}}",
			push:         "Patient {{patient_ref}} has missed {{missed_count}} dose(s) of {{medication}}, the latest due at {{dose_time}}.",
			emailSubject: "{{program}}: missed dose escalation, level {{level}}",
			email: "Patient: {{patient_name}} ({{patient_ref}})\n" +
				"Medication: {{medication}}\n" +
				"Missed doses: {{missed_count}}, the latest due at {{dose_time}}\n" +
				"Escalation level: {{level}}\n\n" +
				"Review and acknowledge: {{link}}\n\n" +
				"{{program}}\n",
		}
	case KindOptOutConfirmation:
		return texts{
			sms:          "{{program}}: You are unsubscribed and will get no more messages. Reply START to resubscribe.",
			pushTitle:    "Unsubscribed",
			push:         "You will get no more messages from {{program}}. Help: {{help_contact}}",
			emailSubject: "{{program}}: you are unsubscribed",
			email: "You are unsubscribed and will get no more messages from {{program}}.\n\n" +
				"To subscribe again or for help, contact {{help_contact}}.\n",
		}
	case KindOptInConfirmation:
		return texts{
			sms:          "{{program}}: You are subscribed to medication reminders and alerts. Msg&data rates may apply. Reply HELP for help, STOP to cancel.",
			pushTitle:    "Subscribed",
			push:         "You are subscribed to medication reminders and alerts from {{program}}.",
			emailSubject: "{{program}}: you are subscribed",
			email: "You are subscribed to medication reminders and alerts from {{program}}.\n\n" +
				"For help, contact {{help_contact}}.\n",
		}
	case KindHelp:
		return texts{
			sms:          "{{program}} medication reminders and alerts. Help: {{help_contact}}. Msg&data rates may apply. Reply STOP to cancel.",
			pushTitle:    "Help",
			push:         "{{program}} medication reminders and alerts. Help: {{help_contact}}",
			emailSubject: "{{program}}: help",
			email: "{{program}} sends medication reminders and alerts.\n\n" +
				"For help, contact {{help_contact}}.\n",
		}
	case KindUnknownReply:
		return texts{
			sms:          "{{program}}: Sorry, we did not understand. Reply TAKEN, SKIP, SNOOZE, HELP or STOP.",
			pushTitle:    "Reply not understood",
			push:         "Sorry, we did not understand your reply. Help: {{help_contact}}",
			emailSubject: "{{program}}: reply not understood",
			email: "Sorry, we did not understand your reply.\n\n" +
				"For help, contact {{help_contact}}.\n\n" +
				"{{program}}\n",
		}
	case KindAckConfirmation:
		return texts{
			sms:          "{{program}}: Thank you, your reply was recorded.",
			pushTitle:    "Reply recorded",
			push:         "Thank you, your reply was recorded.",
			emailSubject: "{{program}}: reply recorded",
			email:        "Thank you, your reply was recorded.\n\n{{program}}\n",
		}
	case KindWhichPatient:
		return texts{
			sms:          "{{program}}: reminders for more than one person go to this number. Please reply with the first name too, e.g. TAKEN {{first_name}}.",
			pushTitle:    "Whose dose?",
			push:         "Reminders for more than one person go to this number. Please reply with the first name too, e.g. TAKEN {{first_name}}.",
			emailSubject: "{{program}}: whose dose?",
			email:        "Reminders for more than one person go to this number. Please reply with the first name too, e.g. TAKEN {{first_name}}.\n\n{{program}}\n",
		}
	}
	return texts{}
}

func spanish(kind Kind) texts {
	switch kind {
	case KindReminder:
		return texts{
			sms:          "{{program}}: Hola {{first_name}}, es hora de su dosis de las {{dose_time}}. " + ReplyHintES + ".",
			pushTitle:    "Recordatorio de medicamento",
			push:         "Hola {{first_name}}, es hora de tomar {{medication}} (dosis de las {{dose_time}}).",
			emailSubject: "{{program}}: recordatorio de medicamento",
			email: "Hola {{first_name}}:\n\n" +
				"Es hora de tomar {{medication}} (su dosis de las {{dose_time}}).\n\n" +
				"Abra la aplicación para registrarla como tomada u omitida, o para recibir el recordatorio más tarde.\n\n" +
				"{{program}}\n",
		}
	case KindEscalationCaregiver:
		return texts{
			sms:          "{{program}}: {{patient_first_name}} tiene {{missed_count}} dosis sin tomar (prevista a las {{dose_time}}). Responda OK para confirmar.",
			pushTitle:    "Alerta de dosis omitida",
			push:         "{{patient_first_name}} tiene {{missed_count}} dosis sin tomar de {{medication}}; la última estaba prevista a las {{dose_time}}.",
			emailSubject: "{{program}}: alerta de dosis omitida",
			email: "Hola:\n\n" +
				"{{patient_first_name}} tiene {{missed_count}} dosis sin tomar de {{medication}}; la última estaba prevista a las {{dose_time}}.\n\n" +
				"Quizás quiera ponerse en contacto.\n\n" +
				"{{program}}\n",
		}
	case KindEscalationClinician:
		return texts{
			sms:          "{{program}}: paciente {{patient_ref}}, {{missed_count}} dosis sin tomar (prevista {{dose_time}}, nivel {{level}}). {{link}} Responda OK para confirmar.",
			pushTitle:    "Escalamiento de dosis omitidas, nivel {{level}}",
			push:         "Paciente {{patient_ref}}: {{missed_count}} dosis sin tomar de {{medication}}; la última estaba prevista a las {{dose_time}}.",
			emailSubject: "{{program}}: escalamiento de dosis omitidas, nivel {{level}}",
			email: "Paciente: {{patient_name}} ({{patient_ref}})\n" +
				"Medicamento: {{medication}}\n" +
				"Dosis sin tomar: {{missed_count}}; la última estaba prevista a las {{dose_time}}\n" +
				"Nivel de escalamiento: {{level}}\n\n" +
				"Revisar y confirmar: {{link}}\n\n" +
				"{{program}}\n",
		}
	case KindOptOutConfirmation:
		return texts{
			sms:          "{{program}}: Se ha dado de baja. No le enviaremos otros mensajes. Responda COMENZAR para volver a suscribirse.",
			pushTitle:    "Baja confirmada",
			push:         "No recibirá más mensajes de {{program}}. Ayuda: {{help_contact}}",
			emailSubject: "{{program}}: baja confirmada",
			email: "Se ha dado de baja y no recibirá más mensajes de {{program}}.\n\n" +
				"Para volver a suscribirse o para obtener ayuda, comuníquese con {{help_contact}}.\n",
		}
	case KindOptInConfirmation:
		return texts{
			sms:          "{{program}}: Se ha suscrito a recordatorios y alertas de medicamentos. Pueden aplicar tarifas de msj y datos. Responda AYUDA o PARAR.",
			pushTitle:    "Suscripción confirmada",
			push:         "Se ha suscrito a los recordatorios y alertas de medicamentos de {{program}}.",
			emailSubject: "{{program}}: suscripción confirmada",
			email: "Se ha suscrito a los recordatorios y alertas de medicamentos de {{program}}.\n\n" +
				"Para obtener ayuda, comuníquese con {{help_contact}}.\n",
		}
	case KindHelp:
		return texts{
			sms:          "{{program}}: recordatorios y alertas de medicamentos. Ayuda: {{help_contact}}. Pueden aplicar tarifas de msj y datos. PARAR para cancelar.",
			pushTitle:    "Ayuda",
			push:         "{{program}}, recordatorios y alertas de medicamentos. Ayuda: {{help_contact}}",
			emailSubject: "{{program}}: ayuda",
			email: "{{program}} envía recordatorios y alertas de medicamentos.\n\n" +
				"Para obtener ayuda, comuníquese con {{help_contact}}.\n",
		}
	case KindUnknownReply:
		return texts{
			sms:          "{{program}}: No entendimos su respuesta. Responda TOMADA, OMITIR, MAS TARDE, AYUDA o PARAR.",
			pushTitle:    "Respuesta no reconocida",
			push:         "No entendimos su respuesta. Ayuda: {{help_contact}}",
			emailSubject: "{{program}}: respuesta no reconocida",
			email: "No entendimos su respuesta.\n\n" +
				"Para obtener ayuda, comuníquese con {{help_contact}}.\n\n" +
				"{{program}}\n",
		}
	case KindAckConfirmation:
		return texts{
			sms:          "{{program}}: Gracias, hemos registrado su respuesta.",
			pushTitle:    "Respuesta registrada",
			push:         "Gracias, hemos registrado su respuesta.",
			emailSubject: "{{program}}: respuesta registrada",
			email:        "Gracias, hemos registrado su respuesta.\n\n{{program}}\n",
		}
	case KindWhichPatient:
		return texts{
			sms:          "{{program}}: este numero recibe recordatorios de varias personas. Responda con el nombre tambien, p. ej. TOMADA {{first_name}}.",
			pushTitle:    "¿De quién es la dosis?",
			push:         "Este número recibe recordatorios de varias personas. Responda con el nombre también, p. ej. TOMADA {{first_name}}.",
			emailSubject: "{{program}}: ¿de quién es la dosis?",
			email:        "Este número recibe recordatorios de varias personas. Responda con el nombre también, p. ej. TOMADA {{first_name}}.\n\n{{program}}\n",
		}
	}
	return texts{}
}
