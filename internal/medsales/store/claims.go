package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// The claims and payments tables (migration 00003_claims) and the columns
// the loaders write, in the order of their RowWriter.Write calls.

func nuccTable() Table {
	return Table{Name: "nucc_taxonomy", Columns: []string{
		"code", "grouping", "classification", "specialization", "definition", "notes", "display_name", "section",
	}}
}

func partBTable() Table {
	return Table{Name: "partb_services", Columns: []string{
		"npi", "hcpcs_code", "hcpcs_desc", "drug_ind", "place_of_service", "tot_benes", "tot_srvcs",
		"tot_bene_day_srvcs", "avg_sbmtd_chrg", "avg_mdcr_alowd_amt", "avg_mdcr_pymt_amt", "avg_mdcr_stdzd_amt",
		"data_year",
	}}
}

func partDTable() Table {
	return Table{Name: "partd_drugs", Columns: []string{
		"npi", "brnd_name", "gnrc_name", "tot_clms", "tot_30day_fills", "tot_day_suply", "tot_drug_cst",
		"tot_benes", "ge65_sprsn_flag", "ge65_tot_clms", "ge65_tot_30day_fills", "ge65_tot_drug_cst",
		"ge65_tot_day_suply", "ge65_bene_sprsn_flag", "ge65_tot_benes", "data_year",
	}}
}

func openPaymentsTable() Table {
	return Table{Name: "open_payments", Columns: []string{
		"record_id", "npi", "profile_id", "manufacturer_id", "manufacturer_name", "amount", "payment_date",
		"n_payments", "form", "nature", "products", "program_year", "change_type",
	}}
}

// LoadNUCC replaces the whole NUCC taxonomy with the file in.Reader.
//
// Like every loader it reads the header first and refuses a file that
// lacks a required column before writing anything; rejects malformed rows
// (written to in.Rejects with their line and reason); fails, leaving the
// live data unchanged, when the share of rejected rows exceeds
// in.MaxRejectRatio; and otherwise swaps the new rows in in one
// transaction that also runs in.Finalize.
func (s *Store) LoadNUCC(ctx context.Context, in LoadInput) (LoadResult, error) {
	if err := fullOnly(in); err != nil {
		return LoadResult{}, err
	}
	r, err := dataset.NewNUCCReader(in.Reader, in.File)
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	rep, err := s.beginLoad(ctx, []Table{nuccTable()}, ReplaceOptions{})
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Writer(nuccTable().Name)
	tally := NewTally(in)
	row := make([]any, 0, len(nuccTable().Columns)) // reused: Write copies the values
	var t medsales.Taxonomy
	for r.Next() {
		tally.Row()
		if err := r.Taxonomy(&t); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		row = append(row[:0], t.Code, nullString(t.Grouping), nullString(t.Classification),
			nullString(t.Specialization), nullString(t.Definition), nullString(t.Notes),
			nullString(t.DisplayName), nullString(t.Section))
		if err := w.Write(row...); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, r.Line(), err)
		}
		tally.Loaded++
	}
	return finish(ctx, in, r, tally, rep, 0, uniqueKey{nuccTable().Name, "code", "taxonomy code", "Code"})
}

