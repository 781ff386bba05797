-- The audit trail: an append-only, hash-chained log of PHI access.
-- seq is assigned by the appender (previous + 1); audit_head holds the last
-- seq and hash so an append reads the chain head in O(1), and appenders
-- serialize on its row lock (SELECT ... FOR UPDATE).

-- +goose Up
CREATE TABLE audit_log (
    seq           BIGINT PRIMARY KEY CHECK (seq > 0),
    id            TEXT NOT NULL UNIQUE,
    at            TIMESTAMPTZ NOT NULL,
    org_id        TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_role    TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL CHECK (action IN ('C', 'R', 'U', 'D', 'E')),
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL DEFAULT '',
    patient_id    TEXT,
    outcome       SMALLINT NOT NULL CHECK (outcome IN (0, 4, 8, 12)),
    request_id    TEXT NOT NULL DEFAULT '',
    client_addr   TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);

CREATE INDEX audit_log_org_seq ON audit_log (org_id, seq);
CREATE INDEX audit_log_org_at ON audit_log (org_id, at);
CREATE INDEX audit_log_org_patient ON audit_log (org_id, patient_id, seq);
CREATE INDEX audit_log_org_actor ON audit_log (org_id, actor_id, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Guards: rows of audit_log are never changed or removed, and the head only
-- advances, to a record that exists with the same hash. They stop mistakes and casual tampering;
-- the hash chain (Log.Verify) catches whoever disables them first.

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose StatementBegin
CREATE FUNCTION audit_head_advance_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <= OLD.seq
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RAISE EXCEPTION 'audit_head only advances, to the last appended record';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_advance_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_advance_only();

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP FUNCTION audit_head_advance_only();
DROP FUNCTION audit_log_append_only();
