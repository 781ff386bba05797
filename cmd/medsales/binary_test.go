package main

import (
	"os"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/server/servertest"
)

// built is the medsales binary the tests that run the real process share.
var built servertest.Binary

// medsalesBinary returns the path of the binary built from this package.
func medsalesBinary(t *testing.T) string {
	t.Helper()
	return built.Path(t, "medsales")
}

func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}