// LoadPartB replaces one data year of CMS Medicare Part B service lines
// with the file in.Reader, leaving other years alone. The data year is
// in.DataYear, else the one the file name carries ("…_D24_…" → 2024); a
// load with neither fails, asking for --data-year. See LoadNUCC for
// rejects, the reject threshold and the swap.
func (s *Store) LoadPartB(ctx context.Context, in LoadInput) (LoadResult, error) {
	if err := fullOnly(in); err != nil {
		return LoadResult{}, err
	}
	year, err := loadYear(in, dataset.DataYearFromName, "data year")
	if err != nil {
		return LoadResult{}, err
	}
	r, err := dataset.NewPartBReader(in.Reader, in.File, year)
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	table := partBTable()
	rep, err := s.beginLoad(ctx, []Table{table}, ReplaceOptions{ScopeColumn: "data_year", ScopeValue: int64(year)})
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Writer(table.Name)
	tally := NewTally(in)
	y := int64(year)
	row := make([]any, 0, len(table.Columns)) // reused: Write copies the values
	var l medsales.ServiceLine
	for r.Next() {
		tally.Row()
		if err := r.Service(&l); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		drug := "N"
		if l.DrugIndicator {
			drug = "Y"
		}
		row = append(row[:0], l.NPI, l.HCPCSCode, nullString(l.HCPCSDescription), drug, l.PlaceOfService,
			nullInt(l.TotalBeneficiaries), l.Services, l.BeneficiaryDayServices,
			nullString(l.AvgSubmittedCharge), nullString(l.AvgAllowedAmount),
			nullString(l.AvgPaymentAmount), nullString(l.AvgStandardizedAmount), y)
		if err := w.Write(row...); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, r.Line(), err)
		}
		tally.Loaded++
	}
	return finish(ctx, in, r, tally, rep, year)
}

// LoadPartD replaces one data year of CMS Medicare Part D drug lines with
// the file in.Reader, leaving other years alone. The data year is
// in.DataYear, else the one the file name carries ("…_DY24_…" → 2024); a
// load with neither fails, asking for --data-year. See LoadNUCC for
// rejects, the reject threshold and the swap.
func (s *Store) LoadPartD(ctx context.Context, in LoadInput) (LoadResult, error) {
	if err := fullOnly(in); err != nil {
		return LoadResult{}, err
	}
	year, err := loadYear(in, dataset.DataYearFromName, "data year")
	if err != nil {
		return LoadResult{}, err
	}
	r, err := dataset.NewPartDReader(in.Reader, in.File, year)
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	table := partDTable()
	rep, err := s.beginLoad(ctx, []Table{table}, ReplaceOptions{ScopeColumn: "data_year", ScopeValue: int64(year)})
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Writer(table.Name)
	tally := NewTally(in)
	y := int64(year)
	row := make([]any, 0, len(table.Columns)) // reused: Write copies the values
	var l medsales.DrugLine
	for r.Next() {
		tally.Row()
		if err := r.Drug(&l); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		if err := checkIndexed("Gnrc_Name", len(l.GenericName), r.ColumnName); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		row = append(row[:0], l.NPI, nullString(l.BrandName), nullString(l.GenericName), l.TotalClaims,
			l.Total30DayFills, l.TotalDaySupply, l.TotalDrugCost, nullInt(l.TotalBeneficiaries),
			nullString(l.GE65SuppressionFlag), nullInt(l.GE65TotalClaims), nullDecimal(l.GE65Total30DayFills),
			nullDecimal(l.GE65TotalDrugCost), nullInt(l.GE65TotalDaySupply),
			nullString(l.GE65BeneSuppressionFlag), nullInt(l.GE65TotalBeneficiaries), y)
		if err := w.Write(row...); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, r.Line(), err)
		}
		tally.Loaded++
	}
	return finish(ctx, in, r, tally, rep, year)
}

