package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/store"
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
