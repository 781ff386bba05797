// Package sample writes small or large, deterministic sets of the public
// provider dataset files in their publishers' exact formats — NPPES main,
// practice location, other name and endpoint files, the NUCC taxonomy,
// CMS Medicare Part B and Part D, CMS Open Payments and the Census ZCTA
// gazetteer — for tests, demos and load benchmarks without downloading
// gigabytes.
//
// The files agree with each other: every NPI in the CMS files, the
// companion files and the weekly increment is a generated NPPES provider
// with the same name and practice place; every NPI carries a valid check
// digit; every practice ZIP code is a real ZCTA with its real city and
// state, present in the embedded centroid table. Names of people,
// organizations and streets are invented. Output depends only on Options:
// the same seed writes the same bytes.
package sample

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names, as the publishers name them (the August 2026 NPPES release,
// CMS data year 2024, Open Payments program year 2024 published
// 01/23/2026).
const (
	NPPESFile        = "npidata_pfile_20050523-20260810.csv"
	NPPESWeeklyFile  = "npidata_pfile_20260811-20260817.csv"
	LocationsFile    = "pl_pfile_20050523-20260810.csv"
	OtherNamesFile   = "othername_pfile_20050523-20260810.csv"
	EndpointsFile    = "endpoint_pfile_20050523-20260810.csv"
	NUCCFile         = "nucc_taxonomy_251.csv"
	PartBFile        = "MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv"
	PartDFile        = "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"
	OpenPaymentsFile = "OP_DTL_GNRL_PGYR2024_P01232026.csv"
	GazetteerFile    = "2024_Gaz_zcta_national.txt"
)

// Options choose what Write generates. The zero value writes 100
// providers with seed 0 in the current layouts.
type Options struct {
	// Providers is the number of records in the NPPES main file (default
	// 100). About 2% are deactivated NPIs, 20% organizations.
	Providers int
	// Seed selects the generated content; the same seed gives the same
	// files.
	Seed int64
	// OldLayout writes the NPPES main file in the layout of files before
	// mid-2025: 329 columns, no Certification Date, "Provider Gender Code"
	// instead of "Provider Sex Code".
	OldLayout bool
	// Weekly also writes a weekly increment (NPPESWeeklyFile): about one
	// provider in 40 of the main file with a new practice address and
	// update date, and as many new providers.
	Weekly bool
}

// MaxProviders is the largest Providers Write accepts: NPIs are unique
// for up to 10^8 records, and the weekly file adds about one new provider
// in 40 after those of the main file.
const MaxProviders = 90_000_000

func (o Options) withDefaults() Options {
	if o.Providers <= 0 {
		o.Providers = 100
	}
	return o
}

// Files lists the paths Write created and what they hold.
type Files struct {
	Dir                              string
	NPPES, NPPESWeekly               string // NPPESWeekly is "" without Options.Weekly
	Locations, OtherNames, Endpoints string
	NUCC, PartB, PartD, OpenPayments string
	Gazetteer                        string
	Counts                           Counts
}

// Counts are the data rows (header excluded) of each file and a breakdown
// of the NPPES records.
type Counts struct {
	NPPES, Individuals, Organizations, Deactivated int
	// NPPESWeekly = WeeklyChanged + WeeklyNew.
	NPPESWeekly, WeeklyChanged, WeeklyNew int
	Locations, OtherNames, Endpoints      int
	NUCC, PartB, PartD, OpenPayments      int
	Gazetteer                             int
}

// Write creates dir if needed and writes the sample files into it,
// replacing files of the same names.
func Write(dir string, opts Options) (Files, error) {
	return WriteContext(context.Background(), dir, opts)
}

// WriteContext is Write stopping when ctx ends: a sample of millions of
// providers takes minutes to write, longer than a process stopped with
// SIGTERM has before it is killed. It then returns an error wrapping
// ctx's, with the file being written removed; the files written before
// it stay.
func WriteContext(ctx context.Context, dir string, opts Options) (Files, error) {
	opts = opts.withDefaults()
	if opts.Providers > MaxProviders {
		return Files{}, fmt.Errorf("sample: %d providers is more than the %d whose NPIs are unique", opts.Providers, MaxProviders)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Files{}, fmt.Errorf("sample: %w", err)
	}
	f := Files{Dir: dir}
	path := func(name string) string { return filepath.Join(dir, name) }
	steps := []struct {
		dst  *string
		name string
		fn   func(w io.Writer) error
	}{
		{&f.NPPES, NPPESFile, func(w io.Writer) error {
			c, err := writeNPPES(w, opts, false)
			f.Counts.NPPES, f.Counts.Individuals, f.Counts.Organizations, f.Counts.Deactivated = c.rows, c.individuals, c.organizations, c.deactivated
			return err
		}},
		{&f.Locations, LocationsFile, func(w io.Writer) (err error) {
			f.Counts.Locations, err = writeLocations(w, opts)
			return err
		}},
		{&f.OtherNames, OtherNamesFile, func(w io.Writer) (err error) {
			f.Counts.OtherNames, err = writeOtherNames(w, opts)
			return err
		}},
		{&f.Endpoints, EndpointsFile, func(w io.Writer) (err error) {
			f.Counts.Endpoints, err = writeEndpoints(w, opts)
			return err
		}},
		{&f.NUCC, NUCCFile, func(w io.Writer) (err error) {
			f.Counts.NUCC, err = writeNUCC(w)
			return err
		}},
		{&f.PartB, PartBFile, func(w io.Writer) (err error) {
			f.Counts.PartB, err = writePartB(w, opts)
			return err
		}},
		{&f.PartD, PartDFile, func(w io.Writer) (err error) {
			f.Counts.PartD, err = writePartD(w, opts)
			return err
		}},
		{&f.OpenPayments, OpenPaymentsFile, func(w io.Writer) (err error) {
			f.Counts.OpenPayments, err = writeOpenPayments(w, opts)
			return err
		}},
		{&f.Gazetteer, GazetteerFile, func(w io.Writer) (err error) {
			f.Counts.Gazetteer, err = writeGazetteer(w)
			return err
		}},
	}
	if opts.Weekly {
		steps = append(steps, struct {
			dst  *string
			name string
			fn   func(w io.Writer) error
		}{&f.NPPESWeekly, NPPESWeeklyFile, func(w io.Writer) error {
			c, err := writeNPPES(w, opts, true)
			f.Counts.NPPESWeekly, f.Counts.WeeklyChanged, f.Counts.WeeklyNew = c.rows, c.changed, c.added
			return err
		}})
	}
	for _, s := range steps {
		p := path(s.name)
		if err := writeFile(ctx, p, s.fn); err != nil {
			return Files{}, fmt.Errorf("sample: %s: %w", s.name, err)
		}
		*s.dst = p
	}
	return f, nil
}

// writeFile writes a file through a buffer and reports the first error,
// closing included. The file is written under a temporary name and renamed
// into place: a load reading the file of that name meanwhile (a second
// 'medsales serve --sample' started beside the first on the same data
// directory) keeps reading a whole file, where rewriting it in place
// truncated it under the reader ("truncated input: last record has 4 of 7
// fields"), and an interrupted write leaves no half file behind.
func writeFile(ctx context.Context, path string, fn func(w io.Writer) error) (err error) {
	out, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(out.Name(), path)
		}
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	// CreateTemp makes the file 0600; sample files are as readable as
	// os.Create made them.
	if err := out.Chmod(0o644); err != nil {
		return err
	}
	// The context is checked at each write of the buffer: once a MiB.
	bw := bufio.NewWriterSize(ctxWriter{ctx: ctx, w: out}, 1<<20)
	if err := fn(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// ctxWriter writes to w until ctx ends, then fails with ctx's error.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
