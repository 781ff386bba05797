-- +goose Up
-- The plan foreign key of events is checked at COMMIT. SQLite keeps a
-- statement journal (a copy of every page a statement changes, written to
-- a temporary file) for each multi-row INSERT into a table with an
-- immediate foreign key, so that the statement alone can be undone if a
-- row breaks it: about a tenth of the writer's time on event batches.
-- RecordEvents checks every plan before it inserts, and a failed COMMIT
-- rolls the whole group back, so nothing is lost by checking later.
-- SQLite cannot change a constraint in place: the table is rebuilt. No
-- other table references events, so foreign keys may stay on.
CREATE TABLE events_new (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    patient_id       TEXT NOT NULL,
    plan_id          TEXT NOT NULL,
    requested_dose   INTEGER,           -- the dose instance the client named, if any
    dose_instance_id INTEGER,           -- the instance it matched; NULL for orphans
    kind             TEXT NOT NULL CHECK (kind IN ('taken', 'skipped', 'snoozed', 'opened')),
    reason           TEXT NOT NULL DEFAULT '',
    snooze_minutes   INTEGER,
    occurred_at      TIMESTAMP NOT NULL,
    received_at      TIMESTAMP NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('app', 'sms', 'device', 'clinician')),
    client_event_id  TEXT NOT NULL,
    device_id        TEXT NOT NULL DEFAULT '',
    result           TEXT NOT NULL,    -- scored, duplicate, recorded, orphan, as_needed
    dose_status      TEXT NOT NULL DEFAULT '', -- the instance status this event set, if it scored
    double_dose      BOOLEAN NOT NULL DEFAULT 0,
    actor_id         TEXT NOT NULL,
    request_id       TEXT NOT NULL DEFAULT '', -- the API request that recorded it (its audit record carries the same id)
    UNIQUE (org_id, source, client_event_id),
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO events_new SELECT id, org_id, patient_id, plan_id, requested_dose, dose_instance_id, kind, reason,
    snooze_minutes, occurred_at, received_at, source, client_event_id, device_id, result, dose_status,
    double_dose, actor_id, request_id FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_patient_time ON events (org_id, patient_id, occurred_at);
CREATE INDEX events_instance ON events (dose_instance_id) WHERE dose_instance_id IS NOT NULL;

-- +goose Down
CREATE TABLE events_old (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    patient_id       TEXT NOT NULL,
    plan_id          TEXT NOT NULL,
    requested_dose   INTEGER,
    dose_instance_id INTEGER,
    kind             TEXT NOT NULL CHECK (kind IN ('taken', 'skipped', 'snoozed', 'opened')),
    reason           TEXT NOT NULL DEFAULT '',
    snooze_minutes   INTEGER,
    occurred_at      TIMESTAMP NOT NULL,
    received_at      TIMESTAMP NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('app', 'sms', 'device', 'clinician')),
    client_event_id  TEXT NOT NULL,
    device_id        TEXT NOT NULL DEFAULT '',
    result           TEXT NOT NULL,
    dose_status      TEXT NOT NULL DEFAULT '',
    double_dose      BOOLEAN NOT NULL DEFAULT 0,
    actor_id         TEXT NOT NULL,
    request_id       TEXT NOT NULL DEFAULT '',
    UNIQUE (org_id, source, client_event_id),
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id)
);
INSERT INTO events_old SELECT id, org_id, patient_id, plan_id, requested_dose, dose_instance_id, kind, reason,
    snooze_minutes, occurred_at, received_at, source, client_event_id, device_id, result, dose_status,
    double_dose, actor_id, request_id FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_patient_time ON events (org_id, patient_id, occurred_at);
CREATE INDEX events_instance ON events (dose_instance_id) WHERE dose_instance_id IS NOT NULL;
