package sample

// Reference data the generator draws from: real ZIP codes with their
// cities and states, real NUCC taxonomy codes, HCPCS codes, drugs and
// manufacturers. Names of people and organizations are invented.

// place is a real ZIP code with its city and state; every ZIP is a Census
// ZCTA in the embedded centroid table (checked by a test), so ZIP-centroid
// geocoding finds it.
type place struct {
	zip, city, state string
}

var places = []place{
	{"10001", "NEW YORK", "NY"}, {"10016", "NEW YORK", "NY"}, {"10467", "BRONX", "NY"},
	{"11201", "BROOKLYN", "NY"}, {"14620", "ROCHESTER", "NY"}, {"02114", "BOSTON", "MA"},
	{"02115", "BOSTON", "MA"}, {"01605", "WORCESTER", "MA"}, {"06510", "NEW HAVEN", "CT"},
	{"19104", "PHILADELPHIA", "PA"}, {"15213", "PITTSBURGH", "PA"}, {"21201", "BALTIMORE", "MD"},
	{"20007", "WASHINGTON", "DC"}, {"22031", "FAIRFAX", "VA"}, {"23219", "RICHMOND", "VA"},
	{"27705", "DURHAM", "NC"}, {"28204", "CHARLOTTE", "NC"}, {"29401", "CHARLESTON", "SC"},
	{"30309", "ATLANTA", "GA"}, {"32204", "JACKSONVILLE", "FL"}, {"32207", "JACKSONVILLE", "FL"},
	{"32608", "GAINESVILLE", "FL"}, {"33136", "MIAMI", "FL"}, {"33155", "MIAMI", "FL"},
	{"33606", "TAMPA", "FL"}, {"32803", "ORLANDO", "FL"}, {"35233", "BIRMINGHAM", "AL"},
	{"37203", "NASHVILLE", "TN"}, {"38103", "MEMPHIS", "TN"}, {"40202", "LOUISVILLE", "KY"},
	{"43210", "COLUMBUS", "OH"}, {"44106", "CLEVELAND", "OH"}, {"45229", "CINCINNATI", "OH"},
	{"46202", "INDIANAPOLIS", "IN"}, {"48201", "DETROIT", "MI"}, {"48109", "ANN ARBOR", "MI"},
	{"53226", "MILWAUKEE", "WI"}, {"53705", "MADISON", "WI"}, {"55455", "MINNEAPOLIS", "MN"},
	{"55905", "ROCHESTER", "MN"}, {"60611", "CHICAGO", "IL"}, {"60612", "CHICAGO", "IL"},
	{"62701", "SPRINGFIELD", "IL"}, {"63110", "SAINT LOUIS", "MO"}, {"64108", "KANSAS CITY", "MO"},
	{"66103", "KANSAS CITY", "KS"}, {"68105", "OMAHA", "NE"}, {"70112", "NEW ORLEANS", "LA"},
	{"72205", "LITTLE ROCK", "AR"}, {"73104", "OKLAHOMA CITY", "OK"}, {"75235", "DALLAS", "TX"},
	{"77030", "HOUSTON", "TX"}, {"78229", "SAN ANTONIO", "TX"}, {"78701", "AUSTIN", "TX"},
	{"79905", "EL PASO", "TX"}, {"80045", "AURORA", "CO"}, {"80218", "DENVER", "CO"},
	{"84102", "SALT LAKE CITY", "UT"}, {"85006", "PHOENIX", "AZ"}, {"85719", "TUCSON", "AZ"},
	{"87106", "ALBUQUERQUE", "NM"}, {"89102", "LAS VEGAS", "NV"}, {"90033", "LOS ANGELES", "CA"},
	{"90024", "LOS ANGELES", "CA"}, {"90210", "BEVERLY HILLS", "CA"}, {"92103", "SAN DIEGO", "CA"},
	{"94115", "SAN FRANCISCO", "CA"}, {"94305", "STANFORD", "CA"}, {"95817", "SACRAMENTO", "CA"},
	{"97239", "PORTLAND", "OR"}, {"98104", "SEATTLE", "WA"}, {"98105", "SEATTLE", "WA"},
	{"99204", "SPOKANE", "WA"}, {"96813", "HONOLULU", "HI"}, {"99508", "ANCHORAGE", "AK"},
	{"83702", "BOISE", "ID"}, {"59101", "BILLINGS", "MT"}, {"57105", "SIOUX FALLS", "SD"},
	{"58102", "FARGO", "ND"}, {"52242", "IOWA CITY", "IA"}, {"50309", "DES MOINES", "IA"},
	{"39216", "JACKSON", "MS"}, {"04102", "PORTLAND", "ME"}, {"03766", "LEBANON", "NH"},
	{"05401", "BURLINGTON", "VT"}, {"02903", "PROVIDENCE", "RI"}, {"19801", "WILMINGTON", "DE"},
	{"07103", "NEWARK", "NJ"}, {"25304", "CHARLESTON", "WV"}, {"82001", "CHEYENNE", "WY"},
	{"00901", "SAN JUAN", "PR"},
}

