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
// Every part is upper-cased; periods and apostrophes are dropped (P.O. →
// PO, O'Brien → OBRIEN), other punctuation separates words (except a
// hyphen or slash between digits: 45-12 BROADWAY, 123 1/2 MAIN ST keep
// their house numbers) and white space is collapsed. Each address line is standardised as USPS Publication 28
// does: the street suffix (the last word of the street, or the one before
// a post-directional) is abbreviated (STREET → ST, AVENUE → AVE), so are a
// pre-directional before the street name and a post-directional after the
// suffix (NORTH → N), and secondary unit designators (SUITE → STE, FLOOR →
// FL; "#" after a designator is dropped). Words inside the street name are
// kept as written (SILVER HILL RD stays so, as the geocoder knows it).
// POST OFFICE BOX and P O BOX become PO BOX (a POST OFFICE elsewhere,
// 1 POST OFFICE SQ, is a street name and stays). The ZIP code is cut to its
// five digits. The key is street|city|state|zip, the street being line1
// then line2; it is "" when the street is empty (nothing to geocode).
// ParseAddressKey splits it again.
func AddressKey(line1, line2, city, state, zip string) string {
	var arr [256]byte
	b := appendLine(arr[:0], line1)
	b = appendLine(b, line2)
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
			if (r == '-' || r == '/') && len(word) > 0 && allDigits(string(word)) && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				// "45-12" (a Queens house number), "1/2": one number,
				// sent to the geocoder as written
				word = append(word, byte(r))
				break
			}
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

// appendLine appends one address line standardised (see AddressKey),
// after a space when b already holds words.
func appendLine(b []byte, s string) []byte {
	// Split into upper-case words: text back to back in buf, ends in ends.
	var bufArr [256]byte
	var endsArr [32]int
	buf, ends := bufArr[:0], endsArr[:0]
	var wb [64]byte
	for i := 0; ; {
		w, next, end := nextWord(wb[:0], s, i)
		if end {
			break
		}
		i = next
		// POST OFFICE BOX, P O BOX → PO BOX (POST OFFICE SQ stays so)
		if n := len(ends); n >= 2 && string(w) == "BOX" {
			first, second := string(buf[wordStart(ends, n-2):ends[n-2]]), string(buf[ends[n-2]:ends[n-1]])
			if first == "POST" && second == "OFFICE" || first == "P" && second == "O" {
				buf = append(buf[:wordStart(ends, n-2)], "PO"...)
				ends = append(ends[:n-2], len(buf))
			}
		}
		buf = append(buf, w...)
		ends = append(ends, len(buf))
	}
	n := len(ends)
	if n == 0 {
		return b
	}
	word := func(k int) []byte { return buf[wordStart(ends, k):ends[k]] }

	// The street runs up to the first secondary unit designator.
	split := n
	for k := 0; k < n; k++ {
		// "2ND FLOOR" ending the line: the unit starts at its ordinal.
		if _, ok := unitDesignators[string(word(k))]; ok && k == n-1 && k >= 1 && ordinal(word(k-1)) {
			split = k - 1
			break
		}
		if k == 1 {
			continue // "100 OFFICE PARK DR": a designator right after the number is a street name
		}
		std, ok := unitDesignators[string(word(k))]
		if !ok {
			continue
		}
		// A designator without number (FRONT, UPPER, OFFICE …) ends the
		// line or comes before another designator: elsewhere it is a word
		// of the street name (123 N FRONT ST, 1 POST OFFICE SQ).
		_, nextUnit := unitDesignators[string(word(min(k+1, n-1)))]
		if std == "#" || unitWithoutNumber[std] && (k == n-1 || nextUnit) || k+1 < n && unitNumber(word(k+1)) {
			split = k
			break
		}
	}
	// Street: suffix, post- and pre-directional.
	suffix, post := -1, -1
	if last := split - 1; last >= 1 {
		if _, dir := directionals[string(word(last))]; dir && last >= 2 {
			post = last
			if isSuffix(word(last-1)) && last-1 >= 1 {
				suffix = last - 1
			}
		} else if isSuffix(word(last)) {
			suffix = last
		}
	}
	nameEnd := split
	switch {
	case suffix >= 0:
		nameEnd = suffix
	case post >= 0:
		nameEnd = post
	}
	pre := -1
	if p := firstNameWord(buf, ends, split); p >= 0 && p+1 < nameEnd {
		if _, dir := directionals[string(word(p))]; dir {
			pre = p
		}
	}
	prevUnit := false
	for k := 0; k < n; k++ {
		w := word(k)
		out := string(w) // converted only for the map lookups below
		switch {
		case k == suffix:
			out = suffixStd(w)
		case k == pre || k == post:
			out = directionals[string(w)]
		case k >= split:
			if std, ok := unitDesignators[string(w)]; ok {
				if std == "#" && (prevUnit || k == n-1) {
					continue // "STE #200" → "STE 200"; a trailing # designates nothing
				}
				out = std
				prevUnit = true
				if len(b) > 0 {
					b = append(b, ' ')
				}
				b = append(b, out...)
				continue
			}
		}
		prevUnit = false
		if len(b) > 0 {
			b = append(b, ' ')
		}
		if k == suffix || k == pre || k == post {
			b = append(b, out...)
		} else {
			b = append(b, w...)
		}
	}
	return b
}

