-- +goose Up
-- The events' foreign key to their plan is replaced by triggers that keep
-- the same promise — every event names an existing plan of its patient and
-- organization — without locking the plan once per inserted event.
--
-- A foreign key checks each inserted row by itself: its RI trigger runs
-- SELECT … FOR KEY SHARE on the plan, executor start included, for every
-- row, and the plans of a busy organization are share-locked by every
-- group of events in flight (a MultiXact per plan row). Recording events
-- already locks each plan it names once, FOR KEY SHARE (store.planReads),
-- and takes each event's organization and patient from the plan row it
-- read. In bench/events (batches of 500, 16 clients) the per-row checks
-- cost about a third of the throughput: 23,772 and 25,491 events/s with
-- the foreign key, 34,210 and 32,642 without it, binaries alternating on
-- the same machine.
--
-- Instead:
--  * events_plan_exists checks the rows a statement inserted all at once
--    (a transition table joined to plans), without locks;
--  * plans are never deleted and never change id, org_id or patient_id
--    (nothing in the product does either: a plan is stopped, not removed),
--    so a plan found at insert stays what the event refers to; nor does an
--    event change its org_id, patient_id or plan_id.
-- SQLite keeps its deferred foreign key: its check is an index probe per
-- row that takes no row lock.
ALTER TABLE events DROP CONSTRAINT events_org_id_patient_id_plan_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION events_plan_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT n.id, n.plan_id INTO bad FROM new_events n
    WHERE NOT EXISTS (SELECT 1 FROM plans p WHERE p.id = n.plan_id AND p.org_id = n.org_id AND p.patient_id = n.patient_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'event % names plan %, which is not a plan of its patient and organization', bad.id, bad.plan_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER events_plan_exists AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_plan_check();

-- +goose StatementBegin
CREATE FUNCTION keep_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER plans_no_delete BEFORE DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION keep_references('plans are not deleted: events refer to them (stop a plan instead)');
CREATE TRIGGER plans_keep_keys BEFORE UPDATE OF id, org_id, patient_id ON plans
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.org_id IS DISTINCT FROM OLD.org_id
        OR NEW.patient_id IS DISTINCT FROM OLD.patient_id)
    EXECUTE FUNCTION keep_references('a plan keeps its id, org_id and patient_id: events refer to them');
CREATE TRIGGER events_keep_plan BEFORE UPDATE OF org_id, patient_id, plan_id ON events
    FOR EACH ROW WHEN (NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
        OR NEW.plan_id IS DISTINCT FROM OLD.plan_id)
    EXECUTE FUNCTION keep_references('an event keeps its org_id, patient_id and plan_id');

-- +goose Down
DROP TRIGGER events_keep_plan ON events;
DROP TRIGGER plans_keep_keys ON plans;
DROP TRIGGER plans_no_delete ON plans;
DROP FUNCTION keep_references();
DROP TRIGGER events_plan_exists ON events;
DROP FUNCTION events_plan_check();
ALTER TABLE events ADD CONSTRAINT events_org_id_patient_id_plan_id_fkey
    FOREIGN KEY (org_id, patient_id, plan_id) REFERENCES plans (org_id, patient_id, id);
