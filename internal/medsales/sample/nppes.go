package sample

import (
	"bufio"
	"bytes"
	_ "embed" // the NPPES header
	"fmt"
	"io"
	"strconv"
	"strings"
)

// nppesHeaderV2 is the 330-column header line of npidata_pfile (V2, 2026),
// copied verbatim from the publisher's file.
//
//go:embed nppes_header_v2.csv
var nppesHeaderV2 []byte

// nppesLayout is a header line and the positions of the columns the sample
// fills.
type nppesLayout struct {
	header []byte
	ncols  int
	col    map[string]int
	// Frequent columns, resolved once.
	npi, entity, ein, orgName, last, first, middle, prefix, suffix, cred int
	otherOrg, otherOrgType                                               int
	mail1, mail2, mailCity, mailState, mailZIP, mailCountry, mailPhone   int
	mailFax, prac1, prac2, pracCity, pracState, pracZIP, pracCountry     int
	pracPhone, pracFax, enumDate, updateDate, deactDate, sex             int
	offLast, offFirst, offTitle, offPhone, offPrefix, offCred            int
	taxCode, license, licenseState, primarySwitch, taxGroup              [15]int
	otherID, otherIDType, otherIDState, otherIDIssuer                    int
	soleProp, subpart, parentLBN, parentTIN, certDate                    int
}

// newNPPESLayout returns the V2 layout (330 columns), or with old the
// layout of files before mid-2025: 329 columns, no Certification Date,
// "Provider Gender Code" for "Provider Sex Code".
func newNPPESLayout(old bool) (*nppesLayout, error) {
	hdr := bytes.TrimRight(nppesHeaderV2, "\r\n")
	names := strings.Split(strings.Trim(string(hdr), `"`), `","`)
	if old {
		var kept []string
		for _, n := range names {
			switch n {
			case "Certification Date":
				continue
			case "Provider Sex Code":
				n = "Provider Gender Code"
			}
			kept = append(kept, n)
		}
		names = kept
	}
	l := &nppesLayout{ncols: len(names), col: make(map[string]int, len(names))}
	for k, n := range names {
		l.col[n] = k
	}
	if old {
		var b []byte
		for k, n := range names {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, n...)
			b = append(b, '"')
		}
		l.header = append(b, '\n')
	} else {
		l.header = append(append([]byte(nil), hdr...), '\n')
	}
	var missing []string
	c := func(name string) int {
		k, ok := l.col[name]
		if !ok {
			missing = append(missing, name)
			return -1
		}
		return k
	}
	l.npi = c("NPI")
	l.entity = c("Entity Type Code")
	l.ein = c("Employer Identification Number (EIN)")
	l.orgName = c("Provider Organization Name (Legal Business Name)")
	l.last = c("Provider Last Name (Legal Name)")
	l.first = c("Provider First Name")
	l.middle = c("Provider Middle Name")
	l.prefix = c("Provider Name Prefix Text")
	l.suffix = c("Provider Name Suffix Text")
	l.cred = c("Provider Credential Text")
	l.otherOrg = c("Provider Other Organization Name")
	l.otherOrgType = c("Provider Other Organization Name Type Code")
	l.mail1 = c("Provider First Line Business Mailing Address")
	l.mail2 = c("Provider Second Line Business Mailing Address")
	l.mailCity = c("Provider Business Mailing Address City Name")
	l.mailState = c("Provider Business Mailing Address State Name")
	l.mailZIP = c("Provider Business Mailing Address Postal Code")
	l.mailCountry = c("Provider Business Mailing Address Country Code (If outside U.S.)")
	l.mailPhone = c("Provider Business Mailing Address Telephone Number")
	l.mailFax = c("Provider Business Mailing Address Fax Number")
	l.prac1 = c("Provider First Line Business Practice Location Address")
	l.prac2 = c("Provider Second Line Business Practice Location Address")
	l.pracCity = c("Provider Business Practice Location Address City Name")
	l.pracState = c("Provider Business Practice Location Address State Name")
	l.pracZIP = c("Provider Business Practice Location Address Postal Code")
	l.pracCountry = c("Provider Business Practice Location Address Country Code (If outside U.S.)")
	l.pracPhone = c("Provider Business Practice Location Address Telephone Number")
	l.pracFax = c("Provider Business Practice Location Address Fax Number")
	l.enumDate = c("Provider Enumeration Date")
	l.updateDate = c("Last Update Date")
	l.deactDate = c("NPI Deactivation Date")
	if old {
		l.sex = c("Provider Gender Code")
		l.certDate = -1
	} else {
		l.sex = c("Provider Sex Code")
		l.certDate = c("Certification Date")
	}
	l.offLast = c("Authorized Official Last Name")
	l.offFirst = c("Authorized Official First Name")
	l.offTitle = c("Authorized Official Title or Position")
	l.offPhone = c("Authorized Official Telephone Number")
	l.offPrefix = c("Authorized Official Name Prefix Text")
	l.offCred = c("Authorized Official Credential Text")
	for k := 0; k < 15; k++ {
		n := strconv.Itoa(k + 1)
		l.taxCode[k] = c("Healthcare Provider Taxonomy Code_" + n)
		l.license[k] = c("Provider License Number_" + n)
		l.licenseState[k] = c("Provider License Number State Code_" + n)
		l.primarySwitch[k] = c("Healthcare Provider Primary Taxonomy Switch_" + n)
		l.taxGroup[k] = c("Healthcare Provider Taxonomy Group_" + n)
	}
	l.otherID = c("Other Provider Identifier_1")
	l.otherIDType = c("Other Provider Identifier Type Code_1")
	l.otherIDState = c("Other Provider Identifier State_1")
	l.otherIDIssuer = c("Other Provider Identifier Issuer_1")
	l.soleProp = c("Is Sole Proprietor")
	l.subpart = c("Is Organization Subpart")
	l.parentLBN = c("Parent Organization LBN")
	l.parentTIN = c("Parent Organization TIN")
	if len(missing) > 0 {
		return nil, fmt.Errorf("sample: NPPES header lacks %q", missing)
	}
	return l, nil
}

