package schedule_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

func FuzzDecodeTiming(f *testing.F) {
	for _, s := range []string{
		`{"repeat":{"timeOfDay":["01:30:00","02:30:00","08:00"]}}`,
		`{"repeat":{"when":["ACM","HS","PC"],"offset":30,"dayOfWeek":["mon","sun"]}}`,
		`{"repeat":{"frequency":2,"period":1,"periodUnit":"d","count":7}}`,
		`{"repeat":{"frequency":1,"period":8,"periodUnit":"h","boundsPeriod":{"start":"2026-03-01T08:00:00-05:00"}}}`,
		`{"repeat":{"frequency":1,"period":90,"periodUnit":"min","dayOfWeek":["sat"],"count":20}}`,
		`{"repeat":{"frequency":3,"period":1,"periodUnit":"wk","boundsPeriod":{"start":"2026-02-27","end":"2026-03-10"}}}`,
		`{"repeat":{"timeOfDay":["09:00:00"],"period":1,"periodUnit":"mo","boundsPeriod":{"start":"2025-12-31"}}}`,
		`{"repeat":{"timeOfDay":["09:00:00"],"period":2,"periodUnit":"wk","dayOfWeek":["tue","fri"]}}`,
		`{"event":["2026-03-08T02:30:00","2026-03-02T08:00:00Z"]}`,
		`{"code":{"coding":[{"system":"x","code":"BID"}],"text":"BID"}}`,
		`{"repeat":{"count":"1"}}`,
		`{"repeat":{"bogus":1}}`,
		`{"repeat":`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, ny)
	p := schedule.Params{
		Location: ny,
		Start:    time.Date(2026, 2, 20, 9, 15, 0, 0, ny),
		From:     from,
		To:       from.AddDate(0, 0, 14), // spans the 2026-03-08 change
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		tm, err := schedule.DecodeTiming(data)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("DecodeTiming error %v is %T, want *errs.Error", err, err)
			}
			return
		}

		// What was decoded encodes and decodes back to the same Timing.
		out, err := json.Marshal(tm)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := schedule.DecodeTiming(out)
		if err != nil {
			t.Fatalf("DecodeTiming(Marshal(t)) = %v for %s", err, out)
		}
		if diff := cmp.Diff(tm, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-decoded +re-decoded):\n%s", diff)
		}

		verr := tm.Validate(false)
		doses, err := schedule.Expand(tm, p)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.CodeInvalid {
				t.Fatalf("Expand error %v is not an invalid *errs.Error", err)
			}
		}
		if verr != nil && err == nil {
			t.Fatalf("Validate failed (%v) but Expand did not", verr)
		}
		checkDoses(t, tm, p, doses)

		prn := p
		prn.AsNeeded = true
		if ds, err := schedule.Expand(tm, prn); len(ds) != 0 || (err == nil) != (tm.Validate(true) == nil) {
			t.Fatalf("PRN Expand = %d doses, %v", len(ds), err)
		}
	})
}

// checkDoses asserts the invariants of an expansion: UTC instants strictly
// increasing within [From, To), positive unique Seq within repeat.count, and
// a Local wall time equal to Due's or, for a time skipped by daylight
// saving, up to an hour earlier.
func checkDoses(t *testing.T, tm schedule.Timing, p schedule.Params, doses []schedule.Dose) {
	t.Helper()
	seqs := map[int]bool{}
	for i, d := range doses {
		if d.Due.Location() != time.UTC {
			t.Fatalf("dose %d: Due %v not in UTC", i, d.Due)
		}
		if d.Due.Before(p.From) || !d.Due.Before(p.To) {
			t.Fatalf("dose %d: Due %v outside [%v, %v)", i, d.Due, p.From, p.To)
		}
		if i > 0 && !doses[i-1].Due.Before(d.Due) {
			t.Fatalf("dose %d: Due %v not after %v", i, d.Due, doses[i-1].Due)
		}
		if d.Seq < 1 || seqs[d.Seq] {
			t.Fatalf("dose %d: Seq %d not positive or repeated", i, d.Seq)
		}
		seqs[d.Seq] = true
		if tm.Repeat != nil && tm.Repeat.Count != nil && d.Seq > *tm.Repeat.Count {
			t.Fatalf("dose %d: Seq %d beyond count %d", i, d.Seq, *tm.Repeat.Count)
		}
		wall, err := time.Parse("2006-01-02T15:04", d.Local)
		if err != nil {
			t.Fatalf("dose %d: Local %q: %v", i, d.Local, err)
		}
		shown, _ := time.Parse("2006-01-02T15:04", d.Due.In(p.Location).Format("2006-01-02T15:04"))
		if gap := shown.Sub(wall); gap < 0 || gap > time.Hour {
			t.Fatalf("dose %d: Local %s but Due shows %s", i, d.Local, shown.Format("2006-01-02T15:04"))
		}
	}
}