// stateFIPS are the two-digit FIPS codes of the states in places.
var stateFIPS = map[string]string{
	"AL": "01", "AK": "02", "AZ": "04", "AR": "05", "CA": "06", "CO": "08", "CT": "09",
	"DE": "10", "DC": "11", "FL": "12", "GA": "13", "HI": "15", "ID": "16", "IL": "17",
	"IN": "18", "IA": "19", "KS": "20", "KY": "21", "LA": "22", "ME": "23", "MD": "24",
	"MA": "25", "MI": "26", "MN": "27", "MS": "28", "MO": "29", "MT": "30", "NE": "31",
	"NV": "32", "NH": "33", "NJ": "34", "NM": "35", "NY": "36", "NC": "37", "ND": "38",
	"OH": "39", "OK": "40", "OR": "41", "PA": "42", "RI": "44", "SC": "45", "SD": "46",
	"TN": "47", "TX": "48", "UT": "49", "VT": "50", "VA": "51", "WA": "53", "WV": "54",
	"WI": "55", "WY": "56", "PR": "72",
}

var streets = []string{
	"MAIN ST", "OAK AVE", "MEDICAL CENTER DR", "PARK BLVD", "WASHINGTON ST", "HOSPITAL DR",
	"ELM ST", "LAKE SHORE DR", "UNIVERSITY AVE", "MAPLE AVE", "N BROADWAY", "CEDAR LN",
	"HEALTH PKWY", "RIVERSIDE DR", "W 5TH ST", "PROFESSIONAL PLZ", "COLLEGE RD", "S STATE ST",
	"MARKET ST", "PINE ST", "HIGHLAND AVE", "CENTER ST", "E JEFFERSON ST", "WELLNESS WAY",
}

var suites = []string{"STE 100", "STE 200", "SUITE 310", "FL 2", "BLDG A", "UNIT 5", "ROOM 120"}

var lastNames = []string{
	"SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
	"MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
	"MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
	"CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
	"SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
	"RIVERA", "CAMPBELL", "MITCHELL", "CARTER", "ROBERTS", "PATEL", "SHAH", "KIM", "CHEN",
	"WANG", "SINGH", "O'BRIEN", "MURPHY", "COHEN", "KOWALSKI",
}

var femaleNames = []string{
	"MARY", "PATRICIA", "JENNIFER", "LINDA", "ELIZABETH", "BARBARA", "SUSAN", "JESSICA", "SARAH",
	"KAREN", "LISA", "NANCY", "EMILY", "MICHELLE", "LAURA", "AMANDA", "MELISSA", "STEPHANIE",
	"REBECCA", "PRIYA", "MEI", "ANA", "RACHEL", "HANNAH",
}

var maleNames = []string{
	"JAMES", "ROBERT", "JOHN", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH", "THOMAS",
	"CHRISTOPHER", "CHARLES", "DANIEL", "MATTHEW", "ANTHONY", "MARK", "STEVEN", "ANDREW", "PAUL",
	"JOSHUA", "KEVIN", "RAJ", "WEI", "CARLOS", "AHMED",
}