// row is one sparse NPPES record: the values of the filled columns back to
// back in buf, and each column's span in it.
type row struct {
	buf  []byte
	span [][2]int32
}

func newRow(ncols int) *row {
	return &row{buf: make([]byte, 0, 2048), span: make([][2]int32, ncols)}
}

func (r *row) reset() {
	r.buf = r.buf[:0]
	clear(r.span)
}

// mark starts a value; done assigns what was appended since to column col.
func (r *row) mark() int { return len(r.buf) }
func (r *row) done(col, start int) {
	if col >= 0 {
		r.span[col] = [2]int32{int32(start), int32(len(r.buf))}
	}
}

func (r *row) set(col int, s string) {
	if s == "" || col < 0 {
		return
	}
	st := r.mark()
	r.buf = append(r.buf, s...)
	r.done(col, st)
}

func (r *row) setInt(col int, v int64) {
	st := r.mark()
	r.buf = strconv.AppendInt(r.buf, v, 10)
	r.done(col, st)
}

func (r *row) setDate(col, days int) {
	if days == 0 || col < 0 {
		return
	}
	st := r.mark()
	r.buf = appendDate(r.buf, days)
	r.done(col, st)
}

// appendTo appends the record with every value double-quoted, as NPPES
// writes it.
func (r *row) appendTo(b []byte) []byte {
	for k, sp := range r.span {
		if k > 0 {
			b = append(b, ',')
		}
		v := r.buf[sp[0]:sp[1]]
		if bytes.IndexByte(v, '"') < 0 {
			b = append(b, '"')
			b = append(b, v...)
			b = append(b, '"')
			continue
		}
		b = appendFieldBytes(b, v, true)
	}
	return append(b, '\n')
}

