package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
)

// TestZoneChangeRedecidesHeldDeliveries: a delivery job held a retried
// reminder for the patient's quiet hours and a message to a caregiver
// without a zone of their own for their night in the patient's zone, each
// until the quiet hours' end before the change. A change of the patient's
// zone or quiet hours enqueues a delivery job for them at once, which
// decides again under the new settings; they kept the old end (a message
// held until 08:00 in Los Angeles went three hours late after a move to
// New York). Other notifications get no job.
func TestZoneChangeRedecidesHeldDeliveries(t *testing.T) {
	for _, change := range []string{"zone", "quiet hours"} {
		t.Run(change, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				rec := &jobRecorder{}
				f.s.Jobs = rec
				p := f.patient("America/Los_Angeles")
				insert := func(key, status, reason string) int64 {
					var id int64
					err := f.d.SQL.QueryRowContext(f.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id,
							channels, status, reason, due_at, created_at, updated_at)
						VALUES ($1, $2, 'reminder', 'reminder', $3, 'sms', $4, $5, $6, $6, $6) RETURNING id`,
						f.org, key, p.ID, status, reason, f.now).Scan(&id)
					if err != nil {
						t.Fatal(err)
					}
					return id
				}
				held := insert("held", "queued", "quiet_hours")
				insert("sent", "sent", "")
				insert("retrying", "retrying", "provider_error")

				switch change {
				case "zone":
					p.TimeZone = "America/New_York"
				case "quiet hours":
					p.Quiet = adherence.QuietHours{Start: 23 * 60, End: 6 * 60, Set: true}
				}
				if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
					t.Fatal(err)
				}
				var now []int64
				for _, prm := range rec.params {
					args, ok := prm.Args.(adherence.DeliverArgs)
					if !ok {
						continue
					}
					if prm.InsertOpts != nil && prm.InsertOpts.ScheduledAt.After(time.Now()) {
						t.Errorf("delivery of %v scheduled for %s, want at once", args.IDs, prm.InsertOpts.ScheduledAt)
					}
					now = append(now, args.IDs...)
				}
				if !slices.Equal(now, []int64{held}) {
					t.Errorf("delivery jobs enqueued for %v, want one for the held notification %d", now, held)
				}
			})
		})
	}
}
