package main

import (
	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// sampleFile is one written sample file and the dataset it loads into.
type sampleFile struct {
	dataset medsales.Dataset
	path    string
	rows    int // data rows, header excluded
}

// writeSample writes sample files for n providers into dir and returns
// them in load order (reference data first).
func writeSample(dir string, n int, seed int64) ([]sampleFile, error) {
	f, err := sample.Write(dir, sample.Options{Providers: n, Seed: seed})
	if err != nil {
		return nil, err
	}
	c := f.Counts
	return []sampleFile{
		{medsales.ZCTA, f.Gazetteer, c.Gazetteer},
		{medsales.NUCC, f.NUCC, c.NUCC},
		{medsales.NPPES, f.NPPES, c.NPPES},
		{medsales.NPPESLocations, f.Locations, c.Locations},
		{medsales.NPPESOtherNames, f.OtherNames, c.OtherNames},
		{medsales.NPPESEndpoints, f.Endpoints, c.Endpoints},
		{medsales.PartB, f.PartB, c.PartB},
		{medsales.PartD, f.PartD, c.PartD},
		{medsales.OpenPayments, f.OpenPayments, c.OpenPayments},
	}, nil
}
