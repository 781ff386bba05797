package api

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	platformdb "github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

// TestWebhookURLSchemeMessage: a webhook level's URL with a scheme the
// server does not take (ftp://), or not absolute, is a 400 naming
// levels[i].url whose message names the schemes taken with the server's
// WEBHOOK_ALLOW_HTTP: https only without it, http or https with it. With
// http allowed, ftp:// was told "must be an absolute https URL", as if
// http:// would be refused too. Nothing is stored.
func TestWebhookURLSchemeMessage(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		clock := func() time.Time { return e.now }
		authn, err := auth.NewAuthenticator(e.st, nil, ratelimit.NewMemory(clock), clock)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			allowHTTP   bool
			want, avoid string
		}{
			{false, "must be an absolute https URL (http:// needs WEBHOOK_ALLOW_HTTP=true", "http or https"},
			{true, "must be an absolute http or https URL", "must be an absolute https URL"},
		} {
			s := &server{Deps: Deps{Store: e.st, Audit: e.al, Auth: authn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock,
				WebhookAllowHTTP: c.allowHTTP}}
			mux := httpx.NewMux()
			s.escalationRoutes(mux)
			e.h = mux
			for _, u := range []string{"ftp://care.example.org/hook", "FTP://care.example.org/hook", "care.example.org/hook", "https:care.example.org", "gopher://x"} {
				body := map[string]any{
					"name":    "Hook",
					"trigger": map[string]any{"kind": "missed_dose"},
					"levels": []any{
						map[string]any{"afterMinutes": 0, "recipients": "caregivers", "channels": []string{"sms"}},
						map[string]any{"afterMinutes": 30, "recipients": "webhook", "url": u},
					},
				}
				p := e.do("POST", "/v1/escalation-policies", admin, body, 400)
				detail, _ := p["detail"].(string)
				if p["field"] != "levels[1].url" || !strings.Contains(detail, c.want) || strings.Contains(detail, c.avoid) {
					t.Errorf("WEBHOOK_ALLOW_HTTP=%t, url %q: %v, want levels[1].url: %s…", c.allowHTTP, u, p, c.want)
				}
			}
		}
		if got := e.do("GET", "/v1/escalation-policies", admin, nil, 200); len(got["policies"].([]any)) != 0 {
			t.Fatalf("policies stored after the refusals: %v", got)
		}
	})
}
