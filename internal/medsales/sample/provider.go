package sample

import (
	"math/rand/v2"
	"strconv"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

// The release the sample imitates: the August 2026 monthly file
// (released 2026-08-10) and the following weekly increment.
var (
	firstEnumeration = daysOf(2005, 5, 23)
	releaseDay       = daysOf(2026, 8, 10)
	weekStart        = daysOf(2026, 8, 11)
	weekEnd          = daysOf(2026, 8, 17)
)

// provider is one generated NPPES record. Every file derives what it says
// about NPI i from provider(i), so the datasets agree on names, places and
// specialties without keeping providers in memory.
type provider struct {
	i           int
	npi         string
	deactivated bool
	deactDay    int
	org         bool

	// Individuals.
	last, first, middle, prefix, suffix, cred string
	sex                                       string
	soleProp                                  string

	// Organizations: name words, an optional DBA name.
	orgWord, orgKind, orgSuffix, orgLast string
	dba                                  string
	ein                                  string
	subpart                              string
	offLast, offFirst, offTitle          string
	offPhone                             int64

	// Practice location and mailing address.
	practice        place
	house           int
	street, line2   string
	zip4            int // -1: the ZIP is written with 5 digits only
	phone, fax      int64
	mailPOBox       int // 0: the mailing address is the practice address
	enumDay         int
	updateDay       int
	certDay         int // 0: no certification date
	tax             [3]int
	ntax            int
	primary         int // slot (0-based) whose switch is Y
	license         [3]string
	otherID         string
	secondaryLocs   int
	endpoint        bool
	partB, partD    int // number of lines in each CMS file
	payments        int
	teachingHosp    bool
	weeklyChanged   bool
	weeklyNewRecord bool
}

// generator derives providers from a seed. It is not safe for concurrent
// use; each file has its own.
type generator struct {
	seed uint64
	src  rand.PCG
	r    *rand.Rand
	buf  []byte
}

func newGenerator(seed int64) *generator {
	g := &generator{seed: uint64(seed)}
	g.r = rand.New(&g.src)
	return g
}

// splitmix64 scrambles a 64-bit value; it spreads neighbouring indexes
// over unrelated random streams.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// stream reseeds the random source for (record i, purpose k).
func (g *generator) stream(i int, k uint64) *rand.Rand {
	g.src.Seed(splitmix64(g.seed^k<<56), splitmix64(uint64(i)+k*0x632be59bd9b4e019))
	return g.r
}

// npi returns the NPI of record i: "1" + eight digits that are a
// bijection of i (modulo 10^8) + the Luhn check digit over 80840 and the
// nine digits, so NPIs are unique for up to 10^8 records.
func (g *generator) npi(i int) string {
	off := splitmix64(g.seed) % 100_000_000
	body := (uint64(i)*48_271 + off) % 100_000_000 // 48,271 is coprime with 10^8
	var b [10]byte
	b[0] = '1'
	for k := 8; k >= 1; k-- {
		b[k] = byte('0' + body%10)
		body /= 10
	}
	b[9] = dataset.NPICheckDigit(string(b[:9]))
	return string(b[:])
}

// Record classes by index, so that every sample of 50 or more records has
// each kind: deactivated NPIs, organizations (some with <UNAVAIL> EIN,
// some with a DBA name), providers whose primary taxonomy is in slot 2 and
// providers in each companion and CMS file.
func isDeactivated(i int) bool { return i%50 == 7 }
func isOrg(i int) bool         { return !isDeactivated(i) && i%5 == 1 }

var (
	individualTax []int // indexes into taxonomies
	orgTax        []int
)

func init() {
	for k, t := range taxonomies {
		if t.kind == "org" {
			orgTax = append(orgTax, k)
		} else {
			individualTax = append(individualTax, k)
		}
	}
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// provider generates record i as the monthly file has it; weekly changes
// are applied by changeForWeek.
func (g *generator) provider(i int) provider {
	r := g.stream(i, 1)
	p := provider{i: i, npi: g.npi(i)}
	if isDeactivated(i) {
		p.deactivated = true
		p.deactDay = releaseDay - 30 - r.IntN(3000)
		return p
	}
	p.org = isOrg(i)
	p.practice = pick(r, places)
	p.house = 1 + r.IntN(9899)
	p.street = pick(r, streets)
	if r.IntN(3) == 0 {
		p.line2 = pick(r, suites)
	}
	p.zip4 = -1
	if r.IntN(5) > 0 {
		p.zip4 = r.IntN(10000)
	}
	p.phone = phone(r)
	if r.IntN(2) == 0 {
		p.fax = phone(r)
	}
	if r.IntN(4) == 0 {
		p.mailPOBox = 100 + r.IntN(9900)
	}
	p.enumDay = firstEnumeration + r.IntN(releaseDay-60-firstEnumeration)
	p.updateDay = p.enumDay + r.IntN(releaseDay-p.enumDay)
	if r.IntN(5) > 0 {
		p.certDay = p.updateDay
	}
	if p.org {
		p.orgWord, p.orgKind, p.orgSuffix = pick(r, orgWords), pick(r, orgKinds), pick(r, orgSuffixes)
		if r.IntN(3) == 0 {
			p.orgLast = pick(r, lastNames)
		}
		if i%10 == 1 {
			p.ein = "<UNAVAIL>"
		}
		if i%10 == 6 {
			p.dba = pick(r, orgWords) + " " + pick(r, orgKinds)
		}
		p.subpart = "N"
		if r.IntN(4) == 0 {
			p.subpart = "Y"
		}
		p.offLast, p.offFirst = pick(r, lastNames), pick(r, maleNames)
		p.offTitle = pick(r, []string{"CEO", "ADMINISTRATOR", "PRACTICE MANAGER", "PRESIDENT", "CFO"})
		p.offPhone = phone(r)
		p.ntax = 1 + r.IntN(2)
		for k := 0; k < p.ntax; k++ {
			p.tax[k] = uniqueTax(r, orgTax, p.tax[:k])
		}
		p.teachingHosp = taxonomies[p.tax[0]].code == "282N00000X"
	} else {
		p.last = pick(r, lastNames)
		if r.IntN(2) == 0 {
			p.sex, p.first = "F", pick(r, femaleNames)
		} else {
			p.sex, p.first = "M", pick(r, maleNames)
		}
		if r.IntN(2) == 0 {
			p.middle = string(rune('A' + r.IntN(26)))
		}
		p.ntax = 1 + r.IntN(3)
		p.tax[0] = uniqueTax(r, individualTax, nil)
		kind := taxonomies[p.tax[0]].kind
		for k := 1; k < p.ntax; k++ {
			// A second taxonomy of the same profession, as real records have.
			p.tax[k] = sameKindTax(r, kind, p.tax[:k])
		}
		p.cred = pick(r, credentials[kind])
		if kind == "md" && r.IntN(3) == 0 {
			p.prefix = "DR."
		}
		if r.IntN(25) == 0 {
			p.suffix = pick(r, []string{"JR.", "SR.", "III"})
		}
		p.soleProp = pick(r, []string{"N", "N", "Y", "X"})
		for k := 0; k < p.ntax; k++ {
			p.license[k] = licenseNumber(r, g)
		}
		if i%3 == 0 {
			p.otherID = strconv.Itoa(100000 + r.IntN(900000))
		}
		if i%8 == 5 {
			p.secondaryLocs = 1 + i/8%2
		}
	}
	// The primary taxonomy is in slot 2 for some providers with several.
	p.primary = 0
	if p.ntax >= 2 && i%4 == 2 {
		p.primary = 1
	}
	p.endpoint = p.org && i%10 == 1 || !p.org && i%40 == 0
	kind := taxonomies[p.tax[p.primary]].kind
	switch {
	case !p.org && i%3 == 0 && (kind == "md" || kind == "np" || kind == "pa" || kind == "pt" || kind == "dpm" || kind == "od" || kind == "psy" || kind == "sw"):
		p.partB = 1 + r.IntN(4)
	case p.org && i%25 == 1:
		p.partB = 1 + r.IntN(2)
	}
	if !p.org && i%4 == 0 && (kind == "md" || kind == "np" || kind == "pa" || kind == "dds" || kind == "dpm" || kind == "od") {
		p.partD = 1 + r.IntN(5)
	}
	if !p.org && i%6 == 0 && (kind == "md" || kind == "np" || kind == "pa" || kind == "dds" || kind == "dpm" || kind == "od") {
		p.payments = 1 + r.IntN(3)
	}
	if p.teachingHosp {
		p.payments = 1
	}
	return p
}

// changeForWeek moves a provider to a new practice address and stamps the
// update inside the weekly increment's week.
func (g *generator) changeForWeek(p *provider) {
	r := g.stream(p.i, 2)
	p.weeklyChanged = true
	p.practice = pick(r, places)
	p.house = 1 + r.IntN(9899)
	p.street = pick(r, streets)
	p.line2 = ""
	p.updateDay = weekStart + r.IntN(weekEnd-weekStart+1)
	if p.certDay != 0 {
		p.certDay = p.updateDay
	}
}

// newForWeek makes record i a provider enumerated during the weekly
// increment's week.
func (g *generator) newForWeek(i int) provider {
	p := g.provider(i)
	for p.deactivated {
		i += 1_000_003
		p = g.provider(i)
	}
	r := g.stream(i, 3)
	p.weeklyNewRecord = true
	p.enumDay = weekStart + r.IntN(weekEnd-weekStart+1)
	p.updateDay = p.enumDay
	if p.certDay != 0 {
		p.certDay = p.enumDay
	}
	return p
}

func uniqueTax(r *rand.Rand, from []int, taken []int) int {
	for {
		k := pick(r, from)
		if !containsInt(taken, k) {
			return k
		}
	}
}

func sameKindTax(r *rand.Rand, kind string, taken []int) int {
	var same []int
	for _, k := range individualTax {
		if taxonomies[k].kind == kind && !containsInt(taken, k) {
			same = append(same, k)
		}
	}
	if len(same) == 0 {
		return uniqueTax(r, individualTax, taken)
	}
	return pick(r, same)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func phone(r *rand.Rand) int64 {
	return int64(201+r.IntN(780))*10_000_000 + int64(2_000_000+r.IntN(7_999_999))
}

func licenseNumber(r *rand.Rand, g *generator) string {
	g.buf = append(g.buf[:0], byte('A'+r.IntN(26)))
	g.buf = strconv.AppendInt(g.buf, int64(10000+r.IntN(990000)), 10)
	return string(g.buf)
}

// appendOrgName appends the organization's legal business name.
func (p *provider) appendOrgName(b []byte) []byte {
	if p.orgLast != "" {
		b = append(b, p.orgLast...)
		b = append(b, ' ')
	}
	b = append(b, p.orgWord...)
	b = append(b, ' ')
	b = append(b, p.orgKind...)
	b = append(b, ' ')
	return append(b, p.orgSuffix...)
}

// appendStreet appends the practice street line.
func (p *provider) appendStreet(b []byte) []byte {
	b = strconv.AppendInt(b, int64(p.house), 10)
	b = append(b, ' ')
	return append(b, p.street...)
}

// appendZIP appends the practice ZIP as NPPES writes it: ZIP+4 without
// hyphen, or five digits.
func (p *provider) appendZIP(b []byte) []byte {
	b = append(b, p.practice.zip...)
	if p.zip4 >= 0 {
		b = append(b, byte('0'+p.zip4/1000), byte('0'+p.zip4/100%10), byte('0'+p.zip4/10%10), byte('0'+p.zip4%10))
	}
	return b
}

// primaryTaxonomy returns the provider's primary taxonomy.
func (p *provider) primaryTaxonomy() taxonomy { return taxonomies[p.tax[p.primary]] }
