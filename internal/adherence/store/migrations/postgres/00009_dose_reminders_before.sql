-- +goose Up
-- A dose excluded (its plan paused, its patient deactivated) and revived as
-- scheduled is reminded from scratch, as its policy says for a new dose.
-- reminders_sent keeps counting every reminder of the dose, so that the
-- notification keys (reminder:<dose>:<n>) of its new life do not meet
-- those of its earlier one; reminders_before is how many of them went
-- before its latest revival. What the policy counts (the first reminder,
-- the maximum) is reminders_sent - reminders_before.
ALTER TABLE dose_instances ADD COLUMN reminders_before INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE dose_instances DROP COLUMN reminders_before;
