-- The provider profile's Open Payments totals (Store.PaymentTotals) sum a
-- provider's payments by program year and manufacturer. With only (npi,
-- program_year) in the index, each payment was a read of its table page,
-- and a recipient's payments lie scattered over the table (the file is
-- not sorted by recipient): 20,000 payments took 142 ms at the median in
-- bench/profile. With the columns grouped and summed in the index, the
-- totals are an index-only scan of the provider's entries, in group order
-- (the loads write the rows frozen, so no table page is visited). The
-- loader rejects a manufacturer name over 1,000 bytes, as for every
-- indexed value.
--
-- Dropping the partitioned index drops the partitions' indexes; creating
-- it builds one per partition, renamed as 00006_claims_partitions does.

-- +goose Up
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year, manufacturer_name) INCLUDE (amount, n_payments);
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT pi.relname AS idx, pt.relname AS part
        FROM pg_inherits h
        JOIN pg_class pi ON pi.oid = h.inhrelid
        JOIN pg_index px ON px.indexrelid = pi.oid
        JOIN pg_class pt ON pt.oid = px.indrelid
        WHERE h.inhparent = 'open_payments_npi'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.idx, r.part || '_npi');
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year);
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT pi.relname AS idx, pt.relname AS part
        FROM pg_inherits h
        JOIN pg_class pi ON pi.oid = h.inhrelid
        JOIN pg_index px ON px.indexrelid = pi.oid
        JOIN pg_class pt ON pt.oid = px.indrelid
        WHERE h.inhparent = 'open_payments_npi'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.idx, r.part || '_npi');
    END LOOP;
END
$$;
-- +goose StatementEnd
