package audit

// SetBatchSize makes Verify read n records per query until the returned
// function restores the default, so tests can cross batch boundaries with
// short chains.
func SetBatchSize(n int) (restore func()) {
	old := batchSize
	batchSize = n
	return func() { batchSize = old }
}
