package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// apiKey stores a key of role for the fixture's org, expiring at exp when
// set, and returns its id.
func (f *fixture) apiKey(role string, exp *time.Time) string {
	f.t.Helper()
	_, id, hash, err := auth.NewAPIKey()
	if err != nil {
		f.t.Fatal(err)
	}
	k := adherence.APIKey{ID: id, OrgID: f.org, Role: role, Hash: hash, CreatedAt: f.now, CreatedBy: "test", ExpiresAt: exp}
	if err := f.s.CreateAPIKey(f.ctx, f.actor, k); err != nil {
		f.t.Fatalf("create API key: %v", err)
	}
	return id
}

// TestRevokeLastAdminKey checks that the org's last active admin key
// cannot be revoked (nothing could issue keys for the org afterwards),
// while other keys, and admin keys with an active admin key left, can.
func TestRevokeLastAdminKey(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a1 := f.apiKey("admin", nil)
		a2 := f.apiKey("admin", nil)
		integ := f.apiKey("integration", nil)
		soon := f.now.Add(time.Hour)
		expiring := f.apiKey("admin", &soon)

		// A non-admin key is revoked whatever admin keys exist.
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, f.org, integ); err != nil {
			t.Fatalf("revoke integration key: %v", err)
		}
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, f.org, a1); err != nil {
			t.Fatalf("revoke one of three admin keys: %v", err)
		}
		// Once the expiring key has expired, a2 is the last active one.
		f.now = soon
		err := f.s.RevokeAPIKey(f.ctx, f.actor, f.org, a2)
		wantCode(t, err, errs.CodeConflict)
		var e *errs.Error
		if !errors.As(err, &e) || e.Message == "" {
			t.Fatalf("conflict without a message: %v", err)
		}
		// The expired admin key itself may be revoked, and revoking a
		// revoked key still changes nothing.
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, f.org, expiring); err != nil {
			t.Fatalf("revoke expired admin key: %v", err)
		}
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, f.org, a1); err != nil {
			t.Fatalf("revoke a revoked key again: %v", err)
		}
		keys, err := f.s.ListAPIKeys(f.ctx, f.org, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.ID == a2 && k.RevokedAt != nil {
				t.Fatal("the last active admin key was revoked")
			}
		}
		// With another admin key issued, a2 may go.
		f.apiKey("admin", nil)
		if err := f.s.RevokeAPIKey(f.ctx, f.actor, f.org, a2); err != nil {
			t.Fatalf("revoke admin key after issuing another: %v", err)
		}
		// Another org's admin keys do not count for this one.
		other, _ := f.otherOrg()
		org := f.org
		f.org = other
		f.apiKey("admin", nil)
		f.org = org
		keys, _ = f.s.ListAPIKeys(f.ctx, f.org, "", 0)
		for _, k := range keys {
			if k.Role == "admin" && k.RevokedAt == nil && (k.ExpiresAt == nil || k.ExpiresAt.After(f.now)) {
				wantCode(t, f.s.RevokeAPIKey(f.ctx, f.actor, f.org, k.ID), errs.CodeConflict)
			}
		}
	})
}

// TestRevokeLastAdminKeysConcurrently revokes an org's last two admin keys
// at the same time, many times over: exactly one revocation may succeed.
func TestRevokeLastAdminKeysConcurrently(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for round := range 20 {
			o, err := f.s.CreateOrg(f.ctx, fmt.Sprintf("Race %d", round))
			if err != nil {
				t.Fatal(err)
			}
			f.org = o.ID
			keys := []string{f.apiKey("admin", nil), f.apiKey("admin", nil)}
			var wg sync.WaitGroup
			results := make([]error, len(keys))
			start := make(chan struct{})
			for i, id := range keys {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = f.s.RevokeAPIKey(f.ctx, f.actor, o.ID, id)
				}()
			}
			close(start)
			wg.Wait()
			ok, conflicts := 0, 0
			for _, err := range results {
				switch {
				case err == nil:
					ok++
				case errs.Is(err, errs.CodeConflict):
					conflicts++
				default:
					t.Fatalf("round %d: revoke: %v", round, err)
				}
			}
			if ok != 1 || conflicts != 1 {
				t.Fatalf("round %d: %d revocations succeeded and %d conflicted, want 1 and 1", round, ok, conflicts)
			}
		}
	})
}
