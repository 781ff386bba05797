package store

// PaymentTotalsQuery exposes the query of PaymentTotals to the tests of
// package store_test, which look at its plan.
var PaymentTotalsQuery = paymentTotalsQuery
