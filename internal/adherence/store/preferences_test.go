package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestUpdatePreferencesConcurrently: two clients changing different
// preferences of one patient at the same time both get their change: the
// read and the write of each are one transaction with the row locked.
func TestUpdatePreferencesConcurrently(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("UTC")
		for round := range 30 {
			token := fmt.Sprintf("tok-%d", round)
			chans := []notify.Channel{notify.SMS}
			if round%2 == 1 {
				chans = []notify.Channel{notify.Email, notify.Push}
			}
			med := round%3 == 0
			var wg sync.WaitGroup
			errc := make(chan error, 3)
			for _, c := range []store.PreferencesChange{{PushToken: &token}, {Channels: &chans}, {MedicationInMessages: &med}} {
				wg.Go(func() {
					if _, err := f.s.UpdatePreferences(f.ctx, f.actor, f.org, pat.ID, c); err != nil {
						errc <- err
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			got, err := f.s.Preferences(f.ctx, f.org, pat.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PushToken != token || fmt.Sprint(got.Channels) != fmt.Sprint(chans) || got.MedicationInMessages != med {
				t.Fatalf("round %d: stored %+v, want token %s, channels %v, medication %t: a change was lost", round, got, token, chans, med)
			}
		}
		if _, err := f.s.UpdatePreferences(f.ctx, f.actor, f.org, pat.ID, store.PreferencesChange{Channels: &[]notify.Channel{notify.SMS, notify.SMS}}); err == nil {
			t.Error("a channel listed twice was accepted")
		}
	})
}

// TestPreferencesChannelNotEchoed: an unknown channel in a patient's
// channel order is a 400 on channels[i] that does not quote it back: the
// whole string the client sent came back, a megabyte of it in a 1 MiB
// body. Nothing is stored.
func TestPreferencesChannelNotEchoed(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("UTC")
		long := notify.Channel("fax" + strings.Repeat("x", 1<<20))
		_, err := f.s.UpdatePreferences(f.ctx, f.actor, f.org, pat.ID, store.PreferencesChange{Channels: &[]notify.Channel{notify.SMS, long}})
		if errs.CodeOf(err) != errs.CodeInvalid || fieldOf(err) != "channels[1]" {
			t.Fatalf("UpdatePreferences with an unknown channel = %.200v, want invalid channels[1]", err)
		}
		if msg := err.Error(); len(msg) > 200 || !strings.Contains(msg, "sms, push or email") {
			t.Errorf("error of %d bytes %.120q…, want a short one saying which channels are taken", len(msg), msg)
		}
		got, err := f.s.Preferences(f.ctx, f.org, pat.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Channels) != 0 {
			t.Errorf("channels after the refusal = %v, want none", got.Channels)
		}
	})
}
