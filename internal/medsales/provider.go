package medsales

// Entity types of NPPES.
const (
	EntityIndividual   = 1 // NPI-1: a person
	EntityOrganization = 2 // NPI-2: an organization
)

// Coordinate sources: where a practice address's coordinates come from.
const (
	CoordZCTA   = "zcta"   // the centroid of the address's ZIP code (ZCTA)
	CoordCensus = "census" // the Census geocoder's match of the street address
)

// Address is a postal address of a provider as NPPES publishes it. ZIP+4
// codes have no hyphen ("322044736"); phones are digits.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	// Country is the ISO country code; NPPES fills it for addresses
	// outside the U.S. (and "US" for most U.S. addresses).
	Country string `json:"country,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Fax     string `json:"fax,omitempty"`
}

// Provider is one NPI of the NPPES registry: an individual (entity type 1)
// or an organization (entity type 2). A deactivated NPI carries only its
// NPI and deactivation date (EntityType 0). Fields NPPES leaves empty are
// "" or nil.
type Provider struct {
	NPI            string `json:"npi"`
	EntityType     int    `json:"entityType"`
	ReplacementNPI string `json:"replacementNpi,omitempty"`
	// EIN is the organization's employer identification number; "" when
	// NPPES publishes <UNAVAIL>.
	EIN string `json:"ein,omitempty"`

	OrganizationName string `json:"organizationName,omitempty"` // legal business name (entity type 2)
	LastName         string `json:"lastName,omitempty"`
	FirstName        string `json:"firstName,omitempty"`
	MiddleName       string `json:"middleName,omitempty"`
	NamePrefix       string `json:"namePrefix,omitempty"`
	NameSuffix       string `json:"nameSuffix,omitempty"`
	Credential       string `json:"credential,omitempty"`

	OtherOrganizationName     string `json:"otherOrganizationName,omitempty"`
	OtherOrganizationNameType string `json:"otherOrganizationNameType,omitempty"`
	OtherLastName             string `json:"otherLastName,omitempty"`
	OtherFirstName            string `json:"otherFirstName,omitempty"`
	OtherMiddleName           string `json:"otherMiddleName,omitempty"`
	OtherNamePrefix           string `json:"otherNamePrefix,omitempty"`
	OtherNameSuffix           string `json:"otherNameSuffix,omitempty"`
	OtherCredential           string `json:"otherCredential,omitempty"`
	OtherLastNameType         string `json:"otherLastNameType,omitempty"`

	// Sex is M, F, X or "" (Provider Sex Code, formerly Provider Gender Code).
	Sex string `json:"sex,omitempty"`

	MailingAddress  Address `json:"mailingAddress"`
	PracticeAddress Address `json:"practiceAddress"`

	EnumerationDate    *Date  `json:"enumerationDate,omitempty"`
	LastUpdateDate     *Date  `json:"lastUpdateDate,omitempty"`
	DeactivationReason string `json:"deactivationReason,omitempty"`
	DeactivationDate   *Date  `json:"deactivationDate,omitempty"`
	ReactivationDate   *Date  `json:"reactivationDate,omitempty"`
	CertificationDate  *Date  `json:"certificationDate,omitempty"`

	// The authorized official of an organization.
	AuthorizedOfficial *AuthorizedOfficial `json:"authorizedOfficial,omitempty"`

	// SoleProprietor is X (not answered), Y or N.
	SoleProprietor string `json:"soleProprietor,omitempty"`
	// OrganizationSubpart is X, Y or N.
	OrganizationSubpart string `json:"organizationSubpart,omitempty"`
	ParentOrgLBN        string `json:"parentOrgLbn,omitempty"`
	ParentOrgTIN        string `json:"parentOrgTin,omitempty"`

	// PrimaryTaxonomy is the code of the taxonomy slot whose primary switch
	// is Y ("" when none is).
	PrimaryTaxonomy string `json:"primaryTaxonomy,omitempty"`

	// PracticeLat and PracticeLon locate the practice address; CoordSource
	// (CoordZCTA or CoordCensus) says how. All three are empty when the
	// address could not be located.
	PracticeLat *float64 `json:"practiceLat,omitempty"`
	PracticeLon *float64 `json:"practiceLon,omitempty"`
	CoordSource string   `json:"coordSource,omitempty"`
}

// Deactivated reports whether the NPI is deactivated: it has a
// deactivation date, and no reactivation date on or after it. A record
// published in full (an entity type) whose last update is after the
// deactivation date counts as reactivated too, its reactivation date
// empty or not: NPPES publishes a deactivated NPI with only its NPI and
// deactivation date.
func (p *Provider) Deactivated() bool {
	if p.DeactivationDate == nil {
		return false
	}
	if p.ReactivationDate != nil && !p.ReactivationDate.Before(p.DeactivationDate.Time) {
		return false
	}
	return p.EntityType == 0 || p.LastUpdateDate == nil || !p.LastUpdateDate.After(p.DeactivationDate.Time)
}

// AuthorizedOfficial is the person who may act for an organization NPI.
type AuthorizedOfficial struct {
	LastName   string `json:"lastName,omitempty"`
	FirstName  string `json:"firstName,omitempty"`
	MiddleName string `json:"middleName,omitempty"`
	Title      string `json:"title,omitempty"`
	Phone      string `json:"phone,omitempty"`
	NamePrefix string `json:"namePrefix,omitempty"`
	NameSuffix string `json:"nameSuffix,omitempty"`
	Credential string `json:"credential,omitempty"`
}

// ProviderTaxonomy is one of the 15 taxonomy slots of an NPI.
type ProviderTaxonomy struct {
	Slot         int    `json:"slot"`
	Code         string `json:"code"`
	License      string `json:"license,omitempty"`
	LicenseState string `json:"licenseState,omitempty"`
	Primary      bool   `json:"primary"`
	Group        string `json:"group,omitempty"`
	// Names from the NUCC taxonomy; empty when the code is not in the
	// loaded NUCC file (or no NUCC file is loaded).
	Grouping       string `json:"grouping,omitempty"`
	Classification string `json:"classification,omitempty"`
	Specialization string `json:"specialization,omitempty"`
	DisplayName    string `json:"displayName,omitempty"`
}

// OtherIdentifier is one of the 50 "Other Provider Identifier" slots of an
// NPI (a Medicaid number, a legacy UPIN …).
type OtherIdentifier struct {
	Slot       int    `json:"slot"`
	Identifier string `json:"identifier"`
	// TypeCode: 01 other, 02 Medicare UPIN, 04 Medicare ID type 1, 05
	// Medicaid, 06 Medicare OSCAR/certification, 07 Medicare NSC, 08
	// Medicare PIN.
	TypeCode string `json:"typeCode,omitempty"`
	State    string `json:"state,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
}

