package geo

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddressKey returns a normalised key for a US street address, so that the
// same address written differently maps to one key and is geocoded once:
//
//	AddressKey("123 North Main Street", "Suite #200", "Jacksonville", "fl", "32204-4736")
//	AddressKey("123 N. MAIN ST.", "STE 200", "JACKSONVILLE", "FL", "322044736")
//	  == "123 N MAIN ST STE 200|JACKSONVILLE|FL|32204"
//
// The street is line1 and line2 joined; every part is upper-cased, periods
// and apostrophes are dropped (P.O. → PO, O'Brien → OBRIEN), other
// punctuation separates words, and white space is collapsed. In the street,
// street suffixes, directionals and secondary unit designators are
// abbreviated as in USPS Publication 28 (STREET → ST, AVENUE → AVE,
// NORTH → N, SUITE → STE …), "#" after a unit designator is dropped and
// POST OFFICE BOX / P O BOX become PO BOX. The ZIP code is cut to its five
// digits. The key is street|city|state|zip; it is "" when the street is
// empty (nothing to geocode). ParseAddressKey splits it again.
func AddressKey(line1, line2, city, state, zip string) string {
	var arr [256]byte
	b := appendStreet(arr[:0], line1, line2)
	if len(b) == 0 {
		return ""
	}
	b = append(b, '|')
	b = appendWords(b, city)
	b = append(b, '|')
	b = appendWords(b, state)
	b = append(b, '|')
	b = appendZIP(b, zip)
	return string(b)
}

// ParseAddressKey splits a key made by AddressKey into its street, city,
// state and five-digit ZIP. ok is false when key does not have four parts.
func ParseAddressKey(key string) (a Address, ok bool) {
	parts := strings.Split(key, "|")
	if len(parts) != 4 || parts[0] == "" {
		return Address{}, false
	}
	return Address{Street: parts[0], City: parts[1], State: parts[2], ZIP: parts[3]}, true
}

// wordKind classifies a character of an address.
type wordKind uint8

const (
	sep   wordKind = iota // separates words
	keep                  // part of a word
	drop                  // dropped without separating words: . and '
	pound                 // '#', a word of its own
)

func kindOf(r rune) wordKind {
	switch {
	case r < utf8.RuneSelf:
		c := byte(r)
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			return keep
		case c == '.' || c == '\'':
			return drop
		case c == '#':
			return pound
		}
		return sep
	case r == '’' || r == '‘':
		return drop
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		return keep
	}
	return sep
}

// nextWord returns the next word of s starting at i, written upper-case
// into buf, and the position after it. A '#' is returned as the word "#".
// end is true when s has no more words.
func nextWord(buf []byte, s string, i int) (word []byte, next int, end bool) {
	word = buf[:0]
	for i < len(s) {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch kindOf(r) {
		case keep:
			if r < utf8.RuneSelf {
				c := byte(r)
				if c >= 'a' && c <= 'z' {
					c -= 'a' - 'A'
				}
				word = append(word, c)
			} else {
				word = utf8.AppendRune(word, unicode.ToUpper(r))
			}
		case pound:
			if len(word) > 0 {
				return word, i, false
			}
			return append(word, '#'), i + size, false
		case sep:
			if len(word) > 0 {
				return word, i + size, false
			}
		}
		i += size
	}
	return word, i, len(word) == 0
}

