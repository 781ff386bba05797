package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/api"
	"github.com/medplatform/medplatform/internal/adherence/ingest"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// failingRecorder fails every group: after ending the request's context
// (cancel, when set: the client gave up while the group waited), or not.
type failingRecorder struct{ cancel context.CancelFunc }

func (f failingRecorder) RecordEvents(context.Context, []store.EventInput) ([]store.EventOutcome, error) {
	if f.cancel != nil {
		f.cancel()
		return nil, context.Canceled
	}
	return nil, errors.New("connection reset by peer")
}

// TestAbandonedEventRequestIsNotAnError: an event request whose client
// gave up before its commit was confirmed is answered 503 and logged at
// WARN, as the retry the docs ask for is routine; a commit that failed
// with the request still live is logged at ERROR (QA: every abandoned
// request was an ERROR line).
func TestAbandonedEventRequestIsNotAnError(t *testing.T) {
	for _, abandoned := range []bool{true, false} {
		d := dbtest.SQLite(t, sets...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rec := failingRecorder{}
		if abandoned {
			rec.cancel = cancel
		}
		e := newEnvDeps(t, d, 0, func(deps *api.Deps) { deps.Ingest = ingest.New(rec, nil, 0) })
		_, admin := e.org("Log Org")
		patientID, planID := e.patientWithPlan(admin)
		body, _ := json.Marshal(map[string]any{"patientId": patientID, "planId": planID, "kind": "taken", "source": "app",
			"clientEventId": "c-1", "occurredAt": e.now.Add(-time.Minute).Format(time.RFC3339)})
		req := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(body)).WithContext(ctx)
		req.RemoteAddr = "192.0.2.10:5000"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code != 503 {
			t.Fatalf("abandoned=%v: %d %s, want 503", abandoned, w.Code, w.Body)
		}
		var line string
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, "record event failed") {
				line = l
			}
		}
		want := `"level":"ERROR"`
		if abandoned {
			want = `"level":"WARN"`
		}
		if !strings.Contains(line, want) {
			t.Errorf("abandoned=%v: log line %q, want it at %s", abandoned, line, want)
		}
	}
}