// PracticeLocation is a secondary practice location of an NPI (pl_pfile).
type PracticeLocation struct {
	// Seq orders the locations of an NPI (the line of the source file).
	Seq            int64    `json:"seq"`
	Address        Address  `json:"address"`
	PhoneExtension string   `json:"phoneExtension,omitempty"`
	Lat            *float64 `json:"lat,omitempty"`
	Lon            *float64 `json:"lon,omitempty"`
	CoordSource    string   `json:"coordSource,omitempty"`
}

// OtherName is another name of an organization NPI (othername_pfile).
type OtherName struct {
	Seq  int64  `json:"seq"`
	Name string `json:"name"`
	// TypeCode: 3 doing business as, 4 former legal business name, 5
	// other name (NPPES Read Me, other provider name type codes).
	TypeCode string `json:"typeCode,omitempty"`
}

// Endpoint is an electronic endpoint of an NPI (endpoint_pfile): a Direct
// messaging address, a FHIR server URL, …
type Endpoint struct {
	Seq                     int64   `json:"seq"`
	Type                    string  `json:"type,omitempty"`
	TypeDescription         string  `json:"typeDescription,omitempty"`
	Endpoint                string  `json:"endpoint"`
	Affiliation             string  `json:"affiliation,omitempty"` // Y or N
	Description             string  `json:"description,omitempty"`
	AffiliationLegalName    string  `json:"affiliationLegalName,omitempty"`
	UseCode                 string  `json:"useCode,omitempty"`
	UseDescription          string  `json:"useDescription,omitempty"`
	OtherUseDescription     string  `json:"otherUseDescription,omitempty"`
	ContentType             string  `json:"contentType,omitempty"`
	ContentDescription      string  `json:"contentDescription,omitempty"`
	OtherContentDescription string  `json:"otherContentDescription,omitempty"`
	AffiliationAddress      Address `json:"affiliationAddress,omitzero"`
}

// ProviderDetail is everything known about one NPI: the provider, its
// taxonomies (with their NUCC names), other identifiers, secondary practice
// locations, other names and endpoints, each ordered by slot or sequence.
type ProviderDetail struct {
	Provider
	Taxonomies        []ProviderTaxonomy `json:"taxonomies"`
	Identifiers       []OtherIdentifier  `json:"identifiers"`
	PracticeLocations []PracticeLocation `json:"practiceLocations"`
	OtherNames        []OtherName        `json:"otherNames"`
	Endpoints         []Endpoint         `json:"endpoints"`
}

// ProviderProfile is GET /v1/providers/{npi}: the registry record with
// everything the datasets say about the provider. The lists are empty,
// not null, when there is nothing to list.
type ProviderProfile struct {
	*ProviderDetail
	TopServices   []ServiceLine  `json:"topServices"`
	TopDrugs      []DrugLine     `json:"topDrugs"`
	PaymentTotals []PaymentTotal `json:"paymentTotals"`
}
