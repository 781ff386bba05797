package sample

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

const nuccHeader = `"Code","Grouping","Classification","Specialization","Definition","Notes","Display Name","Section"` + "\n"

// writeNUCC writes the NUCC taxonomy subset the sample uses: real codes
// and names. The definitions are short descriptions written for the
// sample, not NUCC's text.
func writeNUCC(w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString(nuccHeader)
	l := line{quoteAll: true}
	for _, t := range taxonomies {
		def := "A provider of " + t.classification
		if t.specialization != "" {
			def += ", specializing in " + t.specialization
		}
		def += "."
		l.strs(t.code, t.grouping, t.classification, t.specialization, def, "", t.display, t.section)
		if err := l.end(bw); err != nil {
			return 0, err
		}
	}
	return len(taxonomies), bw.Flush()
}

// writeGazetteer writes a Census ZCTA gazetteer covering every ZIP code
// the sample uses: tab-separated, the last header name padded with spaces
// as in the Census file, the centroids of the embedded table. The land and
// water areas are invented.
func writeGazetteer(w io.Writer) (int, error) {
	cents, err := geo.EmbeddedCentroids()
	if err != nil {
		return 0, err
	}
	zips := make([]string, 0, len(places))
	seen := map[string]bool{}
	for _, p := range places {
		if !seen[p.zip] {
			seen[p.zip] = true
			zips = append(zips, p.zip)
		}
	}
	sort.Strings(zips)
	bw := bufio.NewWriter(w)
	bw.WriteString("GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG                                                                                                               \n")
	g := newGenerator(0)
	var b []byte
	for k, z := range zips {
		lat, lon, ok := cents.Lookup(z)
		if !ok {
			return 0, fmt.Errorf("ZIP %s is not in the centroid table", z)
		}
		r := g.stream(k, 5)
		land := int64(500_000 + r.IntN(80_000_000))
		water := int64(r.IntN(3_000_000))
		b = append(b[:0], z...)
		b = append(b, '\t')
		b = strconv.AppendInt(b, land, 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, water, 10)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, float64(land)/2_589_988.11, 'f', 3, 64)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, float64(water)/2_589_988.11, 'f', 3, 64)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, lat, 'f', 6, 64)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, lon, 'f', 6, 64)
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return 0, err
		}
	}
	return len(zips), bw.Flush()
}
