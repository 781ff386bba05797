package dataset

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
)

// NPPES npidata_pfile: the monthly full file and the weekly increment have
// the same layout. Columns are located by name; the 329-column layout of
// files before 2025 (no Certification Date) and the Provider Gender Code
// name of files before mid-2025 are accepted.

// npidata columns, in the order of npiColumns. The taxonomy and identifier
// slots follow npiFixed.
const (
	npNPI = iota
	npEntityType
	npReplacementNPI
	npEIN
	npOrgName
	npLastName
	npFirstName
	npMiddleName
	npNamePrefix
	npNameSuffix
	npCredential
	npOtherOrgName
	npOtherOrgNameType
	npOtherLastName
	npOtherFirstName
	npOtherMiddleName
	npOtherNamePrefix
	npOtherNameSuffix
	npOtherCredential
	npOtherLastNameType
	npMailLine1
	npMailLine2
	npMailCity
	npMailState
	npMailPostal
	npMailCountry
	npMailPhone
	npMailFax
	npPracLine1
	npPracLine2
	npPracCity
	npPracState
	npPracPostal
	npPracCountry
	npPracPhone
	npPracFax
	npEnumDate
	npLastUpdate
	npDeactReason
	npDeactDate
	npReactDate
	npSex
	npAOLastName
	npAOFirstName
	npAOMiddleName
	npAOTitle
	npAOPhone
	npSoleProprietor
	npOrgSubpart
	npParentLBN
	npParentTIN
	npAONamePrefix
	npAONameSuffix
	npAOCredential
	npCertDate
	npiFixed // first taxonomy column
)

// NPPESTaxonomySlots and NPPESIdentifierSlots are how many taxonomy and
// other-identifier slots an npidata row has.
const (
	NPPESTaxonomySlots   = 15
	NPPESIdentifierSlots = 50
)

const (
	taxCols   = 5 // code, license, license state, primary switch, group
	identCols = 4 // identifier, type code, state, issuer
	npiIdent0 = npiFixed + NPPESTaxonomySlots*taxCols
	npiCount  = npiIdent0 + NPPESIdentifierSlots*identCols
)

