package schedule_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// BenchmarkExpand expands three daily doses over 14 days for a plan that
// started months earlier, as the nightly dose materialisation does for each
// patient.
func BenchmarkExpand(b *testing.B) {
	ny := loadZone(b, "America/New_York")
	tm := decode(b, `{"repeat":{"timeOfDay":["08:00:00","14:00:00","20:00:00"]}}`)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, ny)
	p := schedule.Params{
		Location: ny,
		Start:    time.Date(2025, 6, 15, 9, 0, 0, 0, ny),
		From:     from,
		To:       from.AddDate(0, 0, 14),
	}
	b.ReportAllocs()
	for b.Loop() {
		doses, err := schedule.Expand(tm, p)
		if err != nil || len(doses) != 42 {
			b.Fatalf("Expand = %d doses, %v", len(doses), err)
		}
	}
}