// LoadOpenPayments replaces one program year of CMS Open Payments general
// payments with the file in.Reader, leaving other years alone: a January
// refresh re-publishes a year and replaces it whole. The program year is
// in.DataYear, else the one the file name carries ("…_PGYR2024_…"), else
// the Program_Year of the first valid row. Rows of another program year
// are rejected. Payments to teaching hospitals have no NPI and are kept
// with a NULL npi. A Record_ID that occurs twice in the file fails the
// load with an error naming the file and the Record_ID. See LoadNUCC for
// rejects, the reject threshold and the swap.
func (s *Store) LoadOpenPayments(ctx context.Context, in LoadInput) (LoadResult, error) {
	if err := fullOnly(in); err != nil {
		return LoadResult{}, err
	}
	year, err := loadYear(in, dataset.ProgramYearFromName, "")
	if err != nil {
		return LoadResult{}, err
	}
	r, err := dataset.NewOpenPaymentsReader(in.Reader, in.File)
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	tally := NewTally(in)
	var p medsales.Payment
	pending := false // p holds a parsed row not written yet
	if year == 0 {
		// Neither the caller nor the file name says which program year
		// this is: take the first valid row's.
		for !pending && r.Next() {
			tally.Row()
			if err := r.Payment(&p); err != nil {
				tally.Reject(r.Line(), err.Error())
				continue
			}
			year, pending = p.ProgramYear, true
		}
		if err := r.Err(); err != nil {
			return LoadResult{}, err
		}
		if !pending {
			return LoadResult{}, errs.Invalid("dataYear",
				"%s: no valid row to take the program year from and none in the file name: give the year (--data-year, dataYear in POST /v1/ingestions, or year=YYYY in an INGEST_SCHEDULE entry)", in.File)
		}
	}
	table := openPaymentsTable()
	rep, err := s.beginLoad(ctx, []Table{table}, ReplaceOptions{ScopeColumn: "program_year", ScopeValue: int64(year)})
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Writer(table.Name)
	y := int64(year)
	row := make([]any, 0, len(table.Columns)) // reused: Write copies the values
	for pending || r.Next() {
		if !pending {
			tally.Row()
			if err := r.Payment(&p); err != nil {
				tally.Reject(r.Line(), err.Error())
				continue
			}
		}
		pending = false
		if err := checkIndexed("Record_ID", len(p.RecordID), r.ColumnName); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		// The name is in open_payments_npi's entries too (for the totals).
		if err := checkIndexed("Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name", len(p.ManufacturerName), r.ColumnName); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		if p.ProgramYear != year {
			tally.Reject(r.Line(), fmt.Sprintf("%s %d is not the program year %d being loaded", r.ColumnName("Program_Year"), p.ProgramYear, year))
			continue
		}
		var products any
		if len(p.Products) > 0 {
			b, err := json.Marshal(p.Products)
			if err != nil {
				return LoadResult{}, fmt.Errorf("%s: line %d: encode products: %w", in.File, r.Line(), err)
			}
			products = string(b)
		}
		row = append(row[:0], p.RecordID, nullString(p.NPI), nullString(p.RecipientProfileID),
			nullString(p.ManufacturerID), nullString(p.ManufacturerName), p.Amount, p.Date.Time,
			p.NumberOfPayments, nullString(p.Form), nullString(p.Nature), products, y,
			nullString(p.ChangeType))
		if err := w.Write(row...); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, r.Line(), err)
		}
		tally.Loaded++
	}
	// A Record_ID repeated within the program year fails the load (the
	// unique index open_payments_record) rather than being rejected: a
	// national file has ~15 million rows, too many to remember every ID
	// while reading.
	return finish(ctx, in, r, tally, rep, year, uniqueKey{table.Name, "record_id", "Record_ID", "Record_ID"})
}

// beginLoad drops the staging tables of killed loads, then starts the
// Replace of a load.
func (s *Store) beginLoad(ctx context.Context, tables []Table, opts ReplaceOptions) (*Replace, error) {
	if err := s.DropStaleStaging(ctx); err != nil {
		return nil, err
	}
	return s.BeginReplace(ctx, tables, opts)
}

// finish ends a load once the reader stopped: it fails on a read error or
// when too many rows were rejected (the deferred Abort then drops the
// staged rows and the live data stays as it was), and otherwise swaps the
// staged rows in, running in.Finalize in the same transaction. A key of
// keys that the file repeats fails the load with an error naming the file
// and the key (see duplicateError).
func finish(ctx context.Context, in LoadInput, rd rowReader, tally *Tally, rep *Replace, year int, keys ...uniqueKey) (LoadResult, error) {
	if err := rd.Err(); err != nil {
		return LoadResult{}, err
	}
	tally.Skipped = rd.Skipped()
	if err := tally.Done(); err != nil {
		return tally.Result(year), &errs.Error{Code: errs.CodeInvalid, Message: err.Error()}
	}
	res := tally.Result(year)
	err := rep.Commit(ctx, func(tx *db.Tx) error {
		if in.Finalize == nil {
			return nil
		}
		return in.Finalize(tx, res)
	})
	if err != nil {
		if derr := duplicateError(ctx, in, rep, keys, err); derr != nil {
			return LoadResult{}, derr
		}
		return LoadResult{}, fmt.Errorf("%s: %w", in.File, err)
	}
	return res, nil
}