func npiColumns() []Column {
	cols := make([]Column, npiCount)
	set := func(i int, name string, required bool, aliases ...string) {
		cols[i] = Column{Name: name, Required: required, Aliases: aliases}
	}
	set(npNPI, "NPI", true)
	set(npEntityType, "Entity Type Code", true)
	set(npReplacementNPI, "Replacement NPI", false)
	set(npEIN, "Employer Identification Number (EIN)", false)
	set(npOrgName, "Provider Organization Name (Legal Business Name)", true)
	set(npLastName, "Provider Last Name (Legal Name)", true)
	set(npFirstName, "Provider First Name", true)
	set(npMiddleName, "Provider Middle Name", false)
	set(npNamePrefix, "Provider Name Prefix Text", false)
	set(npNameSuffix, "Provider Name Suffix Text", false)
	set(npCredential, "Provider Credential Text", false)
	set(npOtherOrgName, "Provider Other Organization Name", false)
	set(npOtherOrgNameType, "Provider Other Organization Name Type Code", false)
	set(npOtherLastName, "Provider Other Last Name", false)
	set(npOtherFirstName, "Provider Other First Name", false)
	set(npOtherMiddleName, "Provider Other Middle Name", false)
	set(npOtherNamePrefix, "Provider Other Name Prefix Text", false)
	set(npOtherNameSuffix, "Provider Other Name Suffix Text", false)
	set(npOtherCredential, "Provider Other Credential Text", false)
	set(npOtherLastNameType, "Provider Other Last Name Type Code", false)
	set(npMailLine1, "Provider First Line Business Mailing Address", false)
	set(npMailLine2, "Provider Second Line Business Mailing Address", false)
	set(npMailCity, "Provider Business Mailing Address City Name", false)
	set(npMailState, "Provider Business Mailing Address State Name", false)
	set(npMailPostal, "Provider Business Mailing Address Postal Code", false)
	set(npMailCountry, "Provider Business Mailing Address Country Code (If outside U.S.)", false)
	set(npMailPhone, "Provider Business Mailing Address Telephone Number", false)
	set(npMailFax, "Provider Business Mailing Address Fax Number", false)
	set(npPracLine1, "Provider First Line Business Practice Location Address", true)
	set(npPracLine2, "Provider Second Line Business Practice Location Address", false)
	set(npPracCity, "Provider Business Practice Location Address City Name", true)
	set(npPracState, "Provider Business Practice Location Address State Name", true)
	set(npPracPostal, "Provider Business Practice Location Address Postal Code", true)
	set(npPracCountry, "Provider Business Practice Location Address Country Code (If outside U.S.)", false)
	set(npPracPhone, "Provider Business Practice Location Address Telephone Number", false)
	set(npPracFax, "Provider Business Practice Location Address Fax Number", false)
	set(npEnumDate, "Provider Enumeration Date", true)
	set(npLastUpdate, "Last Update Date", true)
	set(npDeactReason, "NPI Deactivation Reason Code", false)
	set(npDeactDate, "NPI Deactivation Date", true)
	set(npReactDate, "NPI Reactivation Date", false)
	set(npSex, "Provider Sex Code", false, "Provider Gender Code")
	set(npAOLastName, "Authorized Official Last Name", false)
	set(npAOFirstName, "Authorized Official First Name", false)
	set(npAOMiddleName, "Authorized Official Middle Name", false)
	set(npAOTitle, "Authorized Official Title or Position", false)
	set(npAOPhone, "Authorized Official Telephone Number", false)
	set(npSoleProprietor, "Is Sole Proprietor", false)
	set(npOrgSubpart, "Is Organization Subpart", false)
	set(npParentLBN, "Parent Organization LBN", false)
	set(npParentTIN, "Parent Organization TIN", false)
	set(npAONamePrefix, "Authorized Official Name Prefix Text", false)
	set(npAONameSuffix, "Authorized Official Name Suffix Text", false)
	set(npAOCredential, "Authorized Official Credential Text", false)
	set(npCertDate, "Certification Date", false)
	for s := 1; s <= NPPESTaxonomySlots; s++ {
		i := npiFixed + (s-1)*taxCols
		set(i, fmt.Sprintf("Healthcare Provider Taxonomy Code_%d", s), true)
		set(i+1, fmt.Sprintf("Provider License Number_%d", s), false)
		set(i+2, fmt.Sprintf("Provider License Number State Code_%d", s), false)
		set(i+3, fmt.Sprintf("Healthcare Provider Primary Taxonomy Switch_%d", s), true)
		set(i+4, fmt.Sprintf("Healthcare Provider Taxonomy Group_%d", s), false)
	}
	for s := 1; s <= NPPESIdentifierSlots; s++ {
		i := npiIdent0 + (s-1)*identCols
		set(i, fmt.Sprintf("Other Provider Identifier_%d", s), false)
		set(i+1, fmt.Sprintf("Other Provider Identifier Type Code_%d", s), false)
		set(i+2, fmt.Sprintf("Other Provider Identifier State_%d", s), false)
		set(i+3, fmt.Sprintf("Other Provider Identifier Issuer_%d", s), false)
	}
	return cols
}

// NPPESAddress is an address of an NPPES row; nil fields are empty.
type NPPESAddress struct {
	Line1, Line2, City, State, PostalCode, Country, Phone, Fax []byte
}

// NPPESTaxonomy is a filled taxonomy slot of an NPPES row.
type NPPESTaxonomy struct {
	Slot                        int
	Code, License, LicenseState []byte
	Primary                     bool
	Group                       []byte
}

// NPPESIdentifier is a filled other-identifier slot of an NPPES row.
type NPPESIdentifier struct {
	Slot                                int
	Identifier, TypeCode, State, Issuer []byte
}

