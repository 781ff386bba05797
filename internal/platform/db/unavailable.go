package db

import (
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable reports whether err says that the database cannot be
// reached now — a connection refused, cut or timed out, a server shutting
// down or not yet accepting connections (SQLSTATE class 08, 57P01–57P03)
// — rather than that a statement failed. The request may succeed later:
// the API answers 503 with Retry-After, not a 500 that says "our bug, do
// not retry" and sends on-call after a defect that is an outage (QA).
// So is a database out of resources (SQLSTATE class 53: disk full, out of
// memory, too many connections; SQLite's SQLITE_FULL): every write fails
// until an operator frees space, and then succeeds without a restart (QA:
// event ingestion answered 503 on a full disk, every other write 500).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL // the primary code of an extended one
	}
	var ne *net.OpError
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn)
}
