package main

import (
	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// sampleFile is one written sample file and the dataset it loads into.
type sampleFile struct {
	dataset medsales.Dataset
	path    string
}

// writeSample writes sample files for n providers into dir and returns
// them in load order (reference data first).
func writeSample(dir string, n int, seed int64) ([]sampleFile, error) {
	f, err := sample.Write(dir, sample.Options{Providers: n, Seed: seed})
	if err != nil {
		return nil, err
	}
	return []sampleFile{
		{medsales.ZCTA, f.Gazetteer},
		{medsales.NUCC, f.NUCC},
		{medsales.NPPES, f.NPPES},
		{medsales.NPPESLocations, f.Locations},
		{medsales.NPPESOtherNames, f.OtherNames},
		{medsales.NPPESEndpoints, f.Endpoints},
		{medsales.PartB, f.PartB},
		{medsales.PartD, f.PartD},
		{medsales.OpenPayments, f.OpenPayments},
	}, nil
}
