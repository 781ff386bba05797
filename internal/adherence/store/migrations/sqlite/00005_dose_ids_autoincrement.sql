-- +goose Up
-- A dose instance id names one dose for good: events (dose_instance_id,
-- requested_dose), notification keys (reminder:<dose>:<n>), outbox keys,
-- escalations and clients hold on to it. Without AUTOINCREMENT, SQLite
-- gives a new row max(id) + 1, so deleting the newest doses (a plan
-- stopped, a timing change regenerating future doses) handed their ids to
-- the next doses generated, another patient's included: an event kept for
-- a deleted dose then named someone else's dose, and resuming that plan
-- scored it. AUTOINCREMENT never reuses an id, as PostgreSQL's identity
-- never does. SQLite cannot change a primary key in place: the table is
-- rebuilt, and the sequence starts after the largest id handed out so far.
-- No other table references dose_instances, so foreign keys may stay on.
CREATE TABLE dose_instances_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    plan_id        TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    due_at         TIMESTAMP NOT NULL,
    local_time     TEXT NOT NULL, -- wall time in the patient's zone, 2006-01-02T15:04
    status         TEXT NOT NULL DEFAULT 'scheduled',
    created_at     TIMESTAMP NOT NULL,
    event_id       TEXT,
    taken_at       TIMESTAMP,
    skip_reason    TEXT,
    resolved_at    TIMESTAMP,
    double_dose    BOOLEAN NOT NULL DEFAULT 0,
    remind_at      TIMESTAMP, -- next reminder; NULL: none pending
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    UNIQUE (plan_id, due_at),
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id)
);
INSERT INTO dose_instances_new (id, org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at,
    event_id, taken_at, skip_reason, resolved_at, double_dose, remind_at, reminders_sent)
SELECT id, org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at,
    event_id, taken_at, skip_reason, resolved_at, double_dose, remind_at, reminders_sent FROM dose_instances;
DROP TABLE dose_instances;
ALTER TABLE dose_instances_new RENAME TO dose_instances;
CREATE INDEX dose_instances_patient_due ON dose_instances (org_id, patient_id, due_at);
CREATE INDEX dose_instances_open ON dose_instances (due_at, id) WHERE status = 'scheduled';
CREATE INDEX dose_instances_remind ON dose_instances (remind_at) WHERE remind_at IS NOT NULL;
-- Ids deleted before this migration may have been handed out beyond the
-- largest one left; events, notifications and escalations still name them.
DELETE FROM sqlite_sequence WHERE name = 'dose_instances';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'dose_instances', MAX(m) FROM (
    SELECT COALESCE(MAX(id), 0) AS m FROM dose_instances
    UNION ALL SELECT COALESCE(MAX(dose_instance_id), 0) FROM events
    UNION ALL SELECT COALESCE(MAX(requested_dose), 0) FROM events
    UNION ALL SELECT COALESCE(MAX(dose_instance_id), 0) FROM notifications
    UNION ALL SELECT COALESCE(MAX(dose_instance_id), 0) FROM escalations
);

-- +goose Down
CREATE TABLE dose_instances_old (
    id             INTEGER PRIMARY KEY,
    org_id         TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    plan_id        TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    due_at         TIMESTAMP NOT NULL,
    local_time     TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'scheduled',
    created_at     TIMESTAMP NOT NULL,
    event_id       TEXT,
    taken_at       TIMESTAMP,
    skip_reason    TEXT,
    resolved_at    TIMESTAMP,
    double_dose    BOOLEAN NOT NULL DEFAULT 0,
    remind_at      TIMESTAMP,
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    UNIQUE (plan_id, due_at),
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id)
);
INSERT INTO dose_instances_old SELECT id, org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at,
    event_id, taken_at, skip_reason, resolved_at, double_dose, remind_at, reminders_sent FROM dose_instances;
DROP TABLE dose_instances;
ALTER TABLE dose_instances_old RENAME TO dose_instances;
CREATE INDEX dose_instances_patient_due ON dose_instances (org_id, patient_id, due_at);
CREATE INDEX dose_instances_open ON dose_instances (due_at, id) WHERE status = 'scheduled';
CREATE INDEX dose_instances_remind ON dose_instances (remind_at) WHERE remind_at IS NOT NULL;
