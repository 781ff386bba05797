package main

import (
	"testing"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestDatabaseURLSetting runs the DATABASE_URL cases both products share
// (dbtest.DatabaseURLSetting), with datasets as the command that needs the
// migrated database.
func TestDatabaseURLSetting(t *testing.T) {
	dbtest.DatabaseURLSetting(t, run, []string{"datasets"})
}
