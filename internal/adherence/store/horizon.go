package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// ExtendResult says what one ExtendHorizon run did.
type ExtendResult struct {
	// Plans is the number of plans whose window was extended.
	Plans int
	// Instances is the number of dose instances inserted (or revived).
	Instances int
}

// ExtendHorizon is the body of the periodic dose-horizon job. For every
// active, non-PRN plan of an active patient whose instances end before
// now+Horizon, it generates the instances of [max(generated_until, now),
// now+Horizon) and moves generated_until there.
//
// Plans are processed in chunks of ChunkSize, keyset-paged by plan id; each
// chunk is one transaction that commits on its own, so memory stays
// bounded and an interrupted run keeps what it did. On PostgreSQL, Workers
// chunks run concurrently and a chunk's plans are locked (FOR UPDATE SKIP
// LOCKED), so concurrent runs share the work instead of repeating it, and a
// plan being edited is picked up by the next run. Running it again changes
// nothing: a plan is only selected while its generated_until lags, and
// should an instance of the window exist anyway, the unique (plan_id,
// due_at) constraint and the upsert (ON CONFLICT) keep it single (see
// insertDoses).
//
// A plan whose schedule cannot be expanded (say, a time zone that vanished
// from the system's zone database) is skipped; the run goes on and returns
// an error naming the first such plan together with the result.
func (s *Store) ExtendHorizon(ctx context.Context, now time.Time) (ExtendResult, error) {
	now = db.UTC(now)
	r := &extendRun{s: s, now: now, to: now.Add(s.horizon()), cursor: minID}
	workers := 1
	if s.db.Dialect == db.Postgres && s.Workers > 1 {
		workers = s.Workers
	}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- r.work(ctx)
		}()
	}
	wg.Wait()
	close(errc)
	var err error
	for e := range errc {
		if e != nil && err == nil {
			err = e
		}
	}
	if err == nil && r.failed != nil {
		err = r.failed
	}
	if err != nil {
		return r.res, fmt.Errorf("extend dose horizon: %w", err)
	}
	return r.res, nil
}

// minID sorts before every plan id.
const minID = "00000000-0000-0000-0000-000000000000"

// extendRun is the state shared by the workers of one ExtendHorizon run.
type extendRun struct {
	s       *Store
	now, to time.Time

	mu     sync.Mutex
	cursor string // largest plan id handed out so far
	res    ExtendResult
	failed error // first plan that could not be expanded
}

func (r *extendRun) work(ctx context.Context) error {
	c := newGenCache()
	for {
		done, err := r.chunk(ctx, c)
		if err != nil || done {
			return err
		}
	}
}

// chunk extends the next chunk of plans in one transaction and reports
// whether there was none left.
func (r *extendRun) chunk(ctx context.Context, c *genCache) (done bool, err error) {
	var plans, instances int
	err = r.s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := relaxCommit(ctx, tx); err != nil {
			return err
		}
		r.mu.Lock()
		rows, err := selectDuePlans(ctx, tx, r.cursor, r.to, r.s.chunkSize())
		if err == nil && len(rows) > 0 {
			r.cursor = rows[len(rows)-1].id
		}
		r.mu.Unlock()
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			done = true
			return nil
		}
		batch, ids := r.expand(c, rows)
		noBasis := map[string]bool{}
		for _, row := range rows {
			if row.noBasis {
				noBasis[row.id] = true
			}
		}
		for i, pd := range batch {
			// What its doses were made of, for a later pause and resume
			// (reviveAsGenerated): a plan an older release made has
			// none, and a resume across a change of zone treated it
			// unlike the same plan made by this one (QA).
			if noBasis[pd.plan.id] {
				if err := setDoseBasis(ctx, tx, pd.plan); err != nil {
					return err
				}
			}
			if len(pd.doses) > 0 {
				// A course (repeat.count) that a change left a dose
				// longer ends a dose earlier (see capCount).
				if batch[i].doses, err = capCount(ctx, tx, pd.plan, pd.doses[0].Due, pd.doses, nil); err != nil {
					return fmt.Errorf("plan %s: %w", pd.plan.id, err)
				}
			}
		}
		n, err := insertDoses(ctx, tx, batch, r.now, true)
		if err != nil {
			return err
		}
		if err := setGeneratedUntil(ctx, tx, ids, r.to); err != nil {
			return err
		}
		if err := r.armLagging(ctx, tx, rows); err != nil {
			return err
		}
		plans, instances = len(ids), n
		return nil
	})
	if err == nil {
		r.mu.Lock()
		r.res.Plans += plans
		r.res.Instances += instances
		r.mu.Unlock()
	}
	return done, err
}