// fill writes provider p into the row.
func (l *nppesLayout) fill(r *row, p *provider) {
	r.reset()
	r.set(l.npi, p.npi)
	if p.deactivated {
		r.setDate(l.deactDate, p.deactDay)
		return
	}
	if p.org {
		r.set(l.entity, "2")
		r.set(l.ein, p.ein)
		st := r.mark()
		r.buf = p.appendOrgName(r.buf)
		r.done(l.orgName, st)
		if p.dba != "" {
			r.set(l.otherOrg, p.dba)
			r.set(l.otherOrgType, "3")
		}
		r.set(l.offLast, p.offLast)
		r.set(l.offFirst, p.offFirst)
		r.set(l.offTitle, p.offTitle)
		r.setInt(l.offPhone, p.offPhone)
		r.set(l.subpart, p.subpart)
		if p.subpart == "Y" {
			r.set(l.parentLBN, "UNIVERSITY HEALTH SYSTEM INC")
			r.set(l.parentTIN, "<UNAVAIL>")
		}
	} else {
		r.set(l.entity, "1")
		r.set(l.last, p.last)
		r.set(l.first, p.first)
		r.set(l.middle, p.middle)
		r.set(l.prefix, p.prefix)
		r.set(l.suffix, p.suffix)
		r.set(l.cred, p.cred)
		r.set(l.sex, p.sex)
		r.set(l.soleProp, p.soleProp)
	}
	// Mailing address: the practice address or a PO box in the same city.
	st := r.mark()
	if p.mailPOBox > 0 {
		r.buf = append(r.buf, "PO BOX "...)
		r.buf = strconv.AppendInt(r.buf, int64(p.mailPOBox), 10)
	} else {
		r.buf = p.appendStreet(r.buf)
	}
	r.done(l.mail1, st)
	if p.mailPOBox == 0 {
		r.set(l.mail2, p.line2)
	}
	r.set(l.mailCity, p.practice.city)
	r.set(l.mailState, p.practice.state)
	st = r.mark()
	r.buf = p.appendZIP(r.buf)
	r.done(l.mailZIP, st)
	r.set(l.mailCountry, "US")
	r.setInt(l.mailPhone, p.phone)
	if p.fax != 0 {
		r.setInt(l.mailFax, p.fax)
	}
	st = r.mark()
	r.buf = p.appendStreet(r.buf)
	r.done(l.prac1, st)
	r.set(l.prac2, p.line2)
	r.set(l.pracCity, p.practice.city)
	r.set(l.pracState, p.practice.state)
	st = r.mark()
	r.buf = p.appendZIP(r.buf)
	r.done(l.pracZIP, st)
	r.set(l.pracCountry, "US")
	r.setInt(l.pracPhone, p.phone)
	if p.fax != 0 {
		r.setInt(l.pracFax, p.fax)
	}
	r.setDate(l.enumDate, p.enumDay)
	r.setDate(l.updateDate, p.updateDay)
	r.setDate(l.certDate, p.certDay)
	for k := 0; k < p.ntax; k++ {
		r.set(l.taxCode[k], taxonomies[p.tax[k]].code)
		if !p.org {
			r.set(l.license[k], p.license[k])
			r.set(l.licenseState[k], p.practice.state)
		}
		if k == p.primary {
			r.set(l.primarySwitch[k], "Y")
		} else {
			r.set(l.primarySwitch[k], "N")
		}
	}
	if p.otherID != "" {
		r.set(l.otherID, p.otherID)
		r.set(l.otherIDType, "05") // MEDICAID
		r.set(l.otherIDState, p.practice.state)
	}
}

// nppesCounts says what an NPPES file holds.
type nppesCounts struct {
	rows, individuals, organizations, deactivated, changed, added int
}

func (c *nppesCounts) count(p *provider) {
	c.rows++
	switch {
	case p.deactivated:
		c.deactivated++
	case p.org:
		c.organizations++
	default:
		c.individuals++
	}
	if p.weeklyChanged {
		c.changed++
	}
	if p.weeklyNewRecord {
		c.added++
	}
}

// WriteNPPES writes the monthly NPPES main file (npidata_pfile) of opts to
// w: the 330-column header (329 with OldLayout) and opts.Providers records,
// every value double-quoted. It streams: memory does not grow with
// opts.Providers.
func WriteNPPES(w io.Writer, opts Options) error {
	_, err := writeNPPES(w, opts.withDefaults(), false)
	return err
}

func writeNPPES(w io.Writer, opts Options, weekly bool) (nppesCounts, error) {
	var c nppesCounts
	l, err := newNPPESLayout(opts.OldLayout)
	if err != nil {
		return c, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(l.header); err != nil {
		return c, err
	}
	g := newGenerator(opts.Seed)
	r := newRow(l.ncols)
	var line []byte
	emit := func(p *provider) error {
		l.fill(r, p)
		line = r.appendTo(line[:0])
		c.count(p)
		_, err := bw.Write(line)
		return err
	}
	if !weekly {
		for i := 0; i < opts.Providers; i++ {
			p := g.provider(i)
			if err := emit(&p); err != nil {
				return c, err
			}
		}
	} else {
		changed, added := weeklySizes(opts.Providers)
		for k := 0; k < changed; k++ {
			p := g.provider(weeklyChangedIndex(k, opts.Providers))
			g.changeForWeek(&p)
			if err := emit(&p); err != nil {
				return c, err
			}
		}
		for k := 0; k < added; k++ {
			p := g.newForWeek(opts.Providers + k)
			if err := emit(&p); err != nil {
				return c, err
			}
		}
	}
	return c, bw.Flush()
}

// weeklySizes returns how many existing providers the weekly increment
// changes and how many new ones it adds.
func weeklySizes(providers int) (changed, added int) {
	n := max(2, providers/20)
	return (n + 1) / 2, n / 2
}

// weeklyChangedIndex returns the k-th provider the weekly increment
// changes: spread over the file, never a deactivated one.
func weeklyChangedIndex(k, providers int) int {
	i := (k*37 + 3) % providers
	for isDeactivated(i) {
		i = (i + 1) % providers
	}
	return i
}
