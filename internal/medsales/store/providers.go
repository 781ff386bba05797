package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// ProviderColumns is the SELECT list that ScanProvider reads, in order,
// for queries on the providers table (optionally qualified by an alias,
// see ProviderColumnsOf).
const ProviderColumns = `npi, entity_type, replacement_npi, ein, org_name,
	last_name, first_name, middle_name, name_prefix, name_suffix, credential,
	other_org_name, other_org_name_type, other_last_name, other_first_name, other_middle_name,
	other_name_prefix, other_name_suffix, other_credential, other_last_name_type,
	mail_line1, mail_line2, mail_city, mail_state, mail_postal_code, mail_country, mail_phone, mail_fax,
	practice_line1, practice_line2, practice_city, practice_state, practice_postal_code, practice_country,
	practice_phone, practice_fax,
	enumeration_date, last_update_date, deactivation_reason, deactivation_date, reactivation_date, certification_date,
	sex, ao_last_name, ao_first_name, ao_middle_name, ao_title, ao_phone, ao_name_prefix, ao_name_suffix, ao_credential,
	sole_proprietor, org_subpart, parent_org_lbn, parent_org_tin, primary_taxonomy,
	practice_lat, practice_lon, coord_source`

// Scanner is a *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// ScanProvider reads one row selected with ProviderColumns.
func ScanProvider(sc Scanner) (medsales.Provider, error) {
	var (
		p                                       medsales.Provider
		entity                                  sql.NullInt64
		s                                       [51]sql.NullString
		enum, update, deact, react, cert        sql.NullTime
		lat, lon                                sql.NullFloat64
		ao                                      medsales.AuthorizedOfficial
		mail, prac                              medsales.Address
		deactReason, sex, coordSource, npi, ein sql.NullString
	)
	err := sc.Scan(&npi, &entity, &s[0], &ein, &s[1],
		&s[2], &s[3], &s[4], &s[5], &s[6], &s[7],
		&s[8], &s[9], &s[10], &s[11], &s[12],
		&s[13], &s[14], &s[15], &s[16],
		&s[17], &s[18], &s[19], &s[20], &s[21], &s[22], &s[23], &s[24],
		&s[25], &s[26], &s[27], &s[28], &s[29], &s[30],
		&s[31], &s[32],
		&enum, &update, &deactReason, &deact, &react, &cert,
		&sex, &s[33], &s[34], &s[35], &s[36], &s[37], &s[38], &s[39], &s[40],
		&s[41], &s[42], &s[43], &s[44], &s[45],
		&lat, &lon, &coordSource)
	if err != nil {
		return medsales.Provider{}, err
	}
	mail = medsales.Address{Line1: s[17].String, Line2: s[18].String, City: s[19].String, State: s[20].String,
		PostalCode: s[21].String, Country: s[22].String, Phone: s[23].String, Fax: s[24].String}
	prac = medsales.Address{Line1: s[25].String, Line2: s[26].String, City: s[27].String, State: s[28].String,
		PostalCode: s[29].String, Country: s[30].String, Phone: s[31].String, Fax: s[32].String}
	ao = medsales.AuthorizedOfficial{LastName: s[33].String, FirstName: s[34].String, MiddleName: s[35].String,
		Title: s[36].String, Phone: s[37].String, NamePrefix: s[38].String, NameSuffix: s[39].String, Credential: s[40].String}
	p = medsales.Provider{
		NPI: npi.String, EntityType: int(entity.Int64), ReplacementNPI: s[0].String, EIN: ein.String,
		OrganizationName: s[1].String, LastName: s[2].String, FirstName: s[3].String, MiddleName: s[4].String,
		NamePrefix: s[5].String, NameSuffix: s[6].String, Credential: s[7].String,
		OtherOrganizationName: s[8].String, OtherOrganizationNameType: s[9].String, OtherLastName: s[10].String,
		OtherFirstName: s[11].String, OtherMiddleName: s[12].String, OtherNamePrefix: s[13].String,
		OtherNameSuffix: s[14].String, OtherCredential: s[15].String, OtherLastNameType: s[16].String,
		MailingAddress: mail, PracticeAddress: prac,
		EnumerationDate: datePtr(enum), LastUpdateDate: datePtr(update), DeactivationReason: deactReason.String,
		DeactivationDate: datePtr(deact), ReactivationDate: datePtr(react), CertificationDate: datePtr(cert),
		Sex:            sex.String,
		SoleProprietor: s[41].String, OrganizationSubpart: s[42].String, ParentOrgLBN: s[43].String, ParentOrgTIN: s[44].String,
		PrimaryTaxonomy: s[45].String,
		CoordSource:     coordSource.String,
	}
	if ao != (medsales.AuthorizedOfficial{}) {
		p.AuthorizedOfficial = &ao
	}
	if lat.Valid && lon.Valid {
		p.PracticeLat, p.PracticeLon = &lat.Float64, &lon.Float64
	}
	return p, nil
}

