package migrate_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestHealthCheck: down while migrations are pending, up once applied;
// a current schema is trusted for HealthRecheck, then asked again, so a
// database that went away (or was restored from an older snapshot) is
// reported down.
func TestHealthCheck(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "m.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	check := migrate.HealthCheck(d, func() time.Time { return now }, audit.Migrations)
	if _, err := check.Run(ctx); err == nil {
		t.Fatal("check passed with migrations pending")
	}
	if _, err := migrate.Up(ctx, d, audit.Migrations); err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(ctx); err != nil {
		t.Fatalf("check after migrating: %v", err)
	}
	d.Close()
	now = now.Add(migrate.HealthRecheck - time.Second)
	if _, err := check.Run(ctx); err != nil {
		t.Fatalf("check within %s of the last: %v, want the schema still trusted", migrate.HealthRecheck, err)
	}
	now = now.Add(time.Second)
	if _, err := check.Run(ctx); err == nil {
		t.Fatalf("check %s after the last, the database closed: passed, want it asked again and down", migrate.HealthRecheck)
	}
}

// TestConcurrentUp: several processes (here: separate handles, each with
// its own connections and file descriptors) migrating one fresh database
// at once all succeed, on both engines — as ECS tasks starting together do.
func TestConcurrentUp(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			url := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
			if engine == "postgres" {
				url = dbtest.PostgresURL(t)
			}
			ctx := context.Background()
			const n = 4
			handles := make([]*db.DB, n)
			for i := range handles {
				d, err := db.Open(ctx, url, db.Options{MaxConns: 4})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				handles[i] = d
			}
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, d := range handles {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = migrate.Up(ctx, d, audit.Migrations)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("migration %d of %d: %v", i+1, n, err)
				}
			}
			if pending, err := migrate.Pending(ctx, handles[0], audit.Migrations); err != nil || pending {
				t.Errorf("pending after the runs = %v, %v", pending, err)
			}
		})
	}
}
