package adherence

// DeliverArgs asks for notifications (rows of the notifications table) to
// be delivered. A job carries a batch so that a morning spike of reminders
// costs one queue round trip per batch, not per message; each notification
// is still claimed and recorded on its own.
type DeliverArgs struct {
	IDs []int64 `json:"ids"`
}

// Kind identifies the job in the queue.
func (DeliverArgs) Kind() string { return "deliver_notifications" }

// EscalationStepArgs asks for one escalation step to fire. Firing is
// idempotent: a step that is no longer pending is left alone, so a step
// re-driven by the stall sweeper while its first job still runs fires once.
type EscalationStepArgs struct {
	StepID int64 `json:"step_id"`
}

// Kind identifies the job in the queue.
func (EscalationStepArgs) Kind() string { return "escalation_step" }
