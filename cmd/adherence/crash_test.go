package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// Shape of the crash test: kill rounds per engine, concurrent clients per
// round (one of them sends batches of batchSize), and how many events a
// round must have acknowledged before the kill timer is armed.
const (
	crashRounds  = 5
	crashClients = 8
	batchSize    = 20
	minAcks      = 30
)

// TestCrashDurability starts the real binary on each engine, streams events
// from concurrent clients, kills the server with SIGKILL mid-stream and
// restarts it, several times. Afterwards every event that was acknowledged
// must be stored exactly once under the acknowledged id, retries after a
// restart must answer 201 with the stored event, and every stored event
// (acknowledged or not) must be whole: one row, a matching result and
// exactly one audit record, with the audit hash chain intact.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly; skipped with -short")
	}
	bin := adherenceBinary(t)
	engines := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "adherence.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			h := newCrashHarness(t, bin, eng.url(t))
			h.run()
		})
	}
}

// crashHarness drives one engine's server processes and records every
// event the clients tried to record.
type crashHarness struct {
	t      *testing.T
	bin    string
	dbURL  string
	logs   *syncbuf.Buffer // every server run's output, printed on failure
	client *http.Client

	srv     *serverProc // the running server, if any
	starts  int
	key     string
	patient string
	plan    string

	mu       sync.Mutex
	attempts map[string]*eventAttempt // by clientEventId
	batches  []*batchAttempt

	replayedUnacked int // unacknowledged events a retry found committed
	retriedUnacked  int
	retriedAcked    int
}

// eventAttempt is one event a client sent: its body (resent unchanged on
// retry) and, once a 2xx answered it, the id the server acknowledged.
type eventAttempt struct {
	key   string
	round int
	body  []byte // the event object; the request body for single events
	batch *batchAttempt
	acked bool
	ackID string // empty if the 2xx response's body was lost
}

// sentEvent is the part of an event's JSON that the events table keeps.
type sentEvent struct {
	PatientID     string    `json:"patientId"`
	PlanID        string    `json:"planId"`
	Kind          string    `json:"kind"`
	Reason        string    `json:"reason"`
	SnoozeMinutes int       `json:"snoozeMinutes"`
	Source        string    `json:"source"`
	ClientEventID string    `json:"clientEventId"`
	OccurredAt    time.Time `json:"occurredAt"`
}

// batchAttempt is one POST /v1/events:batch request body.
type batchAttempt struct {
	round int
	body  []byte
	items []*eventAttempt
	acked bool // the whole request was answered 200
}

