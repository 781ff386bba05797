-- The adherence schema: organizations and their API keys, care-team members,
-- patients and their circles of care, medication plans with pharmacy fills,
-- and the materialised dose instances. Same tables as on PostgreSQL.
--
-- Every table carries org_id, and every reference between org-owned rows
-- goes through a composite foreign key on (org_id, id), so a row can never
-- point at a row of another organization. Ids are UUID text. Instants are
-- TIMESTAMP columns holding UTC text in the driver's sortable format
-- ("2006-01-02 15:04:05.999999999-07:00"); wall times of day (anchors, quiet
-- hours) are 'HH:MM' text. Booleans are 0/1.

-- +goose Up
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- api_keys.id is the public key id (part of the token); only the SHA-256 of
-- the secret is kept.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    role       TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    hash       BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE members (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    kind       TEXT NOT NULL CHECK (kind IN ('clinician', 'caregiver')),
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    active     BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE patients (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    given_name       TEXT NOT NULL,
    family_name      TEXT NOT NULL DEFAULT '',
    birth_date       TEXT NOT NULL DEFAULT '',
    phone            TEXT NOT NULL DEFAULT '',
    email            TEXT NOT NULL DEFAULT '',
    time_zone        TEXT NOT NULL,
    language         TEXT NOT NULL DEFAULT 'en',
    wake             TEXT NOT NULL,
    breakfast        TEXT NOT NULL,
    lunch            TEXT NOT NULL,
    dinner           TEXT NOT NULL,
    bed              TEXT NOT NULL,
    quiet_start      TEXT, -- NULL: no quiet hours
    quiet_end        TEXT,
    sms_consent      BOOLEAN NOT NULL DEFAULT 0,
    share_medication BOOLEAN NOT NULL DEFAULT 0,
    active           BOOLEAN NOT NULL DEFAULT 1,
    deactivated_at   TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, id), -- also the keyset index of patient lists
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE patient_links (
    org_id       TEXT NOT NULL,
    patient_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    relationship TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (patient_id, member_id),
    FOREIGN KEY (org_id, patient_id) REFERENCES patients (org_id, id),
    FOREIGN KEY (org_id, member_id) REFERENCES members (org_id, id)
);

CREATE INDEX patient_links_member ON patient_links (org_id, member_id, patient_id);

-- plans.timing is the FHIR R4 Timing as JSON. generated_until is the end of
-- the window for which dose instances have been materialised.
CREATE TABLE plans (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    rxnorm          TEXT NOT NULL,
    rxnorm_display  TEXT NOT NULL,
    dose            TEXT NOT NULL DEFAULT '',
    instructions    TEXT NOT NULL DEFAULT '',
    days_supply     INTEGER NOT NULL DEFAULT 0,
    as_needed       BOOLEAN NOT NULL DEFAULT 0,
    timing          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'paused', 'stopped')),
    start_at        TIMESTAMP NOT NULL,
    end_at          TIMESTAMP,
    generated_until TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, patient_id, id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, patient_id) REFERENCES patients (org_id, id)
);

-- fill_date is a calendar date, YYYY-MM-DD.
CREATE TABLE plan_fills (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    plan_id     TEXT NOT NULL,
    fill_date   TEXT NOT NULL CHECK (fill_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    days_supply INTEGER NOT NULL CHECK (days_supply > 0),
    quantity    REAL NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id)
);

CREATE INDEX plan_fills_plan ON plan_fills (org_id, plan_id, fill_date);
CREATE INDEX plan_fills_patient ON plan_fills (org_id, patient_id, fill_date);

-- One row per scheduled dose. Generation only ever inserts, revives
-- (excluded → scheduled) or deletes rows whose status is scheduled or
-- excluded; a row with an outcome (taken_on_time, missed, …) is history.
-- UNIQUE (plan_id, due_at) makes generation idempotent and doubles as the
-- (plan_id, due_at) index.
CREATE TABLE dose_instances (
    id         INTEGER PRIMARY KEY,
    org_id     TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    plan_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    due_at     TIMESTAMP NOT NULL,
    local_time TEXT NOT NULL, -- wall time in the patient's zone, 2006-01-02T15:04
    status     TEXT NOT NULL DEFAULT 'scheduled',
    created_at TIMESTAMP NOT NULL,
    UNIQUE (plan_id, due_at),
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id)
);

CREATE INDEX dose_instances_patient_due ON dose_instances (org_id, patient_id, due_at);

-- +goose Down
DROP TABLE dose_instances;
DROP TABLE plan_fills;
DROP TABLE plans;
DROP TABLE patient_links;
DROP TABLE patients;
DROP TABLE members;
DROP TABLE api_keys;
DROP TABLE orgs;
