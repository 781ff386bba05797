package store

// PaymentTotalsQuery exposes the query of PaymentTotals to the tests of
// package store_test, which look at its plan.
var PaymentTotalsQuery = paymentTotalsQuery

// AppendSQLiteTime and SQLiteTimeLayout are how the SQLite bulk load writes
// timestamps.
var AppendSQLiteTime = appendSQLiteTime

const SQLiteTimeLayout = sqliteTimeLayout