// appendWords appends s normalised (upper case, punctuation dropped, words
// separated by one space) without abbreviations.
func appendWords(b []byte, s string) []byte {
	var wb [64]byte
	first := true
	for i := 0; ; {
		w, next, end := nextWord(wb[:0], s, i)
		if end {
			return b
		}
		i = next
		if len(w) == 1 && w[0] == '#' {
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		b = append(b, w...)
		first = false
	}
}

// appendStreet appends line1 and line2 normalised with USPS abbreviations.
func appendStreet(b []byte, line1, line2 string) []byte {
	var wb [64]byte
	start := len(b)
	prevUnit := false  // the previous word is a unit designator
	pendingPO := false // the previous word is POST or P, which may start PO
	pendingStart := 0  // where the previous word starts in b
	for _, s := range [2]string{line1, line2} {
		for i := 0; ; {
			w, next, end := nextWord(wb[:0], s, i)
			if end {
				break
			}
			i = next
			if len(w) == 1 && w[0] == '#' {
				if prevUnit {
					continue // "STE #200" → "STE 200"
				}
				prevUnit = true // "#200" → "# 200"
			} else {
				prevUnit = false
			}
			// POST OFFICE BOX, P O BOX → PO BOX
			if pendingPO && (string(w) == "OFFICE" && string(b[pendingStart:]) == "POST" || string(w) == "O" && string(b[pendingStart:]) == "P") {
				b = append(b[:pendingStart], "PO"...)
				pendingPO = false
				continue
			}
			pendingPO = string(w) == "POST" || string(w) == "P"
			if abbr, ok := uspsAbbrev[string(w)]; ok {
				w = append(w[:0], abbr...)
				prevUnit = unitDesignators[abbr]
			}
			if len(b) > start {
				b = append(b, ' ')
			}
			pendingStart = len(b)
			b = append(b, w...)
		}
	}
	// A trailing "#" designates nothing.
	if len(b) > start && b[len(b)-1] == '#' {
		b = b[:len(b)-1]
		if len(b) > start && b[len(b)-1] == ' ' {
			b = b[:len(b)-1]
		}
	}
	return b
}

// appendZIP appends the five-digit ZIP of zip, or zip normalised when it
// is not a US ZIP code (a foreign postal code).
func appendZIP(b []byte, zip string) []byte {
	z := strings.TrimSpace(zip)
	if len(z) >= 5 && allDigits(z[:5]) && (len(z) == 5 || len(z) >= 6 && (z[5] == '-' || z[5] >= '0' && z[5] <= '9' || z[5] == ' ')) {
		return append(b, z[:5]...)
	}
	var wb [64]byte
	for i := 0; ; {
		w, next, end := nextWord(wb[:0], z, i)
		if end {
			return b
		}
		i = next
		if len(w) == 1 && w[0] == '#' {
			continue
		}
		b = append(b, w...)
	}
}

// unitDesignators are the USPS Publication 28 (appendix C2) secondary unit
// designator abbreviations.
var unitDesignators = map[string]bool{
	"APT": true, "BSMT": true, "BLDG": true, "DEPT": true, "FL": true,
	"FRNT": true, "HNGR": true, "KEY": true, "LBBY": true, "LOT": true,
	"LOWR": true, "OFC": true, "PH": true, "PIER": true, "REAR": true,
	"RM": true, "SIDE": true, "SLIP": true, "SPC": true, "STOP": true,
	"STE": true, "TRLR": true, "UNIT": true, "UPPR": true, "#": true,
}

// uspsAbbrev maps words to their USPS Publication 28 abbreviations: street
// suffixes (appendix C1, primary names and common variants), directionals
// and secondary unit designators (appendix C2).
var uspsAbbrev = map[string]string{
	// Directionals.
	"NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W",
	"NORTHEAST": "NE", "NORTHWEST": "NW", "SOUTHEAST": "SE", "SOUTHWEST": "SW",
	// Secondary unit designators.
	"APARTMENT": "APT", "BASEMENT": "BSMT", "BUILDING": "BLDG", "BLD": "BLDG",
	"DEPARTMENT": "DEPT", "FLOOR": "FL", "FLR": "FL", "FRONT": "FRNT",
	"HANGAR": "HNGR", "LOBBY": "LBBY", "LOWER": "LOWR", "OFFICE": "OFC",
	"PENTHOUSE": "PH", "ROOM": "RM", "SPACE": "SPC", "SUITE": "STE",
	"STE": "STE", "TRAILER": "TRLR", "UPPER": "UPPR", "APT": "APT",
	"BLDG": "BLDG", "FL": "FL", "RM": "RM", "UNIT": "UNIT", "LOT": "LOT",
	"PIER": "PIER", "REAR": "REAR", "SIDE": "SIDE", "SLIP": "SLIP",
	"STOP": "STOP", "DEPT": "DEPT", "OFC": "OFC", "PH": "PH", "SPC": "SPC",
	"BSMT": "BSMT", "FRNT": "FRNT", "HNGR": "HNGR", "LBBY": "LBBY",
	"LOWR": "LOWR", "UPPR": "UPPR", "TRLR": "TRLR",
	// Street suffixes.
	"ALLEE": "ALY", "ALLEY": "ALY", "ALLY": "ALY",
	"ANEX": "ANX", "ANNEX": "ANX", "ANNX": "ANX",
	"ARCADE": "ARC",
	"AV":     "AVE", "AVEN": "AVE", "AVENU": "AVE", "AVENUE": "AVE", "AVN": "AVE", "AVNUE": "AVE",
	"BAYOO": "BYU", "BAYOU": "BYU",
	"BEACH": "BCH",
	"BEND":  "BND",
	"BLUF":  "BLF", "BLUFF": "BLF", "BLUFFS": "BLFS",
	"BOT": "BTM", "BOTTM": "BTM", "BOTTOM": "BTM",
	"BOUL": "BLVD", "BOULEVARD": "BLVD", "BOULV": "BLVD",
	"BRNCH": "BR", "BRANCH": "BR",
	"BRDGE": "BRG", "BRIDGE": "BRG",
	"BROOK": "BRK", "BROOKS": "BRKS",
	"BURG": "BG", "BURGS": "BGS",
	"BYPA": "BYP", "BYPAS": "BYP", "BYPASS": "BYP", "BYPS": "BYP",
	"CAMP": "CP", "CMP": "CP",
	"CANYN": "CYN", "CANYON": "CYN", "CNYN": "CYN",
	"CAPE":     "CPE",
	"CAUSEWAY": "CSWY", "CAUSWA": "CSWY",
	"CEN": "CTR", "CENT": "CTR", "CENTER": "CTR", "CENTR": "CTR", "CENTRE": "CTR", "CNTER": "CTR", "CNTR": "CTR",
	"CENTERS": "CTRS",
	"CIRC":    "CIR", "CIRCL": "CIR", "CIRCLE": "CIR", "CRCL": "CIR", "CRCLE": "CIR", "CIRCLES": "CIRS",
	"CLIFF": "CLF", "CLIFFS": "CLFS",
	"CLUB":   "CLB",
	"COMMON": "CMN", "COMMONS": "CMNS",
	"CORNER": "COR", "CORNERS": "CORS",
	"COURSE": "CRSE",
	"COURT":  "CT", "COURTS": "CTS",
	"COVE": "CV", "COVES": "CVS",
	"CREEK":    "CRK",
	"CRESCENT": "CRES", "CRSENT": "CRES", "CRSNT": "CRES",
	"CREST":    "CRST",
	"CROSSING": "XING", "CRSSNG": "XING",
	"CROSSROAD": "XRD", "CROSSROADS": "XRDS",
	"CURVE": "CURV",
	"DALE":  "DL",
	"DAM":   "DM",
	"DIV":   "DV", "DIVIDE": "DV", "DVD": "DV",
	"DRIV": "DR", "DRIVE": "DR", "DRV": "DR", "DRIVES": "DRS",
	"ESTATE": "EST", "ESTATES": "ESTS",
	"EXP": "EXPY", "EXPR": "EXPY", "EXPRESS": "EXPY", "EXPRESSWAY": "EXPY", "EXPW": "EXPY",
	"EXTENSION": "EXT", "EXTN": "EXT", "EXTNSN": "EXT", "EXTENSIONS": "EXTS",
	"FALLS": "FLS",
	"FERRY": "FRY", "FRRY": "FRY",
	"FIELD": "FLD", "FIELDS": "FLDS",
	"FLAT": "FLT", "FLATS": "FLTS",
	"FORD": "FRD", "FORDS": "FRDS",
	"FOREST": "FRST", "FORESTS": "FRST",
	"FORG": "FRG", "FORGE": "FRG", "FORGES": "FRGS",
	"FORK": "FRK", "FORKS": "FRKS",
	"FORT": "FT", "FRT": "FT",
	"FREEWAY": "FWY", "FREEWY": "FWY", "FRWAY": "FWY", "FRWY": "FWY",
	"GARDEN": "GDN", "GARDN": "GDN", "GRDEN": "GDN", "GRDN": "GDN", "GARDENS": "GDNS", "GRDNS": "GDNS",
	"GATEWAY": "GTWY", "GATEWY": "GTWY", "GATWAY": "GTWY", "GTWAY": "GTWY",
	"GLEN": "GLN", "GLENS": "GLNS",
	"GREEN": "GRN", "GREENS": "GRNS",
	"GROV": "GRV", "GROVE": "GRV", "GROVES": "GRVS",
	"HARB": "HBR", "HARBOR": "HBR", "HARBR": "HBR", "HRBOR": "HBR", "HARBORS": "HBRS",
	"HAVEN": "HVN",
	"HT":    "HTS", "HEIGHTS": "HTS",
	"HIGHWAY": "HWY", "HIGHWY": "HWY", "HIWAY": "HWY", "HIWY": "HWY", "HWAY": "HWY",
	"HILL": "HL", "HILLS": "HLS",
	"HLLW": "HOLW", "HOLLOW": "HOLW", "HOLLOWS": "HOLW", "HOLWS": "HOLW",
	"INLET":  "INLT",
	"ISLAND": "IS", "ISLND": "IS", "ISLANDS": "ISS", "ISLNDS": "ISS", "ISLES": "ISLE",
	"JCTION": "JCT", "JCTN": "JCT", "JUNCTION": "JCT", "JUNCTN": "JCT", "JUNCTON": "JCT",
	"JCTNS": "JCTS", "JUNCTIONS": "JCTS",
	"KEY": "KY", "KEYS": "KYS",
	"KNOL": "KNL", "KNOLL": "KNL", "KNOLLS": "KNLS",
	"LAKE": "LK", "LAKES": "LKS",
	"LANDING": "LNDG", "LNDNG": "LNDG",
	"LANE":  "LN",
	"LIGHT": "LGT", "LIGHTS": "LGTS",
	"LOAF": "LF",
	"LOCK": "LCK", "LOCKS": "LCKS",
	"LDGE": "LDG", "LODG": "LDG", "LODGE": "LDG",
	"LOOPS": "LOOP",
	"MANOR": "MNR", "MANORS": "MNRS",
	"MEADOW": "MDW", "MEADOWS": "MDWS", "MEDOWS": "MDWS",
	"MILL": "ML", "MILLS": "MLS",
	"MISSN": "MSN", "MSSN": "MSN", "MISSION": "MSN",
	"MOTORWAY": "MTWY",
	"MNT":      "MT", "MOUNT": "MT",
	"MNTAIN": "MTN", "MNTN": "MTN", "MOUNTAIN": "MTN", "MOUNTIN": "MTN", "MTIN": "MTN",
	"MNTNS": "MTNS", "MOUNTAINS": "MTNS",
	"NECK":    "NCK",
	"ORCHARD": "ORCH", "ORCHRD": "ORCH",
	"OVL":      "OVAL",
	"OVERPASS": "OPAS",
	"PARKS":    "PARK",
	"PARKWAY":  "PKWY", "PARKWY": "PKWY", "PKWAY": "PKWY", "PKY": "PKWY", "PARKWAYS": "PKWY", "PKWYS": "PKWY",
	"PASSAGE": "PSGE",
	"PATHS":   "PATH",
	"PIKES":   "PIKE",
	"PINE":    "PNE", "PINES": "PNES",
	"PLACE": "PL",
	"PLAIN": "PLN", "PLAINS": "PLNS",
	"PLAZA": "PLZ", "PLZA": "PLZ",
	"POINT": "PT", "POINTS": "PTS",
	"PORT": "PRT", "PORTS": "PRTS",
	"PRAIRIE": "PR", "PRR": "PR",
	"RAD": "RADL", "RADIAL": "RADL", "RADIEL": "RADL",
	"RANCH": "RNCH", "RANCHES": "RNCH", "RNCHS": "RNCH",
	"RAPID": "RPD", "RAPIDS": "RPDS",
	"REST": "RST",
	"RDGE": "RDG", "RIDGE": "RDG", "RIDGES": "RDGS",
	"RIVER": "RIV", "RVR": "RIV", "RIVR": "RIV",
	"ROAD": "RD", "ROADS": "RDS",
	"ROUTE": "RTE",
	"SHOAL": "SHL", "SHOALS": "SHLS",
	"SHOAR": "SHR", "SHORE": "SHR", "SHOARS": "SHRS", "SHORES": "SHRS",
	"SKYWAY": "SKWY",
	"SPNG":   "SPG", "SPRING": "SPG", "SPRNG": "SPG", "SPNGS": "SPGS", "SPRINGS": "SPGS", "SPRNGS": "SPGS",
	"SPURS": "SPUR",
	"SQR":   "SQ", "SQRE": "SQ", "SQU": "SQ", "SQUARE": "SQ", "SQRS": "SQS", "SQUARES": "SQS",
	"STATION": "STA", "STATN": "STA", "STN": "STA",
	"STRAV": "STRA", "STRAVEN": "STRA", "STRAVENUE": "STRA", "STRAVN": "STRA", "STRVN": "STRA", "STRVNUE": "STRA",
	"STREAM": "STRM", "STREME": "STRM",
	"STREET": "ST", "STRT": "ST", "STR": "ST", "STREETS": "STS",
	"SUMIT": "SMT", "SUMITT": "SMT", "SUMMIT": "SMT",
	"TERR": "TER", "TERRACE": "TER",
	"THROUGHWAY": "TRWY",
	"TRACE":      "TRCE", "TRACES": "TRCE",
	"TRACK": "TRAK", "TRACKS": "TRAK", "TRK": "TRAK", "TRKS": "TRAK",
	"TRAFFICWAY": "TRFY",
	"TRAIL":      "TRL", "TRAILS": "TRL", "TRLS": "TRL",
	"TUNEL": "TUNL", "TUNLS": "TUNL", "TUNNEL": "TUNL", "TUNNELS": "TUNL", "TUNNL": "TUNL",
	"TRNPK": "TPKE", "TURNPIKE": "TPKE", "TURNPK": "TPKE",
	"UNDERPASS": "UPAS",
	"UNION":     "UN", "UNIONS": "UNS",
	"VALLEY": "VLY", "VALLY": "VLY", "VLLY": "VLY", "VALLEYS": "VLYS",
	"VDCT": "VIA", "VIADCT": "VIA", "VIADUCT": "VIA",
	"VIEW": "VW", "VIEWS": "VWS",
	"VILL": "VLG", "VILLAG": "VLG", "VILLAGE": "VLG", "VILLG": "VLG", "VILLIAGE": "VLG", "VILLAGES": "VLGS",
	"VILLE": "VL",
	"VIST":  "VIS", "VISTA": "VIS", "VST": "VIS", "VSTA": "VIS",
	"WALKS": "WALK",
	"WY":    "WAY",
	"WELL":  "WL", "WELLS": "WLS",
}
