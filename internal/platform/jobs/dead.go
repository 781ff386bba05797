package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// RunningJob is a job River has marked running: the attempt under way and
// the job's JSON arguments.
type RunningJob struct {
	ID      int64
	Attempt int
	Args    []byte
}

// RunningSince lists the jobs of kind that are running and whose current
// attempt started more than older ago, by the database's clock (River sets
// attempted_at from it), oldest first. A process killed while working a
// job leaves it running until River's rescuer takes it up, which for a job
// with a long Timeout is hours away: a caller that can tell whether such a
// job is still being worked (a lock its worker would hold) can then
// discard the dead ones (DiscardRunning).
func RunningSince(ctx context.Context, d *db.DB, kind string, older time.Duration) ([]RunningJob, error) {
	q := `SELECT id, attempt, args FROM river_job WHERE kind = $1 AND state = 'running'
		AND attempted_at < now() - $2 * interval '1 second' ORDER BY id`
	if d.Dialect == db.SQLite {
		// River's SQLite driver keeps args as JSONB (json() reads it back
		// as text) and times as text in the database's clock.
		q = `SELECT id, attempt, json(args) FROM river_job WHERE kind = $1 AND state = 'running'
			AND (julianday('now') - julianday(attempted_at)) * 86400.0 > $2 ORDER BY id`
	}
	rows, err := d.SQL.QueryContext(ctx, q, kind, older.Seconds())
	if err != nil {
		return nil, fmt.Errorf("look for running %s jobs: %w", kind, err)
	}
	defer rows.Close()
	var out []RunningJob
	for rows.Next() {
		var j RunningJob
		var args []byte
		if err := rows.Scan(&j.ID, &j.Attempt, &args); err != nil {
			return nil, fmt.Errorf("look for running %s jobs: %w", kind, err)
		}
		j.Args = append([]byte(nil), args...)
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look for running %s jobs: %w", kind, err)
	}
	return out, nil
}

// DiscardRunning finalizes job, if River still has it running, as
// discarded, and appends reason to its errors as an error of its current
// attempt, in the format River writes (an element of the jsonb[] column on
// PostgreSQL, of the JSON array on SQLite), so River's API and UI read it
// like any other. A discarded job is no longer covered by the unique
// options of its kind: the same job can be queued again at once. It
// reports whether the job was discarded (false: River had meanwhile
// finished it, or it was not running).
//
// Only a caller that knows no process is working the job may call it: a
// live worker that finishes the job afterwards finds it no longer running
// and leaves it discarded.
func DiscardRunning(ctx context.Context, d *db.DB, job RunningJob, reason string, at time.Time) (bool, error) {
	entry, err := json.Marshal(rivertype.AttemptError{At: at.UTC(), Attempt: job.Attempt, Error: reason})
	if err != nil {
		return false, err
	}
	q := `UPDATE river_job SET state = 'discarded', finalized_at = now(),
		errors = array_append(errors, CAST($2 AS jsonb))
		WHERE id = $1 AND state = 'running'`
	if d.Dialect == db.SQLite {
		// As River's own statement: errors is a JSONB array, finalized_at
		// text in the format River compares times in.
		q = `UPDATE river_job SET state = 'discarded', finalized_at = datetime('now', 'subsec'),
			errors = jsonb(json_insert(json(coalesce(errors, jsonb('[]'))), '$[#]', json($2)))
			WHERE id = $1 AND state = 'running'`
	}
	res, err := d.SQL.ExecContext(ctx, q, job.ID, string(entry))
	if err != nil {
		return false, fmt.Errorf("discard job %d: %w", job.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("discard job %d: %w", job.ID, err)
	}
	return n == 1, nil
}
