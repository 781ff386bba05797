package sample

import (
	"bufio"
	"io"
	"strconv"
)

// The NPPES companion files' headers, verbatim (note the double space in
// "Address-  Address Line 2": it is in the publisher's file).
const (
	locationsHeader  = `"NPI","Provider Secondary Practice Location Address- Address Line 1","Provider Secondary Practice Location Address-  Address Line 2","Provider Secondary Practice Location Address - City Name","Provider Secondary Practice Location Address - State Name","Provider Secondary Practice Location Address - Postal Code","Provider Secondary Practice Location Address - Country Code (If outside U.S.)","Provider Secondary Practice Location Address - Telephone Number","Provider Secondary Practice Location Address - Telephone Extension","Provider Practice Location Address - Fax Number"` + "\n"
	otherNamesHeader = `"NPI","Provider Other Organization Name","Provider Other Organization Name Type Code"` + "\n"
	endpointsHeader  = `"NPI","Endpoint Type","Endpoint Type Description","Endpoint","Affiliation","Endpoint Description","Affiliation Legal Business Name","Use Code","Use Description","Other Use Description","Content Type","Content Description","Other Content Description","Affiliation Address Line One","Affiliation Address Line Two","Affiliation Address City","Affiliation Address State","Affiliation Address Country","Affiliation Address Postal Code"` + "\n"
)

// writeLocations writes pl_pfile: 10 columns, secondary practice
// locations of the individuals that have some.
func writeLocations(w io.Writer, opts Options) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString(locationsHeader)
	g := newGenerator(opts.Seed)
	l := line{quoteAll: true}
	n := 0
	var tmp []byte
	for i := 0; i < opts.Providers; i++ {
		p := g.provider(i)
		if p.secondaryLocs == 0 {
			continue
		}
		r := g.stream(i, 4)
		for k := 0; k < p.secondaryLocs; k++ {
			pl := pick(r, places)
			l.str(p.npi)
			tmp = strconv.AppendInt(tmp[:0], int64(1+r.IntN(9899)), 10)
			tmp = append(tmp, ' ')
			tmp = append(tmp, pick(r, streets)...)
			l.bytes(tmp)
			if r.IntN(2) == 0 {
				l.str(pick(r, suites))
			} else {
				l.str("")
			}
			l.str(pl.city)
			l.str(pl.state)
			tmp = append(tmp[:0], pl.zip...)
			tmp = strconv.AppendInt(tmp, int64(1000+r.IntN(9000)), 10)
			l.bytes(tmp)
			l.str("US")
			l.int(phone(r))
			l.str("")
			if r.IntN(2) == 0 {
				l.int(phone(r))
			} else {
				l.str("")
			}
			if err := l.end(bw); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, bw.Flush()
}

// writeOtherNames writes othername_pfile: the organizations' other names
// (type code 3, doing business as), as in the main file.
func writeOtherNames(w io.Writer, opts Options) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString(otherNamesHeader)
	g := newGenerator(opts.Seed)
	l := line{quoteAll: true}
	n := 0
	for i := 0; i < opts.Providers; i++ {
		p := g.provider(i)
		if p.dba == "" {
			continue
		}
		l.strs(p.npi, p.dba, "3")
		if err := l.end(bw); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}

// writeEndpoints writes endpoint_pfile (19 columns): Direct messaging
// addresses and FHIR endpoints.
func writeEndpoints(w io.Writer, opts Options) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString(endpointsHeader)
	g := newGenerator(opts.Seed)
	l := line{quoteAll: true}
	n := 0
	var tmp []byte
	for i := 0; i < opts.Providers; i++ {
		p := g.provider(i)
		if !p.endpoint {
			continue
		}
		l.str(p.npi)
		tmp = tmp[:0]
		if p.org {
			l.strs("FHIR", "FHIR URL")
			tmp = append(tmp, "https://fhir.example.org/r4/"...)
			tmp = append(tmp, p.npi...)
			l.bytes(tmp)
			l.strs("N", "FHIR R4 patient access API", "", "OTHER", "Other", "Patient access", "OTHER", "Other", "FHIR R4")
			tmp = p.appendStreet(tmp[:0])
			l.bytes(tmp)
			l.str(p.line2)
		} else {
			l.strs("DIRECT", "Direct Messaging Address")
			tmp = append(tmp, p.first...)
			tmp = append(tmp, '.')
			tmp = append(tmp, p.last...)
			tmp = append(tmp, p.npi[6:]...)
			tmp = append(tmp, "@direct.example.org"...)
			l.bytes(tmp)
			l.strs("Y", "Direct address for referrals", "COMMUNITY HEALTH PARTNERS LLC", "DIRECT", "Direct", "", "CSV", "CSV", "")
			tmp = p.appendStreet(tmp[:0])
			l.bytes(tmp)
			l.str(p.line2)
		}
		l.str(p.practice.city)
		l.str(p.practice.state)
		l.str("US")
		tmp = p.appendZIP(tmp[:0])
		l.bytes(tmp)
		if err := l.end(bw); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}
