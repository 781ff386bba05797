-- Instants that releases before 2026-12-06 wrote in a local offset.
--
-- The SQLite driver wrote a time.Time in its own zone, and instants are
-- compared as text: a reminder held for quiet hours in a zone east of UTC
-- (remind_at '2026-12-07 08:35:00+13:00') read as later than every UTC now
-- of that day, and was never sent, not even dropped. The connections
-- write UTC since; this rewrites, in UTC, the instants the scheduling
-- compares as text that an earlier release may have written in an offset:
-- a reminder held then went out after the upgrade only a day late (QA).
-- strftime reads the offset and gives the UTC wall time; the fraction is
-- kept to the millisecond (the driver writes it without trailing zeros).

-- +goose Up
UPDATE dose_instances SET remind_at = strftime('%Y-%m-%d %H:%M:%S', remind_at) || CASE WHEN substr(strftime('%f', remind_at), 4) = '000' THEN '' ELSE '.' || rtrim(substr(strftime('%f', remind_at), 4), '0') END || '+00:00'
WHERE remind_at IS NOT NULL AND remind_at NOT LIKE '%+00:00';
UPDATE notifications SET due_at = strftime('%Y-%m-%d %H:%M:%S', due_at) || CASE WHEN substr(strftime('%f', due_at), 4) = '000' THEN '' ELSE '.' || rtrim(substr(strftime('%f', due_at), 4), '0') END || '+00:00'
WHERE due_at IS NOT NULL AND due_at NOT LIKE '%+00:00';
UPDATE notifications SET valid_until = strftime('%Y-%m-%d %H:%M:%S', valid_until) || CASE WHEN substr(strftime('%f', valid_until), 4) = '000' THEN '' ELSE '.' || rtrim(substr(strftime('%f', valid_until), 4), '0') END || '+00:00'
WHERE valid_until IS NOT NULL AND valid_until NOT LIKE '%+00:00';
UPDATE escalation_steps SET due_at = strftime('%Y-%m-%d %H:%M:%S', due_at) || CASE WHEN substr(strftime('%f', due_at), 4) = '000' THEN '' ELSE '.' || rtrim(substr(strftime('%f', due_at), 4), '0') END || '+00:00'
WHERE due_at IS NOT NULL AND due_at NOT LIKE '%+00:00';
UPDATE reminder_arming SET armed_until = strftime('%Y-%m-%d %H:%M:%S', armed_until) || CASE WHEN substr(strftime('%f', armed_until), 4) = '000' THEN '' ELSE '.' || rtrim(substr(strftime('%f', armed_until), 4), '0') END || '+00:00'
WHERE armed_until IS NOT NULL AND armed_until NOT LIKE '%+00:00';

-- +goose Down
-- Nothing to undo: the instants are the same, written in UTC.
SELECT 1;