// NPPESRecord is one valid npidata row. Byte-slice fields are nil when the
// file leaves the value empty (NULL) and, like the slices, are valid only
// until the next call to Next; dates are zero when empty. A deactivated NPI
// has only NPI and DeactivationDate (EntityType 0).
type NPPESRecord struct {
	NPI            []byte
	EntityType     int // 1 individual, 2 organization, 0 not given (deactivated NPI)
	ReplacementNPI []byte
	EIN            []byte // nil when <UNAVAIL> (so is ParentOrgTIN)

	OrgName, LastName, FirstName, MiddleName, NamePrefix, NameSuffix, Credential []byte

	OtherOrgName, OtherOrgNameType                                      []byte
	OtherLastName, OtherFirstName, OtherMiddleName, OtherNamePrefix     []byte
	OtherNameSuffix, OtherCredential, OtherLastNameType                 []byte
	Mail, Practice                                                      NPPESAddress
	EnumerationDate, LastUpdateDate, DeactivationDate, ReactivationDate time.Time
	CertificationDate                                                   time.Time
	DeactivationReason, Sex                                             []byte
	AOLastName, AOFirstName, AOMiddleName, AOTitle, AOPhone             []byte
	AONamePrefix, AONameSuffix, AOCredential                            []byte
	SoleProprietor, OrgSubpart, ParentOrgLBN, ParentOrgTIN              []byte

	// PracticeZIP5 is the first five digits of a U.S. practice postal code
	// (nil when there are fewer than five digits or the country is not US).
	PracticeZIP5 []byte
	// PrimaryTaxonomy is the code of the first slot whose switch is Y.
	PrimaryTaxonomy []byte
	// Taxonomies are the slots that have a code, in slot order.
	Taxonomies []NPPESTaxonomy
	// Identifiers are the slots that have an identifier, in slot order.
	Identifiers []NPPESIdentifier
}

// NPPESReader reads an npidata_pfile (monthly full or weekly increment).
type NPPESReader struct {
	r      *Reader
	cols   []Column
	reject func(line int, reason string)
	rec    NPPESRecord
}

// NewNPPESReader reads the header of an npidata_pfile. It fails before
// reading any row when a required column is missing (the error names the
// columns and the file and wraps ErrWrongFile). reject, which may be nil,
// receives each malformed row's line and the reason; Next skips such rows.
func NewNPPESReader(r io.Reader, file string, reject func(line int, reason string)) (*NPPESReader, error) {
	cols := npiColumns()
	rd, err := NewReader(r, file, cols, Options{Others: othersThan(medsales.NPPES, nppesMainFile)})
	if err != nil {
		return nil, err
	}
	if reject == nil {
		reject = func(int, string) {}
	}
	return &NPPESReader{r: rd, cols: cols, reject: reject}, nil
}

// Next advances to the next valid row, passing malformed rows to the
// reject callback. It returns false at the end of the input or on a fatal
// error (see Err).
func (n *NPPESReader) Next() bool {
	for n.r.Next() {
		if err := n.parse(); err != nil {
			n.reject(n.r.Line(), err.Error())
			continue
		}
		return true
	}
	return false
}

// Record returns the current row, valid until the next call to Next.
func (n *NPPESReader) Record() *NPPESRecord { return &n.rec }

// Err returns the fatal error that stopped Next (I/O error, truncated
// input), naming the file and line; nil at a clean end of input.
func (n *NPPESReader) Err() error { return n.r.Err() }

// Line returns the line where the current row starts (the header is 1).
func (n *NPPESReader) Line() int { return n.r.Line() }

// Skipped returns how many rows of empty fields (and blank lines) Next has
// passed over: no data, neither loaded nor rejected (see Reader.Skipped).
func (n *NPPESReader) Skipped() int64 { return n.r.Skipped() }

// name names wanted column i in a reject reason as the file's header
// writes it (an older file has Provider Gender Code, not Provider Sex
// Code).
func (n *NPPESReader) name(i int) string {
	if s := n.r.Name(i); s != "" {
		return s
	}
	return n.cols[i].Name
}

// ColumnName returns how the file's header writes the column the loader
// calls name, for the store's reject reasons; name itself when the file
// lacks the column.
func (n *NPPESReader) ColumnName(name string) string { return columnName(n.r, n.cols, name) }

