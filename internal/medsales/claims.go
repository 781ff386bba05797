package medsales

// Taxonomy is one code of the NUCC Health Care Provider Taxonomy. NPPES
// records carry codes only; their names come from here. Fields the file
// leaves empty are "".
type Taxonomy struct {
	// Code is the 10-character taxonomy code, e.g. "207Q00000X".
	Code           string `json:"code"`
	Grouping       string `json:"grouping"`
	Classification string `json:"classification"`
	Specialization string `json:"specialization"`
	Definition     string `json:"definition"`
	Notes          string `json:"notes"`
	// DisplayName is the name to show (files before the column existed
	// leave it empty).
	DisplayName string `json:"displayName"`
	// Section is "Individual" or "Non-Individual" in current files.
	Section string `json:"section"`
}

// ServiceLine is one line of CMS Medicare Part B "by Provider and Service":
// what one rendering provider billed for one HCPCS code at one place of
// service in one data (service) year.
//
// Decimal values are canonical decimal strings as published (averages keep
// every published digit), never floats.
type ServiceLine struct {
	NPI              string `json:"npi"`
	HCPCSCode        string `json:"hcpcsCode"`
	HCPCSDescription string `json:"hcpcsDescription,omitempty"`
	// DrugIndicator is true when the HCPCS code is a drug (HCPCS_Drug_Ind Y).
	DrugIndicator bool `json:"drugIndicator"`
	// PlaceOfService is "F" (facility) or "O" (office / non-facility).
	PlaceOfService string `json:"placeOfService"`
	// TotalBeneficiaries is nil when CMS suppressed it (fewer than 11).
	TotalBeneficiaries *int64 `json:"totalBeneficiaries"`
	// Services is the number of services, a decimal (drug units may be
	// fractional).
	Services               string `json:"services"`
	BeneficiaryDayServices int64  `json:"beneficiaryDayServices"`
	AvgSubmittedCharge     string `json:"avgSubmittedCharge"`
	AvgAllowedAmount       string `json:"avgAllowedAmount"`
	AvgPaymentAmount       string `json:"avgPaymentAmount"`
	AvgStandardizedAmount  string `json:"avgStandardizedAmount"`
	DataYear               int    `json:"dataYear"`
}

// DrugLine is one line of CMS Medicare Part D Prescribers "by Provider and
// Drug": what one prescriber prescribed of one drug in one data year. CMS
// removes lines under 11 claims and blanks counts under 11; blanked values
// are nil. Money is a decimal string in dollars with two decimals.
type DrugLine struct {
	NPI         string `json:"npi"`
	BrandName   string `json:"brandName,omitempty"`
	GenericName string `json:"genericName,omitempty"`
	TotalClaims int64  `json:"totalClaims"`
	// Total30DayFills is a decimal: fills are normalised to 30-day units.
	Total30DayFills string `json:"total30DayFills"`
	TotalDaySupply  int64  `json:"totalDaySupply"`
	// TotalDrugCost is what all payers paid, in dollars.
	TotalDrugCost      string `json:"totalDrugCost"`
	TotalBeneficiaries *int64 `json:"totalBeneficiaries"`
	// GE65SuppressionFlag is "" when the 65-and-over claim figures are
	// published, "*" when suppressed for being under 11, "#" when
	// suppressed so that another figure cannot be derived.
	GE65SuppressionFlag string  `json:"ge65SuppressionFlag"`
	GE65TotalClaims     *int64  `json:"ge65TotalClaims"`
	GE65Total30DayFills *string `json:"ge65Total30DayFills"`
	GE65TotalDrugCost   *string `json:"ge65TotalDrugCost"`
	GE65TotalDaySupply  *int64  `json:"ge65TotalDaySupply"`
	// GE65BeneSuppressionFlag plays the role of GE65SuppressionFlag for
	// GE65TotalBeneficiaries.
	GE65BeneSuppressionFlag string `json:"ge65BeneSuppressionFlag"`
	GE65TotalBeneficiaries  *int64 `json:"ge65TotalBeneficiaries"`
	DataYear                int    `json:"dataYear"`
}

// Payment is one CMS Open Payments general payment (a transfer of value
// from a drug or device manufacturer or GPO to a covered recipient).
type Payment struct {
	// RecordID is the publisher's key of the payment.
	RecordID string `json:"recordId"`
	// NPI is "" for recipients without one (teaching hospitals).
	NPI string `json:"npi,omitempty"`
	// RecipientProfileID is Open Payments' own id of the covered recipient.
	RecipientProfileID string `json:"recipientProfileId,omitempty"`
	ManufacturerID     string `json:"manufacturerId"`
	ManufacturerName   string `json:"manufacturerName"`
	// Amount is the total amount in US dollars, two decimals.
	Amount string `json:"amount"`
	Date   Date   `json:"date"`
	// NumberOfPayments is how many payments Amount adds up.
	NumberOfPayments int64  `json:"numberOfPayments"`
	Form             string `json:"form"`
	Nature           string `json:"nature"`
	// Products are the names of the drugs, biologicals, devices or
	// supplies the payment relates to (up to five), in file order.
	Products    []string `json:"products"`
	ProgramYear int      `json:"programYear"`
	// ChangeType is NEW, ADD, CHANGED or UNCHANGED since the previous
	// publication.
	ChangeType string `json:"changeType"`
}

// PaymentTotal sums one provider's Open Payments general payments from one
// manufacturer in one program year, for the provider profile.
type PaymentTotal struct {
	Year         int    `json:"year"`
	Manufacturer string `json:"manufacturer,omitempty"`
	// Amount is the sum in US dollars, two decimals.
	Amount string `json:"amount"`
	// Count is the number of payments (the sum of each record's number of
	// payments, not the number of records).
	Count int64 `json:"count"`
}
