package store

import (
	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// EventKeyLookup returns the statements RecordEvents runs to find the
// earlier recordings of the keys of in, for tests that read their plans.
func EventKeyLookup(d db.Dialect, in []EventInput) []db.Statement {
	return eventKeyReads(d, in, map[eventKey]adherence.Event{})
}

// CohortCountsSQL is the query of CohortCounts on dialect d, for tests
// that read its plan.
func CohortCountsSQL(d db.Dialect) string { return cohortCountsSQL(d) }

// IndexedPlans returns the statement RecordEvents starts its transaction
// with on PostgreSQL (none on SQLite), for tests that read plans under it.
func IndexedPlans(d db.Dialect) []db.Statement { return indexedPlans(d) }
