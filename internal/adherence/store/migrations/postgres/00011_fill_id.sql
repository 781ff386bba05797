-- +goose Up
-- The client's key of a pharmacy fill (the claim id, or the Rx number and
-- fill number), optional: a POST retried after a lost answer carries the
-- same fill_id and is answered with the fill already recorded instead of
-- recording it twice (a second copy would inflate the patient's PDC).
-- Unique per plan; fills without one are never compared.
ALTER TABLE plan_fills ADD COLUMN fill_id TEXT;
CREATE UNIQUE INDEX plan_fills_fill_id ON plan_fills (plan_id, fill_id) WHERE fill_id IS NOT NULL;

-- +goose Down
DROP INDEX plan_fills_fill_id;
ALTER TABLE plan_fills DROP COLUMN fill_id;
