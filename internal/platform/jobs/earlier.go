package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// EarlierJob reports whether a job of kind queued before job id (a lower
// id) and whose JSON args have key = value still has to run: it is
// waiting (available, scheduled, retryable or pending), or it started
// within the last fresh. A job running for longer is not counted: a live
// one has had time to take whatever lock it needs, and one whose worker
// was killed would otherwise hold everything queued after it until River
// rescues it.
//
// It lets jobs that must run in the order they were queued (two loads of
// one dataset: a full file, then the week's increment) yield to the
// earlier one when River starts them at once or the earlier one had to
// wait.
func EarlierJob(ctx context.Context, d *db.DB, kind string, id int64, key, value string, fresh time.Duration) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM river_job WHERE kind = $1 AND id < $2 AND args->>$3 = $4
		AND (state IN ('available', 'scheduled', 'retryable', 'pending')
		     OR (state = 'running' AND attempted_at > now() - $5 * interval '1 second')))`
	if d.Dialect == db.SQLite {
		// River's SQLite driver keeps args as JSONB and times as text.
		q = `SELECT EXISTS (SELECT 1 FROM river_job WHERE kind = $1 AND id < $2 AND json_extract(args, '$.' || $3) = $4
			AND (state IN ('available', 'scheduled', 'retryable', 'pending')
			     OR (state = 'running' AND (julianday('now') - julianday(attempted_at)) * 86400.0 < $5)))`
	}
	var found bool
	if err := d.SQL.QueryRowContext(ctx, q, kind, id, key, value, fresh.Seconds()).Scan(&found); err != nil {
		return false, fmt.Errorf("look for earlier %s jobs: %w", kind, err)
	}
	return found, nil
}
