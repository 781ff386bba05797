package migrate_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestHealthCheck: down while migrations are pending, up once applied.
func TestHealthCheck(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "m.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	check := migrate.HealthCheck(d, audit.Migrations)
	if _, err := check.Run(ctx); err == nil {
		t.Fatal("check passed with migrations pending")
	}
	if _, err := migrate.Up(ctx, d, audit.Migrations); err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(ctx); err != nil {
		t.Fatalf("check after migrating: %v", err)
	}
}