// File returns the file name the reader was opened with.
func (n *NPPESReader) File() string { return n.r.File() }

// Columns returns the number of columns in the file's header: 330 in the
// current layout, 329 before Certification Date was added.
func (n *NPPESReader) Columns() int { return n.r.Columns() }

var unavailable = []byte("<UNAVAIL>")

func (n *NPPESReader) date(i int) (time.Time, error) {
	// Trimmed like every NPPES value: " 05/23/2005" is that date, and a
	// date of spaces only is absent rather than malformed.
	b := trimSpace(n.r.Field(i))
	if len(b) == 0 {
		return time.Time{}, nil
	}
	t, err := ParseDate(b)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", n.name(i), err)
	}
	return t, nil
}

func (n *NPPESReader) parse() error {
	r := n.r
	if err := r.RowErr(); err != nil {
		return err
	}
	rec := &n.rec
	taxonomies, identifiers := rec.Taxonomies[:0], rec.Identifiers[:0]
	*rec = NPPESRecord{}
	// Values are trimmed of spaces and tabs, as in every dataset:
	// "  SMITH  " is SMITH, and a value of spaces only is absent (NULL),
	// like an empty one. (Only spaces were: a tab around a name was
	// served, and "\tF" was refused as a sex code.)
	f := func(i int) []byte {
		if v := trimSpace(r.Field(i)); len(v) > 0 {
			return v
		}
		return nil
	}

	rec.NPI = f(npNPI)
	if err := CheckNPI(rec.NPI); err != nil {
		return err
	}
	var err error
	if rec.DeactivationDate, err = n.date(npDeactDate); err != nil {
		return err
	}
	switch et := f(npEntityType); {
	case len(et) == 1 && et[0] == '1':
		rec.EntityType = medsales.EntityIndividual
	case len(et) == 1 && et[0] == '2':
		rec.EntityType = medsales.EntityOrganization
	case et == nil && !rec.DeactivationDate.IsZero():
		// A deactivated NPI: NPPES publishes only the NPI and the date.
	case et == nil:
		return fmt.Errorf("Entity Type Code is empty")
	default:
		return fmt.Errorf("Entity Type Code %q is not 1 or 2", et)
	}
	if rec.ReplacementNPI = f(npReplacementNPI); rec.ReplacementNPI != nil {
		if err := CheckNPI(rec.ReplacementNPI); err != nil {
			return fmt.Errorf("Replacement NPI: %w", err)
		}
	}
	if rec.EIN = f(npEIN); bytes.Equal(rec.EIN, unavailable) {
		rec.EIN = nil
	}
	rec.OrgName, rec.LastName, rec.FirstName = f(npOrgName), f(npLastName), f(npFirstName)
	rec.MiddleName, rec.NamePrefix, rec.NameSuffix, rec.Credential = f(npMiddleName), f(npNamePrefix), f(npNameSuffix), f(npCredential)
	rec.OtherOrgName, rec.OtherOrgNameType = f(npOtherOrgName), f(npOtherOrgNameType)
	rec.OtherLastName, rec.OtherFirstName, rec.OtherMiddleName = f(npOtherLastName), f(npOtherFirstName), f(npOtherMiddleName)
	rec.OtherNamePrefix, rec.OtherNameSuffix = f(npOtherNamePrefix), f(npOtherNameSuffix)
	rec.OtherCredential, rec.OtherLastNameType = f(npOtherCredential), f(npOtherLastNameType)
	rec.Mail = NPPESAddress{f(npMailLine1), f(npMailLine2), f(npMailCity), f(npMailState), f(npMailPostal), f(npMailCountry), f(npMailPhone), f(npMailFax)}
	rec.Practice = NPPESAddress{f(npPracLine1), f(npPracLine2), f(npPracCity), f(npPracState), f(npPracPostal), f(npPracCountry), f(npPracPhone), f(npPracFax)}
	rec.PracticeZIP5 = ZIP5(rec.Practice.PostalCode, rec.Practice.Country)
	for _, d := range []struct {
		dst *time.Time
		col int
	}{{&rec.EnumerationDate, npEnumDate}, {&rec.LastUpdateDate, npLastUpdate}, {&rec.ReactivationDate, npReactDate}, {&rec.CertificationDate, npCertDate}} {
		if *d.dst, err = n.date(d.col); err != nil {
			return err
		}
	}
	rec.DeactivationReason, rec.Sex = f(npDeactReason), f(npSex)
	if sx := rec.Sex; sx != nil && (len(sx) != 1 || (sx[0] != 'M' && sx[0] != 'F' && sx[0] != 'X')) {
		return fmt.Errorf("%s %q is not M, F or X", n.name(npSex), sx)
	}
	rec.AOLastName, rec.AOFirstName, rec.AOMiddleName, rec.AOTitle, rec.AOPhone = f(npAOLastName), f(npAOFirstName), f(npAOMiddleName), f(npAOTitle), f(npAOPhone)
	rec.AONamePrefix, rec.AONameSuffix, rec.AOCredential = f(npAONamePrefix), f(npAONameSuffix), f(npAOCredential)
	rec.SoleProprietor, rec.OrgSubpart, rec.ParentOrgLBN, rec.ParentOrgTIN = f(npSoleProprietor), f(npOrgSubpart), f(npParentLBN), f(npParentTIN)
	if bytes.Equal(rec.ParentOrgTIN, unavailable) { // withheld, as an EIN can be
		rec.ParentOrgTIN = nil
	}
	for _, c := range []int{npSoleProprietor, npOrgSubpart} {
		if v := f(c); v != nil && (len(v) != 1 || (v[0] != 'X' && v[0] != 'Y' && v[0] != 'N')) {
			return fmt.Errorf("%s %q is not X, Y or N", n.name(c), v)
		}
	}

	for s := 1; s <= NPPESTaxonomySlots; s++ {
		i := npiFixed + (s-1)*taxCols
		code := f(i)
		if code == nil {
			continue
		}
		sw := f(i + 3)
		// The primary slot is the first whose switch is Y: should a file
		// mark two, the second is not primary too.
		primary := len(sw) == 1 && (sw[0] == 'Y' || sw[0] == 'y') && rec.PrimaryTaxonomy == nil
		if primary {
			rec.PrimaryTaxonomy = code
		}
		taxonomies = append(taxonomies, NPPESTaxonomy{Slot: s, Code: code, License: f(i + 1), LicenseState: f(i + 2), Primary: primary, Group: f(i + 4)})
	}
	// A provider with one taxonomy and no switch at Y (older records
	// leave it N or X, "not answered") practises that one: it is the
	// provider's specialty, though its slot's flag stays as the file has it.
	// With several and none at Y, none is chosen.
	if rec.PrimaryTaxonomy == nil && len(taxonomies) == 1 {
		rec.PrimaryTaxonomy = taxonomies[0].Code
	}
	for s := 1; s <= NPPESIdentifierSlots; s++ {
		i := npiIdent0 + (s-1)*identCols
		id := f(i)
		if id == nil {
			continue
		}
		identifiers = append(identifiers, NPPESIdentifier{Slot: s, Identifier: id, TypeCode: f(i + 1), State: f(i + 2), Issuer: f(i + 3)})
	}
	rec.Taxonomies, rec.Identifiers = taxonomies, identifiers
	return nil
}

