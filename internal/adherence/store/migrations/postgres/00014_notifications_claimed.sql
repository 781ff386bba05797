-- +goose Up
-- A delivery job claims its notifications as 'claimed' and moves each to
-- 'sending' only when it hands it to a provider, so that a job killed
-- mid-batch leaves in 'sending' only the messages a provider may have
-- taken. The reconciliation sweep looks for both states left behind
-- (store.RequeueClaimed, store.MarkUnknownSending): the in-flight index
-- covers 'claimed' too.
DROP INDEX notifications_in_flight;
CREATE INDEX notifications_in_flight ON notifications (status, updated_at) WHERE status IN ('claimed', 'sending', 'sent');

-- +goose Down
DROP INDEX notifications_in_flight;
CREATE INDEX notifications_in_flight ON notifications (status, updated_at) WHERE status IN ('sending', 'sent');