var orgWords = []string{
	"COMMUNITY", "REGIONAL", "FAMILY", "PREMIER", "SUMMIT", "VALLEY", "RIVERSIDE", "LAKESIDE",
	"CAPITAL", "HERITAGE", "PIONEER", "UNITED", "ADVANCED", "COASTAL", "NORTHSIDE", "METRO",
}

var orgKinds = []string{
	"MEDICAL GROUP", "HEALTH SERVICES", "CARDIOLOGY ASSOCIATES", "PHARMACY", "CLINIC",
	"ORTHOPAEDICS", "HOME HEALTH", "IMAGING CENTER", "PEDIATRICS", "SURGERY CENTER",
}

var orgSuffixes = []string{"LLC", "PC", "INC", "PLLC", "PA", "LLP"}

// taxonomy is a real NUCC code with its names, and how the sample uses it.
type taxonomy struct {
	code, grouping, classification, specialization, display, section string
	// kind: "md" physician, "np", "pa", "rn", "dds", "od", "rph", "pt",
	// "dpm", "psy", "sw" for individuals; "org" for organizations.
	kind string
	// cmsType is the Medicare provider type the CMS files show.
	cmsType string
}

var taxonomies = []taxonomy{
	{"207Q00000X", "Allopathic & Osteopathic Physicians", "Family Medicine", "", "Family Medicine Physician", "Individual", "md", "Family Practice"},
	{"207QA0505X", "Allopathic & Osteopathic Physicians", "Family Medicine", "Adult Medicine", "Adult Medicine Physician", "Individual", "md", "Family Practice"},
	{"207R00000X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "", "Internal Medicine Physician", "Individual", "md", "Internal Medicine"},
	{"207RC0000X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Cardiovascular Disease", "Cardiovascular Disease Physician", "Individual", "md", "Cardiology"},
	{"207RE0101X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Endocrinology, Diabetes & Metabolism", "Endocrinology, Diabetes & Metabolism Physician", "Individual", "md", "Endocrinology"},
	{"207RG0100X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Gastroenterology", "Gastroenterology Physician", "Individual", "md", "Gastroenterology"},
	{"207RH0003X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Hematology & Oncology", "Hematology & Oncology Physician", "Individual", "md", "Hematology-Oncology"},
	{"207RN0300X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Nephrology", "Nephrology Physician", "Individual", "md", "Nephrology"},
	{"207RP1001X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Pulmonary Disease", "Pulmonary Disease Physician", "Individual", "md", "Pulmonary Disease"},
	{"207RR0500X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Rheumatology", "Rheumatology Physician", "Individual", "md", "Rheumatology"},
	{"207RI0200X", "Allopathic & Osteopathic Physicians", "Internal Medicine", "Infectious Disease", "Infectious Disease Physician", "Individual", "md", "Infectious Disease"},
	{"208000000X", "Allopathic & Osteopathic Physicians", "Pediatrics", "", "Pediatrics Physician", "Individual", "md", "Pediatric Medicine"},
	{"207V00000X", "Allopathic & Osteopathic Physicians", "Obstetrics & Gynecology", "", "Obstetrics & Gynecology Physician", "Individual", "md", "Obstetrics & Gynecology"},
	{"207X00000X", "Allopathic & Osteopathic Physicians", "Orthopaedic Surgery", "", "Orthopaedic Surgery Physician", "Individual", "md", "Orthopedic Surgery"},
	{"208600000X", "Allopathic & Osteopathic Physicians", "Surgery", "", "Surgery Physician", "Individual", "md", "General Surgery"},
	{"2086S0129X", "Allopathic & Osteopathic Physicians", "Surgery", "Vascular Surgery", "Vascular Surgery Physician", "Individual", "md", "Vascular Surgery"},
	{"2084N0400X", "Allopathic & Osteopathic Physicians", "Psychiatry & Neurology", "Neurology", "Neurology Physician", "Individual", "md", "Neurology"},
	{"2084P0800X", "Allopathic & Osteopathic Physicians", "Psychiatry & Neurology", "Psychiatry", "Psychiatry Physician", "Individual", "md", "Psychiatry"},
	{"207N00000X", "Allopathic & Osteopathic Physicians", "Dermatology", "", "Dermatology Physician", "Individual", "md", "Dermatology"},
	{"207W00000X", "Allopathic & Osteopathic Physicians", "Ophthalmology", "", "Ophthalmology Physician", "Individual", "md", "Ophthalmology"},
	{"207Y00000X", "Allopathic & Osteopathic Physicians", "Otolaryngology", "", "Otolaryngology Physician", "Individual", "md", "Otolaryngology"},
	{"2085R0202X", "Allopathic & Osteopathic Physicians", "Radiology", "Diagnostic Radiology", "Diagnostic Radiology Physician", "Individual", "md", "Diagnostic Radiology"},
	{"207L00000X", "Allopathic & Osteopathic Physicians", "Anesthesiology", "", "Anesthesiology Physician", "Individual", "md", "Anesthesiology"},
	{"207P00000X", "Allopathic & Osteopathic Physicians", "Emergency Medicine", "", "Emergency Medicine Physician", "Individual", "md", "Emergency Medicine"},
	{"208800000X", "Allopathic & Osteopathic Physicians", "Urology", "", "Urology Physician", "Individual", "md", "Urology"},
	{"363L00000X", "Physician Assistants & Advanced Practice Nursing Providers", "Nurse Practitioner", "", "Nurse Practitioner", "Individual", "np", "Nurse Practitioner"},
	{"363LF0000X", "Physician Assistants & Advanced Practice Nursing Providers", "Nurse Practitioner", "Family", "Family Nurse Practitioner", "Individual", "np", "Nurse Practitioner"},
	{"363A00000X", "Physician Assistants & Advanced Practice Nursing Providers", "Physician Assistant", "", "Physician Assistant", "Individual", "pa", "Physician Assistant"},
	{"363AM0700X", "Physician Assistants & Advanced Practice Nursing Providers", "Physician Assistant", "Medical", "Medical Physician Assistant", "Individual", "pa", "Physician Assistant"},
	{"163W00000X", "Nursing Service Providers", "Registered Nurse", "", "Registered Nurse", "Individual", "rn", "Registered Nurse"},
	{"122300000X", "Dental Providers", "Dentist", "", "Dentist", "Individual", "dds", "Dentist"},
	{"1223G0001X", "Dental Providers", "Dentist", "General Practice", "General Practice Dentistry", "Individual", "dds", "Dentist"},
	{"152W00000X", "Eye and Vision Services Providers", "Optometrist", "", "Optometrist", "Individual", "od", "Optometry"},
	{"183500000X", "Pharmacy Service Providers", "Pharmacist", "", "Pharmacist", "Individual", "rph", "Pharmacist"},
	{"225100000X", "Respiratory, Developmental, Rehabilitative and Restorative Service Providers", "Physical Therapist", "", "Physical Therapist", "Individual", "pt", "Physical Therapist in Private Practice"},
	{"213E00000X", "Podiatric Medicine & Surgery Service Providers", "Podiatrist", "", "Podiatrist", "Individual", "dpm", "Podiatry"},
	{"103T00000X", "Behavioral Health & Social Service Providers", "Psychologist", "", "Psychologist", "Individual", "psy", "Clinical Psychologist"},
	{"1041C0700X", "Behavioral Health & Social Service Providers", "Social Worker", "Clinical", "Clinical Social Worker", "Individual", "sw", "Licensed Clinical Social Worker"},
	{"282N00000X", "Hospitals", "General Acute Care Hospital", "", "General Acute Care Hospital", "Non-Individual", "org", "Hospital"},
	{"261QP2300X", "Ambulatory Health Care Facilities", "Clinic/Center", "Primary Care", "Primary Care Clinic/Center", "Non-Individual", "org", "Clinic or Group Practice"},
	{"261QM1300X", "Ambulatory Health Care Facilities", "Clinic/Center", "Multi-Specialty", "Multi-Specialty Clinic/Center", "Non-Individual", "org", "Clinic or Group Practice"},
	{"332B00000X", "Suppliers", "Durable Medical Equipment & Medical Supplies", "", "Durable Medical Equipment & Medical Supplies", "Non-Individual", "org", "Durable Medical Equipment"},
	{"333600000X", "Suppliers", "Pharmacy", "", "Pharmacy", "Non-Individual", "org", "Pharmacy"},
	{"3336C0003X", "Suppliers", "Pharmacy", "Community/Retail Pharmacy", "Community/Retail Pharmacy", "Non-Individual", "org", "Pharmacy"},
	{"291U00000X", "Laboratories", "Clinical Medical Laboratory", "", "Clinical Medical Laboratory", "Non-Individual", "org", "Clinical Laboratory"},
	{"314000000X", "Nursing & Custodial Care Facilities", "Skilled Nursing Facility", "", "Skilled Nursing Facility", "Non-Individual", "org", "Skilled Nursing Facility"},
	{"251E00000X", "Agencies", "Home Health", "", "Home Health Agency", "Non-Individual", "org", "Home Health Agency"},
	{"193200000X", "Group", "Multi-Specialty", "", "Multi-Specialty Group", "Non-Individual", "org", "Clinic or Group Practice"},
}

// credentials by taxonomy kind.
var credentials = map[string][]string{
	"md":  {"MD", "M.D.", "DO", "D.O.", "MD, FACP", "MD PHD"},
	"np":  {"NP", "APRN", "FNP-C", "MSN, APRN"},
	"pa":  {"PA-C", "PA"},
	"rn":  {"RN", "BSN, RN"},
	"dds": {"DDS", "DMD"},
	"od":  {"OD", "O.D."},
	"rph": {"PHARMD", "RPH"},
	"pt":  {"PT", "DPT"},
	"dpm": {"DPM"},
	"psy": {"PHD", "PSYD"},
	"sw":  {"LCSW", "LICSW"},
}

// hcpcs is a HCPCS code with its Medicare description and typical prices.
type hcpcs struct {
	code, desc string
	drug       bool
	charge     float64 // typical submitted charge
}

var hcpcsCodes = []hcpcs{
	{"99213", "Established patient office or other outpatient visit, 20-29 minutes", false, 150},
	{"99214", "Established patient office or other outpatient visit, 30-39 minutes", false, 220},
	{"99203", "New patient office or other outpatient visit, 30-44 minutes", false, 210},
	{"99204", "New patient office or other outpatient visit, 45-59 minutes", false, 320},
	{"99232", "Subsequent hospital inpatient or observation care, per day, moderate level of medical decision making", false, 190},
	{"99285", "Emergency department visit for life threatening or functioning condition", false, 900},
	{"93000", "Routine electrocardiogram (ECG) with at least 12 leads including interpretation and report", false, 60},
	{"93306", "Ultrasound examination of heart including color-depicted blood flow rate, direction, and valve function", false, 1100},
	{"36415", "Insertion of needle into vein for collection of blood sample", false, 12},
	{"80053", "Blood test, comprehensive group of blood chemicals", false, 45},
	{"85025", "Complete blood cell count (red cells, white blood cell, platelets), automated test and automated white blood cell count", false, 30},
	{"71046", "X-ray of chest, 2 views", false, 120},
	{"G0439", "Annual wellness visit, includes a personalized prevention plan of service (pps), subsequent visit", false, 250},
	{"20610", "Aspiration and/or injection of large joint or joint bursa", false, 200},
	{"17000", "Destruction of precancerous skin lesion", false, 140},
	{"92014", "Eye and medical examination for diagnosis and treatment, established patient, 1 or more visits", false, 180},
	{"97110", "Therapeutic exercise to develop strength, endurance, range of motion, and flexibility, each 15 minutes", false, 70},
	{"J1100", "Injection, dexamethasone sodium phosphate, 1 mg", true, 2},
	{"J0897", "Injection, denosumab, 1 mg", true, 40},
	{"J3420", "Injection, vitamin b-12 cyanocobalamin, up to 1,000 mcg", true, 25},
}

// drug is a Part D drug (brand and generic names as CMS prints them).
type drug struct {
	brand, generic string
	costPerClaim   float64
}

var drugs = []drug{
	{"Eliquis", "Apixaban", 550}, {"Jardiance", "Empagliflozin", 600}, {"Ozempic", "Semaglutide", 900},
	{"Atorvastatin Calcium", "Atorvastatin Calcium", 15}, {"Lisinopril", "Lisinopril", 8},
	{"Metformin Hcl", "Metformin Hcl", 10}, {"Amlodipine Besylate", "Amlodipine Besylate", 9},
	{"Xarelto", "Rivaroxaban", 560}, {"Trulicity", "Dulaglutide", 850}, {"Levothyroxine Sodium", "Levothyroxine Sodium", 14},
	{"Farxiga", "Dapagliflozin", 580}, {"Entresto", "Sacubitril/Valsartan", 620}, {"Gabapentin", "Gabapentin", 12},
	{"Omeprazole", "Omeprazole", 11}, {"Losartan Potassium", "Losartan Potassium", 10}, {"Januvia", "Sitagliptin Phosphate", 520},
	{"Symbicort", "Budesonide/Formoterol Fumarate", 350}, {"Humira(Cf) Pen", "Adalimumab", 6500},
}

// manufacturer is an Open Payments applicable manufacturer.
type manufacturer struct {
	id, name, state, country string
	products                 []product
}

type product struct {
	name, category, kind, ndc string // kind: Drug or Device
}

var manufacturers = []manufacturer{
	{"100000000238", "Pfizer Inc.", "NY", "United States", []product{{"Eliquis", "Cardiology", "Drug", "0003-0894-21"}, {"Prevnar 20", "Vaccines", "Biological", "0005-2000-01"}}},
	{"100000000186", "Merck Sharp & Dohme LLC", "NJ", "United States", []product{{"Januvia", "Endocrinology", "Drug", "0006-0277-31"}, {"Keytruda", "Oncology", "Biological", "0006-3026-02"}}},
	{"100000000112", "AstraZeneca Pharmaceuticals LP", "DE", "United States", []product{{"Farxiga", "Cardio-Renal", "Drug", "0310-6210-30"}, {"Symbicort", "Respiratory", "Drug", "0186-0370-20"}}},
	{"100000000209", "Novo Nordisk Inc", "NJ", "United States", []product{{"Ozempic", "Diabetes", "Drug", "0169-4132-12"}}},
	{"100000000148", "Eli Lilly and Company", "IN", "United States", []product{{"Trulicity", "Diabetes", "Drug", "0002-1433-80"}, {"Jardiance", "Diabetes", "Drug", "0597-0152-30"}}},
	{"100000000135", "Janssen Pharmaceuticals, Inc", "NJ", "United States", []product{{"Xarelto", "Cardiovascular", "Drug", "50458-579-30"}}},
	{"100000000090", "AbbVie Inc.", "IL", "United States", []product{{"Humira", "Immunology", "Biological", "0074-0554-02"}}},
	{"100000000325", "Medtronic USA, Inc.", "MN", "United States", []product{{"Micra", "Cardiology", "Device", ""}}},
	{"100000000417", "Stryker Corporation", "MI", "United States", []product{{"Mako", "Orthopedics", "Device", ""}}},
	{"100000000133", "Novartis Pharmaceuticals Corporation", "NJ", "United States", []product{{"Entresto", "Cardiology", "Drug", "0078-0659-20"}}},
}

var paymentNatures = []struct{ nature, form string }{
	{"Food and Beverage", "In-kind items and services"},
	{"Food and Beverage", "In-kind items and services"},
	{"Food and Beverage", "In-kind items and services"},
	{"Consulting Fee", "Cash or cash equivalent"},
	{"Travel and Lodging", "In-kind items and services"},
	{"Education", "In-kind items and services"},
	{"Compensation for services other than consulting, including serving as faculty or as a speaker at a venue other than a continuing education program", "Cash or cash equivalent"},
	{"Honoraria", "Cash or cash equivalent"},
	{"Gift", "In-kind items and services"},
}