// ZIP5 returns the first five digits of a U.S. postal code (ZIP or ZIP+4,
// with or without hyphen), or nil when postal has fewer than five leading
// digits or country names another country.
func ZIP5(postal, country []byte) []byte {
	if len(country) > 0 && !bytes.EqualFold(country, []byte("US")) {
		return nil
	}
	if len(postal) < 5 {
		return nil
	}
	for _, c := range postal[:5] {
		if c < '0' || c > '9' {
			return nil
		}
	}
	return postal[:5:5]
}

// Provider converts the record into the domain type (copying every value).
func (rec *NPPESRecord) Provider() medsales.Provider {
	s := func(b []byte) string { return string(b) }
	d := medsales.DatePtr
	addr := func(a NPPESAddress) medsales.Address {
		return medsales.Address{Line1: s(a.Line1), Line2: s(a.Line2), City: s(a.City), State: s(a.State),
			PostalCode: s(a.PostalCode), Country: s(a.Country), Phone: s(a.Phone), Fax: s(a.Fax)}
	}
	p := medsales.Provider{
		NPI: s(rec.NPI), EntityType: rec.EntityType, ReplacementNPI: s(rec.ReplacementNPI), EIN: s(rec.EIN),
		OrganizationName: s(rec.OrgName), LastName: s(rec.LastName), FirstName: s(rec.FirstName),
		MiddleName: s(rec.MiddleName), NamePrefix: s(rec.NamePrefix), NameSuffix: s(rec.NameSuffix), Credential: s(rec.Credential),
		OtherOrganizationName: s(rec.OtherOrgName), OtherOrganizationNameType: s(rec.OtherOrgNameType),
		OtherLastName: s(rec.OtherLastName), OtherFirstName: s(rec.OtherFirstName), OtherMiddleName: s(rec.OtherMiddleName),
		OtherNamePrefix: s(rec.OtherNamePrefix), OtherNameSuffix: s(rec.OtherNameSuffix),
		OtherCredential: s(rec.OtherCredential), OtherLastNameType: s(rec.OtherLastNameType),
		Sex:            s(rec.Sex),
		MailingAddress: addr(rec.Mail), PracticeAddress: addr(rec.Practice),
		EnumerationDate: d(rec.EnumerationDate), LastUpdateDate: d(rec.LastUpdateDate),
		DeactivationReason: s(rec.DeactivationReason), DeactivationDate: d(rec.DeactivationDate),
		ReactivationDate: d(rec.ReactivationDate), CertificationDate: d(rec.CertificationDate),
		SoleProprietor: s(rec.SoleProprietor), OrganizationSubpart: s(rec.OrgSubpart),
		ParentOrgLBN: s(rec.ParentOrgLBN), ParentOrgTIN: s(rec.ParentOrgTIN),
		PrimaryTaxonomy: s(rec.PrimaryTaxonomy),
	}
	ao := medsales.AuthorizedOfficial{LastName: s(rec.AOLastName), FirstName: s(rec.AOFirstName), MiddleName: s(rec.AOMiddleName),
		Title: s(rec.AOTitle), Phone: s(rec.AOPhone), NamePrefix: s(rec.AONamePrefix), NameSuffix: s(rec.AONameSuffix), Credential: s(rec.AOCredential)}
	if ao != (medsales.AuthorizedOfficial{}) {
		p.AuthorizedOfficial = &ao
	}
	return p
}

