-- Reminders, notification delivery, two-way SMS, consent and escalation.
--
-- A scheduled dose is "armed" with its first reminder time (remind_at) a
-- little ahead of time; the reminder job picks armed doses whose time has
-- come, decides (send, hold for quiet hours, drop, stop) and writes one
-- notification row per logical message together with the River job that
-- delivers it, in one transaction. notifications.idempotency_key makes each
-- logical message exist once; its status only moves forward. Delivery
-- status callbacks are all kept in notification_status_events. The consent
-- ledger is append-only: the newest row for an address is its state.
-- Escalations are opened from the dose.missed outbox and advance one level
-- at a time through escalation_steps, each with its due time.

-- +goose Up
CREATE TABLE org_messaging (
    org_id          TEXT PRIMARY KEY REFERENCES orgs (id),
    reminder_policy TEXT,            -- JSON remind.PolicyJSON; NULL: the built-in default
    program_name    TEXT NOT NULL DEFAULT '',
    help_contact    TEXT NOT NULL DEFAULT '',
    updated_at      TIMESTAMP NOT NULL
);

ALTER TABLE plans ADD COLUMN reminder_policy TEXT; -- JSON; NULL: the org's

ALTER TABLE patients ADD COLUMN push_token TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN channel_order TEXT NOT NULL DEFAULT ''; -- e.g. 'push,sms,email'; '': the policy's
ALTER TABLE patients ADD COLUMN medication_in_messages BOOLEAN NOT NULL DEFAULT 0;

CREATE INDEX patients_phone ON patients (phone) WHERE phone <> '';
CREATE INDEX members_phone ON members (phone) WHERE phone <> '';

ALTER TABLE dose_instances ADD COLUMN remind_at TIMESTAMP; -- next reminder; NULL: none pending
ALTER TABLE dose_instances ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;

CREATE INDEX dose_instances_remind ON dose_instances (remind_at) WHERE remind_at IS NOT NULL;

-- The single row says up to which due time doses have been armed.
CREATE TABLE reminder_arming (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    armed_until TIMESTAMP NOT NULL
);

CREATE TABLE message_templates (
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    kind       TEXT NOT NULL,
    language   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, kind, language, channel)
);

CREATE TABLE escalation_policies (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES orgs (id),
    name                   TEXT NOT NULL,
    trigger_kind           TEXT NOT NULL CHECK (trigger_kind IN ('missed_dose', 'missed_count', 'low_adherence')),
    trigger_count          INTEGER NOT NULL DEFAULT 0,
    trigger_window_minutes INTEGER NOT NULL DEFAULT 0,
    threshold              REAL NOT NULL DEFAULT 0,
    levels                 TEXT NOT NULL, -- JSON array of levels
    active                 BOOLEAN NOT NULL DEFAULT 1,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE escalations (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    patient_id       TEXT NOT NULL,
    policy_id        TEXT NOT NULL,
    dose_instance_id INTEGER,          -- the missed dose that opened it
    status           TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved', 'exhausted')),
    level            INTEGER NOT NULL DEFAULT 0, -- the last level fired
    opened_at        TIMESTAMP NOT NULL,
    closed_at        TIMESTAMP,
    closed_by        TEXT NOT NULL DEFAULT '',
    reason           TEXT NOT NULL DEFAULT '',
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, patient_id) REFERENCES patients (org_id, id),
    FOREIGN KEY (org_id, policy_id) REFERENCES escalation_policies (org_id, id)
);

-- One open escalation per policy and patient.
CREATE UNIQUE INDEX escalations_open ON escalations (policy_id, patient_id) WHERE status = 'open';
CREATE INDEX escalations_org ON escalations (org_id, opened_at);
CREATE INDEX escalations_patient ON escalations (org_id, patient_id, opened_at);

CREATE TABLE escalation_steps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        TEXT NOT NULL,
    escalation_id TEXT NOT NULL,
    level         INTEGER NOT NULL,
    due_at        TIMESTAMP NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
    fired_at      TIMESTAMP,
    redriven      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (escalation_id, level),
    FOREIGN KEY (org_id, escalation_id) REFERENCES escalations (org_id, id)
);

CREATE INDEX escalation_steps_pending ON escalation_steps (due_at) WHERE status = 'pending';