func newCrashHarness(t *testing.T, bin, dbURL string) *crashHarness {
	h := &crashHarness{
		t: t, bin: bin, dbURL: dbURL, logs: &syncbuf.Buffer{},
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: false, MaxIdleConnsPerHost: crashClients * 2,
		}},
		attempts: map[string]*eventAttempt{},
	}
	t.Cleanup(func() {
		if h.srv != nil {
			h.srv.kill()
		}
		h.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("server output:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *crashHarness) env() []string {
	return childEnv(h.dbURL)
}

// childEnv is the environment of an adherence process a test starts on the
// database dbURL: quiet logs, no drain, and only PATH, HOME and TMPDIR of
// the test's own environment (a developer's DATABASE_URL or GOGC must not
// leak in), then extra (NAME=value).
func childEnv(dbURL string, extra ...string) []string {
	env := []string{"DATABASE_URL=" + dbURL, "LOG_LEVEL=warn", "SHUTDOWN_DRAIN=0s"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

func (h *crashHarness) run() {
	h.bootstrap()
	h.start()
	h.setUp()

	for round := 1; round <= crashRounds; round++ {
		if round > 1 {
			h.start()
			h.retry(round - 1)
		}
		h.stream(round)
	}
	// A last restart to retry what the final kill left unanswered, then a
	// graceful stop before reading the database directly.
	h.start()
	h.retry(crashRounds)
	h.stop()
	h.verify()
}

// bootstrap creates the organization (migrating the empty database) and
// keeps its admin key.
func (h *crashHarness) bootstrap() {
	t := h.t
	cmd := exec.Command(h.bin, "admin", "bootstrap", "--org", "Crash")
	cmd.Env = h.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("admin bootstrap: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "admin_key="); ok {
			h.key = v
		}
	}
	if !strings.HasPrefix(h.key, "mpk_") {
		t.Fatalf("admin bootstrap printed no key: %q", out)
	}
}

// setUp creates the patient and the plan the events are about.
func (h *crashHarness) setUp() {
	t := h.t
	status, _, body, err := h.post("/v1/patients", []byte(`{"givenName":"Crash","timeZone":"UTC"}`))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create patient: %d %v %s", status, err, body)
	}
	var p struct{ ID string }
	if err := json.Unmarshal(body, &p); err != nil || p.ID == "" {
		t.Fatalf("create patient answered %s", body)
	}
	// The doses fall a minute from now and twelve hours later, so that the
	// events (up to two minutes old) match the first one and change it
	// (taken, then possible double doses) while the server is killed,
	// rather than being kept as orphans.
	first := time.Now().UTC().Add(time.Minute)
	times := []string{first.Format("15:04:05"), first.Add(12 * time.Hour).Format("15:04:05")}
	slices.Sort(times)
	status, _, body, err = h.post("/v1/patients/"+p.ID+"/plans", []byte(`{"medication":{"rxnorm":"314076","display":"lisinopril 10 MG Oral Tablet"},`+
		`"timing":{"repeat":{"timeOfDay":["`+times[0]+`","`+times[1]+`"]}}}`))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create plan: %d %v %s", status, err, body)
	}
	var pl struct{ ID string }
	if err := json.Unmarshal(body, &pl); err != nil || pl.ID == "" {
		t.Fatalf("create plan answered %s", body)
	}
	h.patient, h.plan = p.ID, pl.ID
}

// start runs `adherence serve` on a fresh port and waits for /readyz.
func (h *crashHarness) start() {
	t := h.t
	if h.srv != nil {
		t.Fatal("start: a server is already running")
	}
	h.starts++
	addr := freeAddr(t)
	fmt.Fprintf(h.logs, "--- server run %d on %s ---\n", h.starts, addr)
	cmd := exec.Command(h.bin, "serve", "--addr", addr)
	cmd.Env = h.env()
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	s := &serverProc{cmd: cmd, base: "http://" + addr, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	h.srv = s

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			h.srv = nil
			t.Fatalf("server run %d exited before becoming ready: %v", h.starts, s.err)
		default:
		}
		resp, err := h.client.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server run %d not ready within 60s", h.starts)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// forget drops the killed server once no client uses it any more.
func (h *crashHarness) forget() {
	h.srv = nil
	h.client.CloseIdleConnections()
}

// stop ends the running server with SIGTERM and expects a clean exit.
func (h *crashHarness) stop() {
	t := h.t
	s := h.srv
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		t.Fatal("server did not stop within 40s of SIGTERM")
	}
	h.srv = nil
	h.client.CloseIdleConnections()
	if s.err != nil {
		t.Fatalf("server exited with %v after SIGTERM", s.err)
	}
}

// post sends body to path on the running server with the admin key.
func (h *crashHarness) post(path string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, h.srv.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// newEvent returns a new event body with a unique client event id; the
// kinds vary so that matching takes several paths.
func (h *crashHarness) newEvent(round, client, n int) *eventAttempt {
	key := fmt.Sprintf("crash-r%d-c%d-n%d", round, client, n)
	ev := map[string]any{
		"patientId": h.patient, "planId": h.plan, "source": "app", "clientEventId": key,
		"occurredAt": time.Now().UTC().Add(-time.Duration(rand.IntN(120)) * time.Second).Format(time.RFC3339Nano),
	}
	switch n % 5 {
	case 3:
		ev["kind"], ev["reason"] = "skipped", "forgot"
	case 4:
		ev["kind"], ev["snoozeMinutes"] = "snoozed", 10
	default:
		ev["kind"] = "taken"
	}
	body, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	a := &eventAttempt{key: key, round: round, body: body}
	h.mu.Lock()
	h.attempts[key] = a
	h.mu.Unlock()
	return a
}

// stream runs one kill round: concurrent clients send events until the
// server, killed with SIGKILL at a random moment after minAcks events were
// acknowledged, stops answering.
func (h *crashHarness) stream(round int) {
	t := h.t
	var (
		stop   atomic.Bool
		acks   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for c := 0; c < crashClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				var ok bool
				if c == 0 {
					ok = h.sendBatch(round, n, &acks)
				} else {
					ok = h.sendOne(h.newEvent(round, c, n), &acks)
				}
				if !ok {
					failed.Add(1)
					if !stop.Load() {
						// The server is up: an unanswered request is
						// unexpected but not fatal; do not spin.
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		}()
	}

	deadline := time.Now().Add(30 * time.Second)
	for acks.Load() < minAcks && time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	if acks.Load() < minAcks {
		stop.Store(true)
		h.srv.kill()
		wg.Wait()
		h.forget()
		t.Fatalf("round %d: only %d events acknowledged within 30s (%d failed requests)", round, acks.Load(), failed.Load())
	}
	delay := time.Duration(300+rand.IntN(1200)) * time.Millisecond
	time.Sleep(delay)
	stop.Store(true)
	h.srv.kill()
	wg.Wait()
	h.forget()

	acked, unacked := 0, 0
	h.mu.Lock()
	for _, a := range h.attempts {
		switch {
		case a.round != round:
		case a.acked:
			acked++
		default:
			unacked++
		}
	}
	h.mu.Unlock()
	t.Logf("round %d: SIGKILL %v after the first %d acknowledgments; %d events acknowledged, %d not", round, delay, minAcks, acked, unacked)
}

// sendOne posts one event and records whether it was acknowledged.
func (h *crashHarness) sendOne(a *eventAttempt, acks *atomic.Int64) bool {
	status, _, body, err := h.post("/v1/events", a.body)
	if status < 200 || status > 299 {
		if status >= 400 && status < 500 {
			h.t.Errorf("event %s: %d %s", a.key, status, body)
		}
		return false
	}
	// A 2xx was sent only after the commit: the event is acknowledged
	// even if the rest of the body was lost to the kill.
	h.mu.Lock()
	a.acked = true
	h.mu.Unlock()
	acks.Add(1)
	if err != nil {
		return true
	}
	var got struct{ ID, ClientEventID string }
	if err := json.Unmarshal(body, &got); err != nil || got.ID == "" || got.ClientEventID != a.key {
		h.t.Errorf("event %s: %d answered %s", a.key, status, body)
		return true
	}
	h.mu.Lock()
	a.ackID = got.ID
	h.mu.Unlock()
	return true
}

type batchResponse struct {
	Accepted int `json:"accepted"`
	Results  []struct {
		Index    int  `json:"index"`
		Status   int  `json:"status"`
		Replayed bool `json:"replayed"`
		Event    *struct {
			ID            string `json:"id"`
			ClientEventID string `json:"clientEventId"`
		} `json:"event"`
		Error json.RawMessage `json:"error"`
	} `json:"results"`
}

// sendBatch posts batchSize new events in one request.
func (h *crashHarness) sendBatch(round, n int, acks *atomic.Int64) bool {
	b := &batchAttempt{round: round}
	raw := make([]json.RawMessage, batchSize)
	for i := range raw {
		a := h.newEvent(round, 0, n*batchSize+i)
		a.batch = b
		b.items = append(b.items, a)
		raw[i] = a.body
	}
	body, err := json.Marshal(map[string]any{"events": raw})
	if err != nil {
		panic(err)
	}
	b.body = body
	h.mu.Lock()
	h.batches = append(h.batches, b)
	h.mu.Unlock()
	return h.postBatch(b, acks, false)
}

// postBatch sends b and records the acknowledged items. With retry set
// (after a restart), every item must come back 201, acknowledged items as
// replays of their original.
func (h *crashHarness) postBatch(b *batchAttempt, acks *atomic.Int64, retry bool) bool {
	t := h.t
	status, _, body, err := h.post("/v1/events:batch", b.body)
	if status != http.StatusOK || err != nil {
		if status >= 400 && status < 500 || retry {
			t.Errorf("batch of round %d: %d %v %s", b.round, status, err, body)
		}
		return false
	}
	var res batchResponse
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != len(b.items) {
		t.Errorf("batch answered %s", body)
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b.acked = true
	for _, r := range res.Results {
		if r.Index < 0 || r.Index >= len(b.items) {
			t.Errorf("batch result index %d out of range", r.Index)
			continue
		}
		a := b.items[r.Index]
		if r.Status != http.StatusCreated || r.Event == nil || r.Event.ID == "" || r.Event.ClientEventID != a.key {
			t.Errorf("batch item %s: status %d, error %s", a.key, r.Status, r.Error)
			continue
		}
		if retry {
			if a.acked && !r.Replayed {
				t.Errorf("retry of acknowledged batch item %s was not answered as a replay", a.key)
			}
			if !a.acked && r.Replayed {
				h.replayedUnacked++
			}
			h.checkRetryID(a, r.Event.ID)
		}
		a.acked, a.ackID = true, r.Event.ID
		if acks != nil {
			acks.Add(1)
		}
	}
	return true
}

// checkRetryID compares a retry's answer with an earlier acknowledgment;
// h.mu is held.
func (h *crashHarness) checkRetryID(a *eventAttempt, id string) {
	if a.acked {
		h.retriedAcked++
		if a.ackID != "" && a.ackID != id {
			h.t.Errorf("retry of acknowledged event %s answered id %s, acknowledged as %s", a.key, id, a.ackID)
		}
	} else {
		h.retriedUnacked++
	}
}

// retry resends unchanged, after a restart, half of the unacknowledged
// single events of round and (in odd rounds) its unacknowledged batches —
// the others stay never acknowledged — and a sample of its acknowledged
// events and batches: each must be answered 201, acknowledged ones as
// replays with their original id.
func (h *crashHarness) retry(round int) {
	t := h.t
	h.mu.Lock()
	var unacked, singles []*eventAttempt
	for _, a := range h.attempts {
		if a.round != round || a.batch != nil {
			continue
		}
		switch {
		case !a.acked:
			unacked = append(unacked, a)
		case a.ackID != "" && len(singles) < 10:
			singles = append(singles, a)
		}
	}
	slices.SortFunc(unacked, func(a, b *eventAttempt) int { return strings.Compare(a.key, b.key) })
	for i, a := range unacked {
		if i%2 == 0 {
			singles = append(singles, a)
		}
	}
	// The batch cut off by the kill is resent in odd rounds only; the last
	// two acknowledged batches are resent in every round.
	var batches []*batchAttempt
	sampled := 0
	for i := len(h.batches) - 1; i >= 0; i-- {
		b := h.batches[i]
		switch {
		case b.round != round:
		case !b.acked && round%2 == 1:
			batches = append(batches, b)
		case b.acked && sampled < 2:
			batches = append(batches, b)
			sampled++
		}
	}
	h.mu.Unlock()

	for _, a := range singles {
		status, hdr, body, err := h.post("/v1/events", a.body)
		if err != nil || status != http.StatusCreated {
			t.Errorf("retry of event %s after restart: %d %v %s", a.key, status, err, body)
			continue
		}
		var got struct{ ID string }
		if err := json.Unmarshal(body, &got); err != nil || got.ID == "" {
			t.Errorf("retry of event %s answered %s", a.key, body)
			continue
		}
		h.mu.Lock()
		replayed := hdr.Get("Idempotent-Replayed") == "true"
		if a.acked && !replayed {
			t.Errorf("retry of acknowledged event %s was not answered as a replay", a.key)
		}
		if !a.acked && replayed {
			h.replayedUnacked++
		}
		h.checkRetryID(a, got.ID)
		a.acked, a.ackID = true, got.ID
		h.mu.Unlock()
	}
	for _, b := range batches {
		h.postBatch(b, nil, true)
	}
}

// verify reads the database directly, with no server running.
func (h *crashHarness) verify() {
	t := h.t
	ctx := context.Background()
	d, err := db.Open(ctx, h.dbURL, db.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	type stored struct {
		id, result, request, patient string
		sent                         sentEvent // what the row says was sent
	}
	events := map[string][]stored{} // by client event id
	ids := map[string]string{}      // event id → client event id
	rows, err := d.SQL.QueryContext(ctx, `SELECT CAST(id AS TEXT), client_event_id, result, request_id, CAST(patient_id AS TEXT),
		CAST(plan_id AS TEXT), kind, reason, COALESCE(snooze_minutes, 0), source, occurred_at FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for rows.Next() {
		var id, cid, result, request, patient string
		var sent sentEvent
		if err := rows.Scan(&id, &cid, &result, &request, &patient,
			&sent.PlanID, &sent.Kind, &sent.Reason, &sent.SnoozeMinutes, &sent.Source, &sent.OccurredAt); err != nil {
			t.Fatal(err)
		}
		sent.PatientID, sent.ClientEventID = patient, cid
		events[cid] = append(events[cid], stored{id, result, request, patient, sent})
		ids[id] = cid
		total++
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var count, distinct int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT client_event_id) FROM events`).Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	if count != distinct || count != total {
		t.Errorf("events: %d rows, %d distinct client event ids", count, distinct)
	}

	// One audit record per request and patient covers that request's
	// events of the patient: it names one of them and counts them. A
	// retry answered with an event stored before is a read of it (R),
	// which must name a stored event too.
	type auditKey struct{ request, patient string }
	audits := map[auditKey]int{}     // → audit records
	auditCount := map[auditKey]int{} // → events the records count
	covered := map[auditKey]int{}    // → stored events
	auditRows := 0
	rows, err = d.SQL.QueryContext(ctx, `SELECT resource_id, request_id, COALESCE(CAST(patient_id AS TEXT), ''), detail, action
		FROM audit_log WHERE resource_type = 'AdherenceEvent'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, request, patient, detail, action string
		if err := rows.Scan(&id, &request, &patient, &detail, &action); err != nil {
			t.Fatal(err)
		}
		if action == "R" {
			if _, ok := ids[id]; !ok {
				t.Errorf("replay's audit record names event %s, which is not stored", id)
			}
			continue
		}
		k := auditKey{request, patient}
		audits[k]++
		n, err := strconv.Atoi(strings.TrimPrefix(detail, "events="))
		if err != nil {
			t.Errorf("audit record for event %s has detail %q, want events=N", id, detail)
		}
		auditCount[k] += n
		auditRows++
		if _, ok := ids[id]; !ok {
			t.Errorf("audit record names event %s, which is not stored", id)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, list := range events {
		for _, e := range list {
			covered[auditKey{e.request, e.patient}]++
		}
	}
	for k, n := range covered {
		if auditCount[k] != n {
			t.Errorf("request %s, patient %s: %d events stored, audit records count %d", k.request, k.patient, n, auditCount[k])
		}
	}
	for k := range audits {
		if covered[k] == 0 {
			t.Errorf("audit record of request %s for patient %s covers no stored event", k.request, k.patient)
		}
	}

	// The dose side: every dose that records an event records one that is
	// stored and was matched to it, and some do (the events are not all
	// orphans, so dose updates were in flight at the kills).
	doseEvents := 0
	rows, err = d.SQL.QueryContext(ctx, `SELECT id, CAST(event_id AS TEXT) FROM dose_instances WHERE event_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	matched := map[string]bool{} // event id → a dose records it
	for rows.Next() {
		var dose int64
		var eventID string
		if err := rows.Scan(&dose, &eventID); err != nil {
			t.Fatal(err)
		}
		doseEvents++
		matched[eventID] = true
		if _, ok := ids[eventID]; !ok {
			t.Errorf("dose %d records event %s, which is not stored", dose, eventID)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if doseEvents == 0 {
		t.Errorf("no dose records an event: the events did not match the plan's doses")
	}
	for id := range matched {
		var dose sql.NullInt64
		if err := d.SQL.QueryRowContext(ctx, `SELECT dose_instance_id FROM events WHERE CAST(id AS TEXT) = $1`, id).Scan(&dose); err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		if !dose.Valid {
			t.Errorf("event %s is recorded by a dose but matched none", id)
		}
	}

	acked, unacked, storedUnacked := 0, 0, 0
	for cid, list := range events {
		a, ok := h.attempts[cid]
		if !ok {
			t.Errorf("stored event %s was never sent", cid)
		}
		if len(list) != 1 {
			t.Errorf("event %s stored %d times", cid, len(list))
		}
		for _, e := range list {
			if ok {
				// The row holds what was sent, field by field: nothing
				// torn or mixed up with another event's values.
				var want sentEvent
				if err := json.Unmarshal(a.body, &want); err != nil {
					t.Fatal(err)
				}
				got := e.sent
				if !got.OccurredAt.Equal(want.OccurredAt.Truncate(time.Microsecond)) && !got.OccurredAt.Equal(want.OccurredAt) {
					t.Errorf("event %s stored with occurredAt %s, sent %s", cid, got.OccurredAt, want.OccurredAt)
				}
				got.OccurredAt, want.OccurredAt = time.Time{}, time.Time{}
				if got != want {
					t.Errorf("event %s stored as %+v, sent %+v", cid, got, want)
				}
			}
			if e.result == "" {
				t.Errorf("event %s (%s) is stored without a result", cid, e.id)
			}
			if e.request == "" {
				t.Errorf("event %s (%s) is stored without its request id", cid, e.id)
			}
			if n := audits[auditKey{e.request, e.patient}]; n != 1 {
				t.Errorf("event %s (%s) is covered by %d audit records, want 1", cid, e.id, n)
			}
		}
		if ok && !a.acked {
			storedUnacked++
		}
	}
	for _, a := range h.attempts {
		if !a.acked {
			unacked++
			continue
		}
		acked++
		list := events[a.key]
		switch {
		case len(list) != 1:
			t.Errorf("acknowledged event %s stored %d times, want once", a.key, len(list))
		case a.ackID != "" && list[0].id != a.ackID:
			t.Errorf("acknowledged event %s stored as %s, acknowledged as %s", a.key, list[0].id, a.ackID)
		}
	}

	cmd := exec.Command(h.bin, "audit", "verify")
	cmd.Env = h.env()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") {
		t.Errorf("audit verify after %d kills: %v\n%s", crashRounds, err, out)
	}

	t.Logf("%s: %d kill rounds, %d events sent: %d acknowledged, %d never acknowledged (%d of them stored whole); "+
		"%d stored events (%d recorded by a dose), %d audit records; retried %d unacknowledged (%d had been committed before the kill) and %d acknowledged",
		d.Dialect, crashRounds, len(h.attempts), acked, unacked, storedUnacked, total, doseEvents, auditRows,
		h.retriedUnacked, h.replayedUnacked, h.retriedAcked)
}

// serverProc is one running `adherence serve` process.
type serverProc struct {
	cmd  *exec.Cmd
	base string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

// kill sends SIGKILL and waits for the process to exit.
func (s *serverProc) kill() {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		panic(err)
	}
	<-s.done
}
