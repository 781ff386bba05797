package main

import (
	"testing"

	"github.com/medplatform/medplatform/internal/platform/server/servertest"
)

func TestHealthcheckReadsListenAddrFile(t *testing.T) {
	servertest.HealthcheckReadsListenAddrFile(t, run)
}

func TestHealthcheckRefusesABadURL(t *testing.T) {
	servertest.HealthcheckRefusesABadURL(t, run, "medsales")
}
