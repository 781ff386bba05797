package sample

import (
	"bufio"
	"fmt"
	"io"
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

// writeGazetteer writes a Census ZCTA gazetteer of every ZIP code of the
// embedded centroid table, at its centroids: tab-separated, the last header
// name padded with spaces as in the Census file. The land and water areas
// are invented. Every ZCTA, not only the ones the sample uses: once a
// gazetteer is loaded the loaders place addresses with it instead of the
// embedded table, so after the quick start (serve --sample) a real NPPES
// file loaded into the same database is placed as it would be without the
// sample, not only in the sample's few ZIP codes.
func writeGazetteer(w io.Writer) (int, error) {
	cents, err := geo.EmbeddedCentroids()
	if err != nil {
		return 0, err
	}
	for _, p := range places {
		if _, _, ok := cents.Lookup(p.zip); !ok {
			return 0, fmt.Errorf("ZIP %s is not in the centroid table", p.zip)
		}
	}
	all := cents.All()
	bw := bufio.NewWriter(w)
	bw.WriteString("GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG                                                                                                               \n")
	g := newGenerator(0)
	var b []byte
	for k, c := range all {
		r := g.stream(k, 5)
		land := int64(500_000 + r.IntN(80_000_000))
		water := int64(r.IntN(3_000_000))
		b = append(b[:0], c.ZIP...)
		b = append(b, '\t')
		b = strconv.AppendInt(b, land, 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, water, 10)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, float64(land)/2_589_988.11, 'f', 3, 64)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, float64(water)/2_589_988.11, 'f', 3, 64)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, c.Lat, 'f', 6, 64)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, c.Lon, 'f', 6, 64)
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return 0, err
		}
	}
	return len(all), bw.Flush()
}