// datePtr returns a DATE column's value as a calendar date, or nil for
// NULL. Both engines hand the date back as midnight UTC (SQLite as the
// time the loader wrote, PostgreSQL's DATE as midnight UTC).
func datePtr(t sql.NullTime) *medsales.Date {
	if !t.Valid {
		return nil
	}
	return medsales.DatePtr(t.Time.UTC())
}

// Provider returns everything known about one NPI: the provider, its
// taxonomies with their NUCC names, other identifiers, secondary practice
// locations, other names and endpoints. It fails with errs.CodeInvalid for
// a malformed NPI and errs.CodeNotFound when the NPI is not loaded.
func (s *Store) Provider(ctx context.Context, npi string) (*medsales.ProviderDetail, error) {
	if err := dataset.CheckNPI([]byte(npi)); err != nil {
		return nil, errs.Invalid("npi", "%v", err)
	}
	d := &medsales.ProviderDetail{}
	found := false
	reads := providerReads(npi, d, &found)
	q := s.reader()
	// The provider first: an NPI not loaded needs no more queries.
	if err := runReads(ctx, q, reads[:1]); err != nil {
		return nil, err
	}
	if !found {
		return nil, errs.NotFound("provider")
	}
	if err := runReads(ctx, q, reads[1:]); err != nil {
		return nil, err
	}
	return d, nil
}

