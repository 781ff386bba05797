package source_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
)

// The members of a monthly NPPES archive, in miniature. pl_pfile is the
// largest, so picking by size alone would not find the main file.
var (
	pfile      = member{name: "npidata_pfile_20050523-20260810.csv", data: csvRows(50)}
	fileheader = member{name: "npidata_pfile_20050523-20260810_fileheader.csv", data: []byte("\"NPI\",\"Entity Type Code\"\n")}
	plpfile    = member{name: "pl_pfile_20050523-20260810.csv", data: csvRows(200)}
	readme     = member{name: "NPPES_Data_Dissemination_Readme.pdf", data: []byte("%PDF-1.4 readme")}
)

func TestOpenLocal(t *testing.T) {
	csv := csvRows(20)
	nppes := buildZip(t, readme, fileheader, pfile, plpfile)
	tests := []struct {
		name    string
		file    string // base name to write
		content []byte
		opts    source.Options
		want    member // the member (or plain file) expected
		archive string
	}{
		{
			name: "plain csv", file: "nucc_taxonomy_251.csv", content: csv,
			want: member{name: "nucc_taxonomy_251.csv", data: csv},
		},
		{
			name: "plain empty file", file: "empty.csv", content: nil,
			want: member{name: "empty.csv", data: nil},
		},
		{
			name: "zip with one csv", file: "OP_DTL_GNRL_PGYR2024_P01232026.zip",
			content: buildZip(t, member{name: "OP_DTL_GNRL_PGYR2024_P01232026.csv", data: csv}),
			want:    member{name: "OP_DTL_GNRL_PGYR2024_P01232026.csv", data: csv},
			archive: "OP_DTL_GNRL_PGYR2024_P01232026.zip",
		},
		{
			name: "stored member in a folder", file: "gaz.zip",
			content: buildZip(t, member{name: "2024_Gaz_zcta_national/", data: nil, store: true},
				member{name: "2024_Gaz_zcta_national/2024_Gaz_zcta_national.txt", data: csv, store: true}),
			want:    member{name: "2024_Gaz_zcta_national.txt", data: csv},
			archive: "gaz.zip",
		},
		{
			name: "zip recognised by its bytes, not its name", file: "download.csv",
			content: buildZip(t, member{name: "nucc_taxonomy_251.csv", data: csv}),
			want:    member{name: "nucc_taxonomy_251.csv", data: csv},
			archive: "download.csv",
		},
		{
			name: "dataset picks the pfile over fileheader and the larger pl_pfile", file: "NPPES_Data_Dissemination_August_2026_V2.zip",
			content: nppes, opts: source.Options{Dataset: medsales.NPPES},
			want: pfile, archive: "NPPES_Data_Dissemination_August_2026_V2.zip",
		},
		{
			name: "member by name", file: "NPPES_Data_Dissemination_August_2026_V2.zip",
			content: nppes, opts: source.Options{Member: plpfile.name, Dataset: medsales.NPPES},
			want: plpfile, archive: "NPPES_Data_Dissemination_August_2026_V2.zip",
		},
		{
			name: "member by base name", file: "gaz.zip",
			content: buildZip(t, member{name: "a/x.txt", data: []byte("x")}, member{name: "a/y.txt", data: []byte("yy")}),
			opts:    source.Options{Member: "x.txt"},
			want:    member{name: "x.txt", data: []byte("x")}, archive: "gaz.zip",
		},
		{
			name: "no pattern: the largest csv", file: "NPPES_Data_Dissemination_August_2026_V2.zip",
			content: nppes,
			want:    plpfile, archive: "NPPES_Data_Dissemination_August_2026_V2.zip",
		},
		{
			name: "no pattern: a .txt beside a pdf", file: "x.ZIP",
			content: buildZip(t, readme, member{name: "DATA.TXT", data: csv}),
			want:    member{name: "DATA.TXT", data: csv}, archive: "x.ZIP",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), tt.file, tt.content)
			f, err := source.Open(context.Background(), p, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			checkFile(t, f, tt.want.name, tt.archive, int64(len(tt.want.data)), tt.want.data)
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestOpenLocalErrors(t *testing.T) {
	dir := t.TempDir()
	nppes := buildZip(t, readme, fileheader, pfile, plpfile)
	tests := []struct {
		name    string
		file    string // base name to write; "" = do not write
		content []byte
		opts    source.Options
		is      error    // errors.Is target, or nil
		says    []string // substrings of the message; the path is always checked
	}{
		{name: "missing", file: "", is: fs.ErrNotExist},
		{name: "no csv inside", file: "NPPES_Deactivated_NPI_Report_081126_V2.zip",
			content: buildZip(t, readme, member{name: "NPPES Deactivated NPI Report 20260811.xlsx", data: []byte("PK..")}),
			says:    []string{"no .csv or .txt member", readme.name, "NPPES Deactivated NPI Report 20260811.xlsx"}},
		{name: "empty zip", file: "empty.zip", content: buildZip(t), says: []string{"no files"}},
		{name: "member not found", file: "n.zip", content: nppes, opts: source.Options{Member: "endpoint_pfile.csv"},
			says: []string{`no member "endpoint_pfile.csv"`, pfile.name, plpfile.name}},
		{name: "no member of the dataset, only another's", file: "n.zip", content: buildZip(t, plpfile, readme), opts: source.Options{Dataset: medsales.NPPES},
			says: []string{"no member named like the nppes file (npidata_pfile_*.csv)", "named like the nppes-locations file", plpfile.name, readme.name}},
		{name: "truncated by one byte", file: "n.zip", content: nppes[:len(nppes)-1], is: zip.ErrFormat, says: []string{"not a valid zip file"}},
		{name: "truncated to half", file: "n.zip", content: nppes[:len(nppes)/2], is: zip.ErrFormat},
		{name: "truncated to the magic", file: "n.zip", content: nppes[:4], is: zip.ErrFormat},
		{name: "truncated below the magic, .zip name", file: "n.zip", content: nppes[:2], is: zip.ErrFormat},
		{name: "truncated, named .csv", file: "npidata.csv", content: nppes[:len(nppes)-30], is: zip.ErrFormat},
		{name: "html error page saved as .zip", file: "n.zip", content: []byte("<html>Access denied</html>"), is: zip.ErrFormat},
		{name: "unsupported compression method", file: "d64.zip", content: buildZip(t, member{name: "a.csv", data: []byte("x"), method: 99}, member{name: "b.pdf"}),
			is: zip.ErrAlgorithm, says: []string{"a.csv", "compression method 99"}},
		// It failed as "flate: corrupt input": the ciphertext read as
		// deflate data.
		{name: "encrypted member", file: "enc.zip", content: buildZip(t, member{name: "nucc_taxonomy_251.csv", data: []byte("Code\n"), encrypted: true}),
			says: []string{"member nucc_taxonomy_251.csv is encrypted (password-protected)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dir + "/does-not-exist.csv"
			if tt.file != "" {
				p = writeFile(t, t.TempDir(), tt.file, tt.content)
			}
			f, err := source.Open(context.Background(), p, tt.opts)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			for _, s := range append([]string{p}, tt.says...) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

// TestZipMemberCorrupt checks that damage inside a member whose directory is
// intact surfaces as a read error naming the archive and member, never as a
// short or wrong read ending in io.EOF.
func TestZipMemberCorrupt(t *testing.T) {
	data := csvRows(500)
	tests := []struct {
		name   string
		store  bool
		damage func(z []byte) // changes the member's data in place
		is     error
	}{
		{
			name: "stored member, one byte flipped: CRC mismatch", store: true,
			damage: func(z []byte) { z[bytes.Index(z, data)+100] ^= 0x20 }, is: zip.ErrChecksum,
		},
		{
			name: "deflated member, bytes overwritten",
			damage: func(z []byte) {
				// The deflate stream starts after the 30-byte local
				// header and the name.
				start := 30 + len("npidata_pfile_20050523-20260810.csv")
				for i := start + 20; i < start+60; i++ {
					z[i] = 0xff
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := buildZip(t, member{name: "npidata_pfile_20050523-20260810.csv", data: data, store: tt.store})
			tt.damage(z)
			p := writeFile(t, t.TempDir(), "NPPES.zip", z)
			f, err := source.Open(context.Background(), p, source.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			_, err = io.ReadAll(f)
			if err == nil {
				t.Fatal("read the damaged member to io.EOF without an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			for _, s := range []string{p, "npidata_pfile_20050523-20260810.csv"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// The digest is that of the whole source, known once Read has returned
// io.EOF: the source is read ahead of Read, so it is "" before.
func TestSHA256AtEOF(t *testing.T) {
	data := csvRows(50000) // more read-ahead chunks than there are buffers
	p := writeFile(t, t.TempDir(), "x.csv", data)
	f, err := source.Open(context.Background(), p, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.SHA256(); got != "" {
		t.Errorf("SHA256 before reading = %q, want \"\"", got)
	}
	half := make([]byte, len(data)/2)
	if _, err := io.ReadFull(f, half); err != nil {
		t.Fatal(err)
	}
	if got := f.SHA256(); got != "" {
		t.Errorf("SHA256 after half = %q, want \"\"", got)
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(half, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the file's %d", len(got), len(data))
	}
	if got, want := f.SHA256(), sha(data); got != want {
		t.Errorf("SHA256 at EOF = %s, want %s", got, want)
	}
}

// bigZip writes an archive with a stored member of n zero bytes and returns
// its path.
func bigZip(t testing.TB, n int) string {
	t.Helper()
	f, err := writeTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "npidata_pfile_20050523-20260810.csv", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < n; i += len(chunk) {
		if _, err := w.Write(chunk[:min(len(chunk), n-i)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// allocatedWhile returns the bytes allocated on the heap while fn ran.
func allocatedWhile(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestOpenZipWithDamagedMember: a member whose compressed data or checksum
// is wrong (bytes flipped in transit or on disk) fails the read with an
// error saying the archive is damaged, whether deflated (corrupt input) or
// stored (checksum); archive/zip's "not a valid zip file" read as if the
// file were no archive at all (QA).
func TestOpenZipWithDamagedMember(t *testing.T) {
	for _, store := range []bool{false, true} {
		t.Run(fmt.Sprintf("stored=%v", store), func(t *testing.T) {
			data := buildZip(t, member{name: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", data: csvRows(20000), store: store})
			for i := len(data) / 3; i < len(data)/3+50; i++ {
				data[i] ^= 0x5a
			}
			path := filepath.Join(t.TempDir(), "MUP_DPR_RY26_P04_V10_DY24_NPIBN.zip")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := source.Open(context.Background(), path, source.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			_, err = io.ReadAll(f)
			if err == nil || !errors.Is(err, source.ErrDamaged) || !strings.Contains(err.Error(), "the archive is damaged") || !strings.Contains(err.Error(), "download it again") {
				t.Errorf("read of a damaged member: %v, want an error saying the archive is damaged", err)
			}
		})
	}
}
