package jobs_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/platform/jobs"
)

// TestRetryPolicyCountsFromTheAttemptStart: the backoff after a third
// failed attempt (81 s ± 10%) runs from when that attempt began, so a job
// rescued 2 min after its process was killed runs again at once, and a job
// that failed just after starting waits the whole backoff.
func TestRetryPolicyCountsFromTheAttemptStart(t *testing.T) {
	third := func(started time.Time) *rivertype.JobRow {
		return &rivertype.JobRow{
			Attempt:     3,
			AttemptedAt: &started,
			// River's backoff counts the errors recorded before this one.
			Errors: []rivertype.AttemptError{{Attempt: 1}, {Attempt: 2}},
		}
	}
	now := time.Now()

	rescued := jobs.RetryPolicy{}.NextRetry(third(now.Add(-2 * time.Minute)))
	if wait := rescued.Sub(time.Now()); wait > time.Second {
		t.Errorf("a third attempt rescued 2 min after it began runs again in %s; want at once", wait.Round(time.Second))
	}
	if rescued.Before(now) {
		t.Errorf("retry at %s, before now (%s)", rescued, now)
	}

	failed := jobs.RetryPolicy{}.NextRetry(third(now.Add(-100 * time.Millisecond)))
	if wait := failed.Sub(now); wait < 72*time.Second || wait > 90*time.Second {
		t.Errorf("a third attempt that failed 100 ms after it began runs again in %s; want 81 s ± 10%%", wait.Round(time.Second))
	}

	halfway := jobs.RetryPolicy{}.NextRetry(third(now.Add(-60 * time.Second)))
	if wait := halfway.Sub(now); wait < 12*time.Second || wait > 30*time.Second {
		t.Errorf("a third attempt that failed 60 s after it began runs again in %s; want the 81 s backoff less those 60 s", wait.Round(time.Second))
	}
}