func wordStart(ends []int, k int) int {
	if k == 0 {
		return 0
	}
	return ends[k-1]
}

// firstNameWord returns the first word before end that is not a house
// number (does not start with a digit), or -1.
func firstNameWord(buf []byte, ends []int, end int) int {
	for k := 0; k < end; k++ {
		if c := buf[wordStart(ends, k)]; c < '0' || c > '9' {
			return k
		}
	}
	return -1
}

// ordinal reports whether w is an ordinal number: 1ST, 2ND, 3RD, 12TH.
func ordinal(w []byte) bool {
	n := len(w)
	if n < 3 || !allDigits(string(w[:n-2])) {
		return false
	}
	switch string(w[n-2:]) {
	case "ST", "ND", "RD", "TH":
		return true
	}
	return false
}

// unitNumber reports whether w looks like a unit number: it has a digit,
// or it is one letter.
func unitNumber(w []byte) bool {
	if len(w) == 1 {
		return true
	}
	for _, c := range w {
		if c >= '0' && c <= '9' {
			return true
		}
	}
	return false
}

func isSuffix(w []byte) bool {
	if _, ok := streetSuffixes[string(w)]; ok {
		return true
	}
	return suffixAbbrevs[string(w)]
}

func suffixStd(w []byte) string {
	if std, ok := streetSuffixes[string(w)]; ok {
		return std
	}
	return string(w)
}

// suffixAbbrevs holds the standard suffix abbreviations themselves (ST,
// AVE …), so that an already abbreviated suffix is recognised.
var suffixAbbrevs = func() map[string]bool {
	m := make(map[string]bool, 256)
	for _, v := range streetSuffixes {
		m[v] = true
	}
	return m
}()

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

// directionals maps directions to their USPS Publication 28 abbreviations.
var directionals = map[string]string{
	"NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W",
	"NORTHEAST": "NE", "NORTHWEST": "NW", "SOUTHEAST": "SE", "SOUTHWEST": "SW",
	"N": "N", "S": "S", "E": "E", "W": "W", "NE": "NE", "NW": "NW", "SE": "SE", "SW": "SW",
}

// unitDesignators maps secondary unit designators (USPS Publication 28,
// appendix C2, and common variants) to their abbreviations.
var unitDesignators = map[string]string{
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
	"#": "#",
}

// unitWithoutNumber are the designators that need no unit number after
// them (BSMT, REAR …).
var unitWithoutNumber = map[string]bool{
	"BSMT": true, "FRNT": true, "LBBY": true, "LOWR": true, "OFC": true,
	"PH": true, "REAR": true, "SIDE": true, "UPPR": true,
}

// streetSuffixes maps street suffixes (USPS Publication 28, appendix C1:
// primary names and common variants) to their standard abbreviations.
var streetSuffixes = map[string]string{
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