// armLagging arms the reminders of the plans of rows whose new doses start
// before the arming cursor: their window lagged (a worker outage longer
// than the horizon, or extensions that failed), and the periodic arming
// pass, which never goes back over times it has covered, would leave the
// doses due before the cursor without a reminder. Usually no window
// starts that early, and nothing is done.
func (r *extendRun) armLagging(ctx context.Context, tx *db.Tx, rows []duePlan) error {
	until, err := armedUntil(ctx, tx)
	if err != nil || until.IsZero() {
		return err // before the first arming pass, that pass arms them
	}
	for i := range rows {
		from := r.now
		if gu := rows[i].generatedUntil; gu.Valid && gu.Time.After(from) {
			from = gu.Time.UTC()
		}
		if from.Before(until) {
			if err := r.s.armPlan(ctx, tx, rows[i].orgID, rows[i].id, r.now); err != nil {
				return fmt.Errorf("plan %s: %w", rows[i].id, err)
			}
		}
	}
	return nil
}

// expand expands every plan of a chunk over its window, skipping (and
// remembering) the ones that fail; ids are the plans expanded.
func (r *extendRun) expand(c *genCache, rows []duePlan) (batch []planDoses, ids []string) {
	batch = make([]planDoses, 0, len(rows))
	ids = make([]string, 0, len(rows))
	for i := range rows {
		g, err := c.plan(&rows[i])
		var doses []schedule.Dose
		if err == nil {
			from := r.now
			if gu := rows[i].generatedUntil; gu.Valid && gu.Time.After(from) {
				from = gu.Time.UTC()
			}
			doses, err = g.expand(from, r.to)
		}
		if err != nil {
			r.fail(fmt.Errorf("plan %s: %w", rows[i].id, err))
			continue
		}
		batch = append(batch, planDoses{plan: g, doses: doses})
		ids = append(ids, g.id)
	}
	return batch, ids
}

func (r *extendRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed = err
	}
}

// relaxCommit lets a chunk's commit return before its WAL is flushed
// (PostgreSQL's synchronous_commit = off, for this transaction only). A
// chunk holds only derived data and moves generated_until in the same
// transaction: if a crash loses it, the next run generates it again.
func relaxCommit(ctx context.Context, tx *db.Tx) error {
	if tx.Dialect != db.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return fmt.Errorf("relax commit: %w", err)
	}
	return nil
}

func (s *Store) chunkSize() int {
	if s.ChunkSize <= 0 {
		return DefaultChunkSize
	}
	return s.ChunkSize
}

// duePlan is a row of selectDuePlans: a plan whose window needs extending,
// with its patient's zone and anchors.
type duePlan struct {
	id, orgID, patientID string
	timing               string
	startAt              time.Time
	endAt                sql.NullTime
	generatedUntil       sql.NullTime
	zone                 string
	anchors              [5]string
	// noBasis marks a plan without dose_basis: made by a release before
	// it (an API task of the release before, during a blue/green deploy,
	// still makes them). The extension records it.
	noBasis bool
}

