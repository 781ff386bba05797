-- Adherence events, dose outcomes, matching windows and the outbox.
--
-- events is the durable record of what happened (app tap, SMS reply, smart
-- bottle opening, clinician entry). (org_id, source, client_event_id) is
-- the idempotency key: a retried request finds the original row.
-- dose_instances gains its outcome: status taken_on_time / taken_late /
-- skipped / missed, the event that decided it and when. outbox carries
-- dose.missed and dose.resolved records, written in the same transaction as
-- the change they announce, for the escalation engine.

-- +goose Up
CREATE TABLE org_settings (
    org_id              TEXT PRIMARY KEY REFERENCES orgs (id),
    on_time_minutes     INTEGER NOT NULL CHECK (on_time_minutes BETWEEN 0 AND 720),
    late_max_minutes    INTEGER NOT NULL CHECK (late_max_minutes BETWEEN 1 AND 1440),
    open_dedupe_minutes INTEGER NOT NULL CHECK (open_dedupe_minutes BETWEEN 0 AND 720),
    updated_at          TIMESTAMP NOT NULL,
    CHECK (late_max_minutes >= on_time_minutes)
);

ALTER TABLE plans ADD COLUMN on_time_minutes INTEGER;  -- NULL: org default
ALTER TABLE plans ADD COLUMN late_max_minutes INTEGER; -- NULL: org default
ALTER TABLE plans ADD COLUMN ingredient TEXT NOT NULL DEFAULT '';
ALTER TABLE plans ADD COLUMN drug_class TEXT NOT NULL DEFAULT '';

ALTER TABLE dose_instances ADD COLUMN event_id TEXT;
ALTER TABLE dose_instances ADD COLUMN taken_at TIMESTAMP;
ALTER TABLE dose_instances ADD COLUMN skip_reason TEXT;
ALTER TABLE dose_instances ADD COLUMN resolved_at TIMESTAMP;
ALTER TABLE dose_instances ADD COLUMN double_dose BOOLEAN NOT NULL DEFAULT 0;

-- The missed-dose job walks open instances in due order.
CREATE INDEX dose_instances_open ON dose_instances (due_at, id) WHERE status = 'scheduled';

CREATE TABLE events (
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
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id)
);

CREATE INDEX events_patient_time ON events (org_id, patient_id, occurred_at);
CREATE INDEX events_instance ON events (dose_instance_id) WHERE dose_instance_id IS NOT NULL;

-- Transactional outbox. (topic, dedupe_key) makes every announcement happen
-- once; processed_at is set by the consumer.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       TEXT NOT NULL,
    topic        TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    patient_id   TEXT,
    payload      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    processed_at TIMESTAMP,
    UNIQUE (topic, dedupe_key)
);

CREATE INDEX outbox_pending ON outbox (id) WHERE processed_at IS NULL;
CREATE INDEX outbox_org ON outbox (org_id, id);

-- +goose Down
DROP TABLE outbox;
DROP TABLE events;
DROP INDEX dose_instances_open;
ALTER TABLE dose_instances DROP COLUMN double_dose;
ALTER TABLE dose_instances DROP COLUMN resolved_at;
ALTER TABLE dose_instances DROP COLUMN skip_reason;
ALTER TABLE dose_instances DROP COLUMN taken_at;
ALTER TABLE dose_instances DROP COLUMN event_id;
ALTER TABLE plans DROP COLUMN drug_class;
ALTER TABLE plans DROP COLUMN ingredient;
ALTER TABLE plans DROP COLUMN late_max_minutes;
ALTER TABLE plans DROP COLUMN on_time_minutes;
DROP TABLE org_settings;