// ProviderTaxonomies converts the record's taxonomy slots into domain
// values (without NUCC names); nil when it has none.
func (rec *NPPESRecord) ProviderTaxonomies() []medsales.ProviderTaxonomy {
	if len(rec.Taxonomies) == 0 {
		return nil
	}
	out := make([]medsales.ProviderTaxonomy, 0, len(rec.Taxonomies))
	for _, t := range rec.Taxonomies {
		out = append(out, medsales.ProviderTaxonomy{Slot: t.Slot, Code: string(t.Code), License: string(t.License),
			LicenseState: string(t.LicenseState), Primary: t.Primary, Group: string(t.Group)})
	}
	return out
}

// OtherIdentifiers converts the record's identifier slots into domain
// values; nil when it has none.
func (rec *NPPESRecord) OtherIdentifiers() []medsales.OtherIdentifier {
	if len(rec.Identifiers) == 0 {
		return nil
	}
	out := make([]medsales.OtherIdentifier, 0, len(rec.Identifiers))
	for _, t := range rec.Identifiers {
		out = append(out, medsales.OtherIdentifier{Slot: t.Slot, Identifier: string(t.Identifier), TypeCode: string(t.TypeCode),
			State: string(t.State), Issuer: string(t.Issuer)})
	}
	return out
}
