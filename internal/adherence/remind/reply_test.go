package remind_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/remind"
)

func TestParseReply(t *testing.T) {
	taken := remind.Reply{Kind: remind.ReplyTaken}
	skip := func(reason string) remind.Reply { return remind.Reply{Kind: remind.ReplySkipped, Reason: reason} }
	snooze := func(minutes int) remind.Reply { return remind.Reply{Kind: remind.ReplySnoozed, SnoozeMinutes: minutes} }
	optOut := remind.Reply{Kind: remind.ReplyOptOut}
	optIn := remind.Reply{Kind: remind.ReplyOptIn}
	help := remind.Reply{Kind: remind.ReplyHelp}
	ack := remind.Reply{Kind: remind.ReplyAck}
	unknown := remind.Reply{Kind: remind.ReplyUnknown}

	tests := []struct {
		body string
		want remind.Reply
	}{
		// Taken.
		{"TAKEN", taken},
		{"taken", taken},
		{"  Taken.  ", taken},
		{"Taken!!!", taken},
		{"take", taken},
		{"Took", taken},
		{"took it", taken},
		{"YES", taken},
		{"yes!", taken},
		{"y", taken},
		{"1", taken},
		{"Done", taken},
		{"done, thanks", taken},
		{"SI", taken},
		{"sí", taken},
		{"SÍ", taken},
		{"¡Sí!", taken},
		{"Tomada", taken},
		{"tomado", taken},
		{"yes but later", unknown},
		{"take it later", unknown},
		{"1 more hour", unknown},

		// Skipped, with and without a reason.
		{"SKIP", skip(remind.SkipOther)},
		{"skipped", skip(remind.SkipOther)},
		{"no", skip(remind.SkipOther)},
		{"No.", skip(remind.SkipOther)},
		{"skip side", skip(remind.SkipSideEffects)},
		{"SKIP SIDE EFFECTS", skip(remind.SkipSideEffects)},
		{"skip   side-effects", skip(remind.SkipSideEffects)},
		{"skip forgot", skip(remind.SkipForgot)},
		{"Skip: I forgot", skip(remind.SkipForgot)},
		{"skip out", skip(remind.SkipRanOut)},
		{"SKIP RAN OUT", skip(remind.SkipRanOut)},
		{"skip better", skip(remind.SkipFeltBetter)},
		{"skip, felt better", skip(remind.SkipFeltBetter)},
		{"skip cost", skip(remind.SkipCost)},
		{"skip too expensive", skip(remind.SkipCost)},
		{"skip doctor", skip(remind.SkipDoctorAdvised)},
		{"skip dr said so", skip(remind.SkipDoctorAdvised)},
		{"skip because reasons", skip(remind.SkipOther)},
		{"no forgot", skip(remind.SkipForgot)},
		{"NO - side effects", skip(remind.SkipSideEffects)},
		{"no, I took it", unknown},
		{"no problem", unknown},
		{"OMITIR", skip(remind.SkipOther)},
		{"omitir efectos secundarios", skip(remind.SkipSideEffects)},
		{"Omitir: se me olvidó", skip(remind.SkipForgot)},
		{"omitir se acabó", skip(remind.SkipRanOut)},
		{"omitir me siento mejor", skip(remind.SkipFeltBetter)},
		{"omitir muy caro", skip(remind.SkipCost)},
		{"omitir el médico", skip(remind.SkipDoctorAdvised)},

		// Snoozed.
		{"SNOOZE", snooze(0)},
		{"snooze.", snooze(0)},
		{"Later", snooze(0)},
		{"later please", snooze(0)},
		{"SNOOZE 30", snooze(30)},
		{"snooze   45", snooze(45)},
		{"snooze,30", snooze(30)},
		{"snooze 20 min", snooze(20)},
		{"snooze 20m", snooze(20)},
		{"later 1 hour", snooze(60)},
		{"snooze 2h", snooze(120)},
		{"snooze 1.5h", snooze(90)},
		{"later 1.5 hours", snooze(90)},
		{"mas tarde 1,5 horas", snooze(90)},
		{"snooze 2.25 hrs", snooze(135)},
		{"snooze 1h30", snooze(90)},
		{"SNOOZE 1H30M", snooze(90)},
		{"later 1 hr 30 min", snooze(90)},
		{"mas tarde 1 hora 30 minutos", snooze(90)},
		{"snooze 2h 15", snooze(135)},
		{"snooze 10.5", snooze(10)},
		{"snooze 5", snooze(5)},
		{"snooze 240", snooze(240)},
		{"snooze 2", snooze(5)},
		{"snooze 0", snooze(5)},
		{"snooze 300", snooze(240)},
		{"snooze 5h", snooze(240)},
		{"snooze 99999999999999999999", snooze(240)},
		{"MAS TARDE", snooze(0)},
		{"más tarde", snooze(0)},
		{"Más  tarde 30", snooze(30)},
		{"mas tarde 1 hora", snooze(60)},
		{"luego", snooze(0)},
		{"LUEGO 15", snooze(15)},
		{"mas", unknown},

		// Opt-out: the whole message only.
		{"STOP", optOut},
		{"stop", optOut},
		{" Stop. ", optOut},
		{"STOPALL", optOut},
		{"stop all", optOut},
		{"STOP ALL", optOut},
		{"Stop-all.", optOut},
		{"ｓｔｏｐ　ａｌｌ", optOut},
		{"unsubscribe", optOut},
		{"Cancel", optOut},
		{"END", optOut},
		{"quit", optOut},
		{"REVOKE", optOut},
		{"opt out", optOut},
		{"OPT-OUT", optOut},
		{"Opt   Out!", optOut},
		{"optout", optOut},
		{"PARAR", optOut},
		{"alto", optOut},
		{"Baja", optOut},
		{"stop it", unknown},
		{"please stop", unknown},
		{"end of story", unknown},

		// Opt-in.
		{"START", optIn},
		{"start", optIn},
		{"unstop", optIn},
		{"Subscribe", optIn},
		{"COMENZAR", optIn},
		{"start now", unknown},

		// Help.
		{"HELP", help},
		{"help?", help},
		{"info", help},
		{"Ayuda", help},
		{"¿Ayuda?", help},

		// Acknowledgements.
		{"OK", ack},
		{"ok.", ack},
		{"Okay", ack},
		{"ACK", ack},
		{"acknowledge", ack},
		{"Acknowledged", ack},
		{"received", ack},
		{"Recibido", ack},

		// Full-width forms (an East Asian keyboard in full-width mode)
		// read as their ASCII letters and digits.
		{"ＴＡＫＥＮ", taken},
		{"１", taken},
		{"ｓｎｏｏｚｅ　３０", snooze(30)},
		{"ＳＴＯＰ", optOut},
		{"ＯＫ", ack},

		// Accents typed as a letter and a combining mark (decomposed,
		// NFD) read as the accented letter: "más" is MAS, not MA S.
		{"ma\u0301s tarde", snooze(0)},
		{"Ma\u0301s tarde 30", snooze(30)},
		{"omitir el me\u0301dico", skip(remind.SkipDoctorAdvised)},
		{"si\u0301", taken},

		// Unknown.
		{"", unknown},
		{"   ", unknown},
		{"...", unknown},
		{"👍", unknown},
		{"what is this?", unknown},
		{"2", unknown},
	}
	for _, tt := range tests {
		if got := remind.ParseReply(tt.body); got != tt.want {
			t.Errorf("ParseReply(%q) = %+v, want %+v", tt.body, got, tt.want)
		}
	}
}
