package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/api"
	"github.com/medplatform/medplatform/internal/adherence/ingest"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

var sets = []migrate.Set{audit.Migrations, store.Migrations}

// env is a running API on a real database with two organizations.
type env struct {
	t     testing.TB
	h     http.Handler
	db    *db.DB
	store *store.Store
	logs  *syncbuf.Buffer
	now   time.Time
}

func newEnv(t testing.TB, d *db.DB) *env {
	t.Helper()
	return newEnvKeyCache(t, d, 0)
}

// newEnvKeyCache is newEnv with API keys remembered for keyTTL, as
// `adherence serve` remembers them (API_KEY_CACHE_TTL); 0 looks every key
// up.
func newEnvKeyCache(t testing.TB, d *db.DB, keyTTL time.Duration) *env {
	t.Helper()
	return newEnvDeps(t, d, keyTTL, nil)
}

// newEnvDeps is newEnvKeyCache with the server's Deps adjusted by adjust
// (when not nil) before the server is built.
func newEnvDeps(t testing.TB, d *db.DB, keyTTL time.Duration, adjust func(*api.Deps)) *env {
	t.Helper()
	e := &env{t: t, db: d, now: time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return e.now } // tests may move e.now
	logs := &syncbuf.Buffer{}
	logger := telemetry.NewLogger(logs, slog.LevelDebug)
	al := audit.New(d, clock, func() string { return uuid.Must(uuid.NewV7()).String() })
	st := store.New(d, al, clock)
	authn, err := auth.NewAuthenticator(auth.NewKeyCache(st, keyTTL, clock), nil, ratelimit.NewMemory(clock), clock)
	if err != nil {
		t.Fatal(err)
	}
	checker := health.New([]health.Check{health.DatabaseCheck(d)}, time.Second, time.Now, logger)
	checker.SetReady(true)
	reg := telemetry.NewRegistry()
	metrics, err := telemetry.NewHTTPMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Events go through the production path: the group-commit ingester.
	im, err := ingest.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ing := ingest.New(st, im, 0)
	stopIngest := ing.Start(2)
	t.Cleanup(func() { _ = stopIngest(context.Background()) })
	deps := api.Deps{Store: st, Audit: al, Auth: authn, Health: checker, Registry: reg, HTTPMetrics: metrics, Logger: logger, Now: clock, Ingest: ing}
	if adjust != nil {
		adjust(&deps)
	}
	h := api.NewServer(deps)
	e.h, e.store, e.logs = h, st, logs
	return e
}

// key issues an API key straight through the store.
func (e *env) key(orgID string, role auth.Role, subject string) string {
	e.t.Helper()
	plain, id, hash, err := auth.NewAPIKey()
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.store.CreateAPIKey(context.Background(), adherence.Actor{ID: "test", Role: "admin", OrgID: orgID},
		adherence.APIKey{ID: id, OrgID: orgID, Role: string(role), Subject: subject, Hash: hash, CreatedAt: e.now, CreatedBy: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return plain
}

func (e *env) org(name string) (orgID, adminKey string) {
	e.t.Helper()
	plain, id, hash, err := auth.NewAPIKey()
	if err != nil {
		e.t.Fatal(err)
	}
	o, err := e.store.Bootstrap(context.Background(), name, adherence.APIKey{ID: id, Role: "admin", Hash: hash, CreatedAt: e.now, CreatedBy: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return o.ID, plain
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object (%d): %s", r.status, r.body)
	}
	return m
}

func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.10:5000"
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: asProblem(e.t, rec.Code, rec.Header(), rec.Body.Bytes())}
}

// asProblem returns an OperationOutcome answered under /fhir/ (see
// httpx.FHIRErrors) as the problem it was made of, so that the tests of
// an error's field and detail read both alike: its issue's expression is
// the field, its diagnostics the detail. TestFHIRErrorsAreOperationOutcomes
// tests the OperationOutcome itself.
func asProblem(t testing.TB, status int, h http.Header, body []byte) []byte {
	t.Helper()
	if h.Get("Content-Type") != "application/fhir+json" || status < 400 {
		return body
	}
	var oo httpx.OperationOutcome
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
		t.Fatalf("a FHIR error that is not an OperationOutcome of one issue (%d): %s", status, body)
	}
	p := httpx.Problem{Status: status, Title: http.StatusText(status), Detail: oo.Issue[0].Diagnostics}
	if len(oo.Issue[0].Expression) > 0 {
		p.Field = oo.Issue[0].Expression[0]
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustDo performs a request and fails unless it returns want.
func (e *env) mustDo(method, path, token string, body any, want int) map[string]any {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(e.t)
}

func forEachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) { fn(t, newEnv(t, d)) })
}

// patientWithPlan enrols a patient (New York) with a daily 08:00 plan of
// lisinopril through the API and returns their ids.
func (e *env) patientWithPlan(admin string) (patientID, planID string) {
	p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
	patientID = p["id"].(string)
	pl := e.mustDo("POST", "/v1/patients/"+patientID+"/plans", admin, map[string]any{
		"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"}, "dose": "1 tablet",
		"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}, 201)
	return patientID, pl["id"].(string)
}