CREATE TABLE notifications (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id              TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    kind                TEXT NOT NULL,          -- reminder, escalation, reply
    template            TEXT NOT NULL,          -- remind.Kind
    patient_id          TEXT,                   -- the patient it is about
    member_id           TEXT,                   -- the recipient when a member; NULL: the patient (or an address)
    dose_instance_id    INTEGER,
    escalation_id       TEXT,
    level               INTEGER NOT NULL DEFAULT 0, -- escalation level
    address             TEXT NOT NULL DEFAULT '', -- explicit recipient (reply to a number, webhook URL)
    channels            TEXT NOT NULL,          -- channels to try, in order
    urgent              BOOLEAN NOT NULL DEFAULT 0,
    status              TEXT NOT NULL,
    reason              TEXT NOT NULL DEFAULT '',
    due_at              TIMESTAMP NOT NULL,   -- when it was meant to go
    valid_until         TIMESTAMP,
    attempts            INTEGER NOT NULL DEFAULT 0,
    channel             TEXT NOT NULL DEFAULT '',
    provider            TEXT NOT NULL DEFAULT '',
    provider_message_id TEXT NOT NULL DEFAULT '',
    provider_status     TEXT NOT NULL DEFAULT '',
    accepted_at         TIMESTAMP,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (org_id, idempotency_key)
);

CREATE INDEX notifications_patient ON notifications (org_id, patient_id, id);
CREATE INDEX notifications_escalation ON notifications (escalation_id) WHERE escalation_id IS NOT NULL;
CREATE INDEX notifications_provider_id ON notifications (provider_message_id) WHERE provider_message_id <> '';
CREATE INDEX notifications_in_flight ON notifications (status, updated_at) WHERE status IN ('sending', 'sent');

CREATE TABLE notification_status_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id     INTEGER,         -- NULL when the message is unknown here
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    error_code          TEXT NOT NULL DEFAULT '',
    source              TEXT NOT NULL,  -- callback, reconcile
    received_at         TIMESTAMP NOT NULL
);

CREATE INDEX notification_status_events_notification ON notification_status_events (notification_id, id);

-- address_key is the SHA-256 (hex) of the channel address (E.164 number):
-- the ledger can be searched by number without keeping the numbers.
CREATE TABLE consent_ledger (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id              TEXT,
    patient_id          TEXT,
    member_id           TEXT,
    channel             TEXT NOT NULL,
    address_key         TEXT NOT NULL,
    action              TEXT NOT NULL CHECK (action IN ('opt_out', 'opt_in')),
    source              TEXT NOT NULL,  -- sms_keyword, api
    keyword             TEXT NOT NULL DEFAULT '',
    provider_message_id TEXT NOT NULL DEFAULT '',
    actor               TEXT NOT NULL DEFAULT '',
    recorded_at         TIMESTAMP NOT NULL
);

CREATE INDEX consent_ledger_address ON consent_ledger (channel, address_key, id);
CREATE INDEX consent_ledger_patient ON consent_ledger (org_id, patient_id, id);

-- Inbound messages, one row per provider message: a webhook retried by
-- the provider finds its row and changes nothing.
CREATE TABLE inbound_messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    address_key         TEXT NOT NULL,
    org_id              TEXT,
    patient_id          TEXT,
    member_id           TEXT,
    reply_kind          TEXT NOT NULL,
    result              TEXT NOT NULL,
    event_id            TEXT,
    received_at         TIMESTAMP NOT NULL,
    UNIQUE (provider, provider_message_id)
);

-- The hourly limit on automatic answers looks up a number's recent texts.
CREATE INDEX inbound_messages_address ON inbound_messages (address_key, received_at);

-- +goose Down
DROP TABLE inbound_messages;
DROP TABLE consent_ledger;
DROP TABLE notification_status_events;
DROP TABLE notifications;
DROP TABLE escalation_steps;
DROP TABLE escalations;
DROP TABLE escalation_policies;
DROP TABLE message_templates;
DROP TABLE reminder_arming;
DROP INDEX dose_instances_remind;
ALTER TABLE dose_instances DROP COLUMN reminders_sent;
ALTER TABLE dose_instances DROP COLUMN remind_at;
DROP INDEX members_phone;
DROP INDEX patients_phone;
ALTER TABLE patients DROP COLUMN medication_in_messages;
ALTER TABLE patients DROP COLUMN channel_order;
ALTER TABLE patients DROP COLUMN push_token;
ALTER TABLE plans DROP COLUMN reminder_policy;
DROP TABLE org_messaging;