// fullOnly refuses an input without a reader and a load mode other than
// full: the claims datasets are published whole, never as increments.
func fullOnly(in LoadInput) error {
	if in.Reader == nil {
		return fmt.Errorf("%s: no input to read", in.File)
	}
	mode, err := in.mode()
	if err != nil {
		return errs.Invalid("mode", "%v", err)
	}
	if mode != ModeFull {
		return errs.Invalid("mode", "%s: this dataset only loads whole files (mode %q)", in.File, ModeFull)
	}
	return nil
}

// YearFromName returns the data (program) year the name of a file of
// dataset d carries, the one its load uses when no year is given:
// "…_D24_…" and "…_DY24_…" for Part B and Part D, "…_PGYR2024_…" for Open
// Payments, "2024_Gaz_…" for the ZCTA gazetteer. ok is false when the name
// carries none or d is not loaded by year.
func YearFromName(d medsales.Dataset, file string) (year int, ok bool) {
	switch d {
	case medsales.PartB, medsales.PartD:
		return dataset.DataYearFromName(file)
	case medsales.OpenPayments:
		return dataset.ProgramYearFromName(file)
	case medsales.ZCTA:
		return gazetteerYear(file)
	}
	return 0, false
}

// loadYear returns the data (program) year of a load: in.DataYear, else
// the year fromName finds in the file name. When both are given they must
// agree. With neither, it fails asking for --data-year when what names the
// year, and returns 0 (decide later) when what is "".
func loadYear(in LoadInput, fromName func(string) (int, bool), what string) (int, error) {
	named, ok := fromName(in.File)
	switch {
	case in.DataYear != 0 && (in.DataYear < 2000 || in.DataYear > 2999):
		return 0, errs.Invalid("dataYear", "%s: %d is not a data year", in.File, in.DataYear)
	case in.DataYear != 0 && ok && named != in.DataYear:
		return 0, errs.Invalid("dataYear", "%s: the file name says %d, the data year given (--data-year or dataYear) says %d", in.File, named, in.DataYear)
	case in.DataYear != 0:
		return in.DataYear, nil
	case ok:
		return named, nil
	case what == "":
		return 0, nil
	}
	return 0, errs.Invalid("dataYear", "%s: the file name carries no %s: give it (--data-year, dataYear in POST /v1/ingestions, or year=YYYY in an INGEST_SCHEDULE entry)", in.File, what)
}

// wrongFile marks a header error (missing columns: a file of another
// dataset) as the caller's fault, keeping the message (which names the
// file and the missing columns) and errors.Is(err, dataset.ErrWrongFile).
func wrongFile(err error) error {
	if !errors.Is(err, dataset.ErrWrongFile) {
		return err
	}
	msg := err.Error()
	if trimmed, ok := strings.CutSuffix(msg, ": "+dataset.ErrWrongFile.Error()); ok {
		return &errs.Error{Code: errs.CodeInvalid, Message: trimmed, Err: dataset.ErrWrongFile}
	}
	// A layout missing a few of the dataset's columns, or naming one
	// twice: as much the caller's input, but not another dataset's file.
	return &errs.Error{Code: errs.CodeInvalid, Message: msg}
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullInt maps nil to NULL.
func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// nullDecimal maps nil to NULL.
func nullDecimal(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// defaultTopLimit is how many lines TopServices and TopDrugs return when
// asked for none.
const defaultTopLimit = 10

// maxTopLimit caps TopServices and TopDrugs.
const maxTopLimit = 1000

func topLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return defaultTopLimit, nil
	case limit < 0 || limit > maxTopLimit:
		return 0, errs.Invalid("limit", "must be between 1 and %d", maxTopLimit)
	}
	return limit, nil
}

