package main

import (
	"context"

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
// them in load order (reference data first), the order of
// sampleDatasets. It stops when ctx ends (sample.WriteContext).
func writeSample(ctx context.Context, dir string, n int, seed int64) ([]sampleFile, error) {
	f, err := sample.WriteContext(ctx, dir, sample.Options{Providers: n, Seed: seed})
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

// sampleDatasets names the datasets of the sample in load order, as
// writeSample returns their files.
func sampleDatasets() []string {
	return []string{string(medsales.ZCTA), string(medsales.NUCC), string(medsales.NPPES), string(medsales.NPPESLocations),
		string(medsales.NPPESOtherNames), string(medsales.NPPESEndpoints), string(medsales.PartB), string(medsales.PartD),
		string(medsales.OpenPayments)}
}