// selectDuePlansSQL picks the next chunk of active, non-PRN plans of active
// patients whose instances end before $2, in plan id order after $1. Plans
// past their end are left out once their window reaches the end.
const selectDuePlansSQL = `
	SELECT pl.id, pl.org_id, pl.patient_id, pl.timing, pl.start_at, pl.end_at, pl.generated_until,
	       pa.time_zone, pa.wake, pa.breakfast, pa.lunch, pa.dinner, pa.bed, pl.dose_basis = ''
	FROM plans pl
	JOIN patients pa ON pa.org_id = pl.org_id AND pa.id = pl.patient_id
	WHERE pl.id > $1 AND pl.status = 'active' AND NOT pl.as_needed AND pa.active
	  AND (pl.generated_until IS NULL OR pl.generated_until < $2)
	  AND (pl.end_at IS NULL OR pl.generated_until IS NULL OR pl.end_at > pl.generated_until)
	ORDER BY pl.id
	LIMIT $3`

// selectDuePlansLock is appended on PostgreSQL: the chunk's plans stay
// locked until it commits, and plans another transaction holds (a
// concurrent run, an edit) are skipped rather than waited for.
const selectDuePlansLock = ` FOR UPDATE OF pl SKIP LOCKED`

func selectDuePlans(ctx context.Context, tx *db.Tx, after string, to time.Time, n int) ([]duePlan, error) {
	q := selectDuePlansSQL
	if tx.Dialect == db.Postgres {
		q += selectDuePlansLock
	}
	rows, err := tx.QueryContext(ctx, q, after, to, n)
	if err != nil {
		return nil, fmt.Errorf("select plans: %w", err)
	}
	defer rows.Close()
	out := make([]duePlan, 0, n)
	for rows.Next() {
		var p duePlan
		a := &p.anchors
		if err := rows.Scan(&p.id, &p.orgID, &p.patientID, &p.timing, &p.startAt, &p.endAt, &p.generatedUntil,
			&p.zone, &a[0], &a[1], &a[2], &a[3], &a[4], &p.noBasis); err != nil {
			return nil, fmt.Errorf("select plans: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select plans: %w", err)
	}
	return out, nil
}

// genCache keeps, for one worker of one run, the zones, decoded timings and
// parsed anchors seen so far: plans share few distinct values of each.
type genCache struct {
	zones   map[string]*time.Location
	timings map[string]schedule.Timing
	anchors map[[5]string]schedule.Anchors
}

// maxCached bounds each map of a genCache.
const maxCached = 10000

func newGenCache() *genCache {
	return &genCache{
		zones:   map[string]*time.Location{},
		timings: map[string]schedule.Timing{},
		anchors: map[[5]string]schedule.Anchors{},
	}
}

// plan turns a selected row into a genPlan.
func (c *genCache) plan(p *duePlan) (*genPlan, error) {
	loc, err := c.zone(p.zone)
	if err != nil {
		return nil, err
	}
	t, err := c.timing(p.timing)
	if err != nil {
		return nil, err
	}
	a, err := c.anchor(p.anchors)
	if err != nil {
		return nil, err
	}
	g := &genPlan{id: p.id, orgID: p.orgID, patientID: p.patientID, timing: t, startAt: p.startAt.UTC(), loc: loc, anchors: a}
	if p.endAt.Valid {
		end := p.endAt.Time.UTC()
		g.endAt = &end
	}
	return g, nil
}

func (c *genCache) zone(name string) (*time.Location, error) {
	if loc, ok := c.zones[name]; ok {
		return loc, nil
	}
	loc, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	if len(c.zones) >= maxCached {
		clear(c.zones)
	}
	c.zones[name] = loc
	return loc, nil
}

func (c *genCache) timing(js string) (schedule.Timing, error) {
	if t, ok := c.timings[js]; ok {
		return t, nil
	}
	var t schedule.Timing
	if err := json.Unmarshal([]byte(js), &t); err != nil {
		return t, errors.New("stored timing is not valid JSON")
	}
	if len(c.timings) >= maxCached {
		clear(c.timings)
	}
	c.timings[js] = t
	return t, nil
}

func (c *genCache) anchor(s [5]string) (schedule.Anchors, error) {
	if a, ok := c.anchors[s]; ok {
		return a, nil
	}
	a, err := parseAnchors(s)
	if err != nil {
		return a, err
	}
	if len(c.anchors) >= maxCached {
		clear(c.anchors)
	}
	c.anchors[s] = a
	return a, nil
}