// providerReads returns the queries of Provider for npi, each filling its
// part of d: first the providers row, which sets *found when there is
// one (and resets d's lists to empty ones), then the taxonomies with
// their NUCC names, other identifiers, practice locations, other names
// and endpoints. Profile sends them with the claims queries in one round
// trip, Provider one by one.
func providerReads(npi string, d *medsales.ProviderDetail, found *bool) []db.Statement {
	return []db.Statement{
		{Name: "read provider", SQL: "SELECT " + ProviderColumns + " FROM providers WHERE npi = $1", Args: []any{npi},
			Scan: func(rows db.Rows) error {
				if !rows.Next() {
					return nil
				}
				p, err := ScanProvider(rows)
				if err != nil {
					return err
				}
				*d = medsales.ProviderDetail{Provider: p,
					Taxonomies: []medsales.ProviderTaxonomy{}, Identifiers: []medsales.OtherIdentifier{},
					PracticeLocations: []medsales.PracticeLocation{}, OtherNames: []medsales.OtherName{}, Endpoints: []medsales.Endpoint{}}
				*found = true
				return nil
			}},
		{Name: "read provider taxonomies", SQL: `SELECT t.slot, t.code, t.license, t.license_state, t.is_primary, t.taxonomy_group,
			n.grouping, n.classification, n.specialization, n.display_name
		FROM provider_taxonomies t LEFT JOIN nucc_taxonomy n ON n.code = t.code
		WHERE t.npi = $1 ORDER BY t.slot`, Args: []any{npi},
			Scan: eachRow(func(sc Scanner) error {
				var x medsales.ProviderTaxonomy
				var f [7]sql.NullString
				if err := sc.Scan(&x.Slot, &x.Code, &f[0], &f[1], &x.Primary, &f[2], &f[3], &f[4], &f[5], &f[6]); err != nil {
					return err
				}
				x.License, x.LicenseState, x.Group = f[0].String, f[1].String, f[2].String
				x.Grouping, x.Classification, x.Specialization, x.DisplayName = f[3].String, f[4].String, f[5].String, f[6].String
				d.Taxonomies = append(d.Taxonomies, x)
				return nil
			})},
		{Name: "read provider identifiers", SQL: `SELECT slot, identifier, type_code, state, issuer FROM provider_identifiers WHERE npi = $1 ORDER BY slot`,
			Args: []any{npi},
			Scan: eachRow(func(sc Scanner) error {
				var x medsales.OtherIdentifier
				var typ, state, issuer sql.NullString
				if err := sc.Scan(&x.Slot, &x.Identifier, &typ, &state, &issuer); err != nil {
					return err
				}
				x.TypeCode, x.State, x.Issuer = typ.String, state.String, issuer.String
				d.Identifiers = append(d.Identifiers, x)
				return nil
			})},
		{Name: "read practice locations", SQL: `SELECT seq, line1, line2, city, state, postal_code, country, phone, phone_ext, fax, lat, lon, coord_source
		FROM practice_locations WHERE npi = $1 ORDER BY seq`, Args: []any{npi},
			Scan: eachRow(func(sc Scanner) error {
				var l medsales.PracticeLocation
				var f [10]sql.NullString
				var lat, lon sql.NullFloat64
				if err := sc.Scan(&l.Seq, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &lat, &lon, &f[9]); err != nil {
					return err
				}
				l.Address = medsales.Address{Line1: f[0].String, Line2: f[1].String, City: f[2].String, State: f[3].String,
					PostalCode: f[4].String, Country: f[5].String, Phone: f[6].String, Fax: f[8].String}
				l.PhoneExtension, l.CoordSource = f[7].String, f[9].String
				if lat.Valid && lon.Valid {
					l.Lat, l.Lon = &lat.Float64, &lon.Float64
				}
				d.PracticeLocations = append(d.PracticeLocations, l)
				return nil
			})},
		{Name: "read other names", SQL: `SELECT seq, name, type_code FROM provider_other_names WHERE npi = $1 ORDER BY seq`, Args: []any{npi},
			Scan: eachRow(func(sc Scanner) error {
				var o medsales.OtherName
				var typ sql.NullString
				if err := sc.Scan(&o.Seq, &o.Name, &typ); err != nil {
					return err
				}
				o.TypeCode = typ.String
				d.OtherNames = append(d.OtherNames, o)
				return nil
			})},
		{Name: "read endpoints", SQL: `SELECT seq, endpoint_type, endpoint_type_desc, endpoint, affiliation, endpoint_desc, affiliation_lbn,
		use_code, use_desc, other_use_desc, content_type, content_desc, other_content_desc,
		aff_line1, aff_line2, aff_city, aff_state, aff_country, aff_postal_code
		FROM provider_endpoints WHERE npi = $1 ORDER BY seq`, Args: []any{npi},
			Scan: eachRow(func(sc Scanner) error {
				var e medsales.Endpoint
				var f [18]sql.NullString
				ptrs := []any{&e.Seq}
				for i := range f {
					ptrs = append(ptrs, &f[i])
				}
				if err := sc.Scan(ptrs...); err != nil {
					return err
				}
				e.Type, e.TypeDescription, e.Endpoint, e.Affiliation, e.Description = f[0].String, f[1].String, f[2].String, f[3].String, f[4].String
				e.AffiliationLegalName, e.UseCode, e.UseDescription, e.OtherUseDescription = f[5].String, f[6].String, f[7].String, f[8].String
				e.ContentType, e.ContentDescription, e.OtherContentDescription = f[9].String, f[10].String, f[11].String
				e.AffiliationAddress = medsales.Address{Line1: f[12].String, Line2: f[13].String, City: f[14].String,
					State: f[15].String, Country: f[16].String, PostalCode: f[17].String}
				d.Endpoints = append(d.Endpoints, e)
				return nil
			})},
	}
}

// eachRow returns a Statement.Scan that calls fn for each row.
func eachRow(fn func(Scanner) error) func(db.Rows) error {
	return func(rows db.Rows) error {
		for rows.Next() {
			if err := fn(rows); err != nil {
				return err
			}
		}
		return nil
	}
}

// runReads runs the queries stmts one by one on q, each error wrapped
// with the statement's name.
func runReads(ctx context.Context, q db.Querier, stmts []db.Statement) error {
	for _, st := range stmts {
		if err := runRead(ctx, q, st); err != nil {
			return fmt.Errorf("%s: %w", st.Name, err)
		}
	}
	return nil
}

func runRead(ctx context.Context, q db.Querier, st db.Statement) error {
	rows, err := q.QueryContext(ctx, st.SQL, st.Args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := st.Scan(rows); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}
