package main

import (
	"os"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/server/servertest"
)

// built is the adherence binary the tests that run the real process share.
var built servertest.Binary

// adherenceBinary returns the path of the binary built from this package.
func adherenceBinary(t *testing.T) string {
	t.Helper()
	return built.Path(t, "adherence")
}

func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}