// TopServices returns a provider's Part B service lines of the latest data
// year loaded for that provider, by number of services (descending), then
// by HCPCS code and place of service (byte order, on both engines), at
// most limit of them (0 means 10). A provider without Part B lines has
// none: the result is empty, not an error.
func (s *Store) TopServices(ctx context.Context, npi string, limit int) ([]medsales.ServiceLine, error) {
	limit, err := topLimit(limit)
	if err != nil {
		return nil, err
	}
	out := []medsales.ServiceLine{}
	if err := runReads(ctx, s.reader(), []db.Statement{s.topServicesRead(npi, limit, &out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// topServicesRead is the query of TopServices, appending to *out. The
// decimals are cast to text in the query: PostgreSQL then renders them
// itself (pgx's own scan of a NUMERIC into a string drops the trailing
// zeros of 0.00, which database/sql's does not), and SQLite keeps them as
// the TEXT they are.
func (s *Store) topServicesRead(npi string, limit int, out *[]medsales.ServiceLine) db.Statement {
	return db.Statement{Name: "top services", SQL: s.byteOrder(`
		SELECT npi, hcpcs_code, hcpcs_desc, drug_ind, place_of_service, tot_benes, CAST(tot_srvcs AS TEXT),
		       tot_bene_day_srvcs, CAST(avg_sbmtd_chrg AS TEXT), CAST(avg_mdcr_alowd_amt AS TEXT),
		       CAST(avg_mdcr_pymt_amt AS TEXT), CAST(avg_mdcr_stdzd_amt AS TEXT), data_year
		FROM partb_services
		WHERE npi = $1 AND data_year = (SELECT MAX(data_year) FROM partb_services WHERE npi = $1)
		ORDER BY ` + s.numericOrder("partb_services.tot_srvcs") + ` DESC, hcpcs_code {{bytes}}, place_of_service {{bytes}}
		LIMIT $2`), Args: []any{npi, limit},
		Scan: eachRow(func(sc Scanner) error {
			var l medsales.ServiceLine
			var desc, drug, sub, allowed, paid, std sql.NullString
			var benes, dayServices sql.NullInt64
			if err := sc.Scan(&l.NPI, &l.HCPCSCode, &desc, &drug, &l.PlaceOfService, &benes, &l.Services,
				&dayServices, &sub, &allowed, &paid, &std, &l.DataYear); err != nil {
				return err
			}
			l.HCPCSDescription, l.DrugIndicator = desc.String, drug.String == "Y"
			l.TotalBeneficiaries, l.BeneficiaryDayServices = intPtr(benes), dayServices.Int64
			l.AvgSubmittedCharge, l.AvgAllowedAmount = sub.String, allowed.String
			l.AvgPaymentAmount, l.AvgStandardizedAmount = paid.String, std.String
			*out = append(*out, l)
			return nil
		})}
}

// TopDrugs returns a provider's Part D drug lines of the latest data year
// loaded for that provider, by number of claims (descending), then by
// generic and brand name (a missing name last, on both engines), at most
// limit of them (0 means 10). A provider without Part D lines has none.
func (s *Store) TopDrugs(ctx context.Context, npi string, limit int) ([]medsales.DrugLine, error) {
	limit, err := topLimit(limit)
	if err != nil {
		return nil, err
	}
	out := []medsales.DrugLine{}
	if err := runReads(ctx, s.reader(), []db.Statement{s.topDrugsRead(npi, limit, &out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// topDrugsRead is the query of TopDrugs, appending to *out; decimals are
// cast to text as in topServicesRead.
func (s *Store) topDrugsRead(npi string, limit int, out *[]medsales.DrugLine) db.Statement {
	return db.Statement{Name: "top drugs", SQL: s.byteOrder(`
		SELECT npi, brnd_name, gnrc_name, tot_clms, CAST(tot_30day_fills AS TEXT), tot_day_suply, CAST(tot_drug_cst AS TEXT),
		       tot_benes, ge65_sprsn_flag, ge65_tot_clms, CAST(ge65_tot_30day_fills AS TEXT), CAST(ge65_tot_drug_cst AS TEXT),
		       ge65_tot_day_suply, ge65_bene_sprsn_flag, ge65_tot_benes, data_year
		FROM partd_drugs
		WHERE npi = $1 AND data_year = (SELECT MAX(data_year) FROM partd_drugs WHERE npi = $1)
		ORDER BY tot_clms DESC, gnrc_name {{bytes}} NULLS LAST, brnd_name {{bytes}} NULLS LAST
		LIMIT $2`), Args: []any{npi, limit},
		Scan: eachRow(func(sc Scanner) error {
			var l medsales.DrugLine
			var brand, generic, fills, cost, flag, fills65, cost65, beneFlag sql.NullString
			var supply, benes, claims65, supply65, benes65 sql.NullInt64
			if err := sc.Scan(&l.NPI, &brand, &generic, &l.TotalClaims, &fills, &supply, &cost,
				&benes, &flag, &claims65, &fills65, &cost65, &supply65, &beneFlag, &benes65, &l.DataYear); err != nil {
				return err
			}
			l.BrandName, l.GenericName = brand.String, generic.String
			l.Total30DayFills, l.TotalDaySupply, l.TotalDrugCost = fills.String, supply.Int64, cost.String
			l.TotalBeneficiaries = intPtr(benes)
			l.GE65SuppressionFlag, l.GE65TotalClaims = flag.String, intPtr(claims65)
			l.GE65Total30DayFills, l.GE65TotalDrugCost = stringPtr(fills65), stringPtr(cost65)
			l.GE65TotalDaySupply = intPtr(supply65)
			l.GE65BeneSuppressionFlag, l.GE65TotalBeneficiaries = beneFlag.String, intPtr(benes65)
			*out = append(*out, l)
			return nil
		})}
}

// byteOrder returns query with each {{bytes}} replaced by what makes an
// ORDER BY key compare text by its bytes, as SQLite's BINARY collation
// does: COLLATE "C" on PostgreSQL, whose columns otherwise sort by the
// database's default collation (a linguistic one puts "iRhythm" among the
// I's), nothing on SQLite. The "top" lists then break ties, and cut at
// their limit, the same way on both engines.
// numericOrder is the expression that orders a non-negative decimal
// column by value the same way on both engines: as a double, which is what
// SQLite reads its TEXT as, so that values a double cannot tell apart tie
// on both and fall to the next key alike. On PostgreSQL the NUMERIC is
// capped at 1e308 first: a value the loader takes but no double holds
// failed the cast, and the query (QA). Name the column with its table: in
// ORDER BY, PostgreSQL takes a bare name for the output column of that
// name, the TEXT the query selects.
func (s *Store) numericOrder(column string) string {
	if s.db.Dialect == db.SQLite {
		return "CAST(" + column + " AS REAL)"
	}
	return "CAST(LEAST(" + column + ", 1e308) AS DOUBLE PRECISION)"
}

func (s *Store) byteOrder(query string) string {
	c := ""
	if s.db.Dialect != db.SQLite {
		c = `COLLATE "C"`
	}
	return strings.ReplaceAll(query, "{{bytes}}", c)
}

// PaymentTotals returns a provider's Open Payments general payments summed
// by program year and manufacturer: newest year first, then by amount
// (descending), then by manufacturer name. Amounts are exact on
// PostgreSQL; SQLite sums whole cents in double precision, exact up to
// 2^53 cents, so totals and their order match PostgreSQL's (amounts that
// cancel out total 0.00, not a -0.00 that sorts below another zero).
func (s *Store) PaymentTotals(ctx context.Context, npi string) ([]medsales.PaymentTotal, error) {
	out := []medsales.PaymentTotal{}
	if err := runReads(ctx, s.reader(), []db.Statement{s.paymentTotalsRead(npi, &out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// paymentTotalsRead is the query of PaymentTotals, appending to *out.
func (s *Store) paymentTotalsRead(npi string, out *[]medsales.PaymentTotal) db.Statement {
	return db.Statement{Name: "payment totals", SQL: paymentTotalsQuery(s.db.Dialect), Args: []any{npi},
		Scan: eachRow(func(sc Scanner) error {
			var t medsales.PaymentTotal
			if err := sc.Scan(&t.Year, &t.Manufacturer, &t.Amount, &t.Count); err != nil {
				return err
			}
			*out = append(*out, t)
			return nil
		})}
}

// paymentTotalsQuery is the query of PaymentTotals on dialect d. It reads
// only columns that the index open_payments_npi holds, so that the
// database reads a provider's entries of that index and never the table:
// a large recipient's payments lie scattered over the table (the file is
// not sorted by recipient), one page each. It groups by the index's own
// columns, so that the groups come in the index's order (SQLite then
// needs no temporary B-tree for them); a missing manufacturer name is
// always NULL (the loader stores none as ""), so grouping by the column
// is grouping by what the answer shows. The total is text on both
// engines (cast on PostgreSQL, see topServicesRead).
func paymentTotalsQuery(d db.Dialect) string {
	if d == db.SQLite {
		return `
		SELECT program_year, COALESCE(manufacturer_name, ''), printf('%.2f', SUM(ROUND(CAST(amount AS REAL) * 100)) / 100.0),
		       COALESCE(SUM(n_payments), 0)
		FROM open_payments
		WHERE npi = $1
		GROUP BY program_year, manufacturer_name
		ORDER BY program_year DESC, SUM(ROUND(CAST(amount AS REAL) * 100)) DESC, COALESCE(manufacturer_name, '')`
	}
	return `
		SELECT program_year, COALESCE(manufacturer_name, ''), CAST(ROUND(SUM(amount), 2) AS TEXT),
		       COALESCE(SUM(n_payments), 0)
		FROM open_payments
		WHERE npi = $1
		GROUP BY program_year, manufacturer_name
		ORDER BY program_year DESC, SUM(amount) DESC, COALESCE(manufacturer_name, '') COLLATE "C"`
}

// taxonomyChunk is how many codes one Taxonomies query asks for.
const taxonomyChunk = 500

// Taxonomies returns the NUCC taxonomy entries of the given codes, keyed
// by code. Codes the loaded taxonomy does not know are simply absent.
func (s *Store) Taxonomies(ctx context.Context, codes []string) (map[string]medsales.Taxonomy, error) {
	out := make(map[string]medsales.Taxonomy, len(codes))
	seen := make(map[string]bool, len(codes))
	uniq := make([]string, 0, len(codes))
	for _, c := range codes {
		if c != "" && !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	for start := 0; start < len(uniq); start += taxonomyChunk {
		chunk := uniq[start:min(start+taxonomyChunk, len(uniq))]
		var q strings.Builder
		q.WriteString(`SELECT code, grouping, classification, specialization, definition, notes, display_name, section
			FROM nucc_taxonomy WHERE code IN (`)
		args := make([]any, len(chunk))
		for i, c := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "$%d", i+1)
			args[i] = c
		}
		q.WriteString(")")
		if err := s.scanTaxonomies(ctx, q.String(), args, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) scanTaxonomies(ctx context.Context, query string, args []any, out map[string]medsales.Taxonomy) error {
	rows, err := s.reader().QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("taxonomies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t medsales.Taxonomy
		var f [7]sql.NullString
		if err := rows.Scan(&t.Code, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6]); err != nil {
			return fmt.Errorf("taxonomies: %w", err)
		}
		t.Grouping, t.Classification, t.Specialization = f[0].String, f[1].String, f[2].String
		t.Definition, t.Notes, t.DisplayName, t.Section = f[3].String, f[4].String, f[5].String, f[6].String
		out[t.Code] = t
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("taxonomies: %w", err)
	}
	return nil
}

func intPtr(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

func stringPtr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}
