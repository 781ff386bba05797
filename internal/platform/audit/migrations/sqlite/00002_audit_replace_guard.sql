-- SQLite's REPLACE (INSERT OR REPLACE, REPLACE INTO) removes the row it
-- conflicts with without firing DELETE triggers (unless recursive_triggers
-- is on), so it rewrote an audit record, or moved the chain head back, past
-- the guards of 00001: the whole chain from a record on could be rewritten
-- and a new head appended without audit verify noticing. An insert whose
-- seq or id is already taken is refused before the conflict is resolved,
-- and audit_head, which holds its one row from 00001, takes no insert.
-- RAISE(FAIL) rather than ABORT keeps appends free of a statement journal;
-- the appender's transaction rolls back on any error anyway.

-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
    OR EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(FAIL, 'audit_log is append-only: a record cannot be replaced');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
BEGIN
    SELECT RAISE(FAIL, 'audit_head only advances, to the last appended record');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_head_no_insert;
DROP TRIGGER audit_log_no_replace;
