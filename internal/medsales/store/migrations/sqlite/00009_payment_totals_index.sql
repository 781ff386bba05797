-- The provider profile's Open Payments totals (Store.PaymentTotals) sum a
-- provider's payments by program year and manufacturer. With only (npi,
-- program_year) in the index, each payment was a lookup of its table row,
-- and a recipient's payments lie scattered over the table (the file is
-- not sorted by recipient). With the columns grouped and summed in the
-- index (SQLite has no INCLUDE: they are key columns), the totals read the
-- provider's entries of the index alone, in group order.

-- +goose Up
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year, manufacturer_name, amount, n_payments);

-- +goose Down
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year);
