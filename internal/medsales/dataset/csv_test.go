package dataset_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

// csvRecord is what a test sees of one record: its line, the wanted fields
// (nil shown as "<nil>") and its row error.
type csvRecord struct {
	Line   int
	Fields []string
	RowErr string
}

func readCSVRecords(t *testing.T, r *dataset.Reader, n int) ([]csvRecord, error) {
	t.Helper()
	var out []csvRecord
	for r.Next() {
		rec := csvRecord{Line: r.Line()}
		for i := 0; i < n; i++ {
			f := r.Field(i)
			if f == nil {
				rec.Fields = append(rec.Fields, "<nil>")
			} else {
				rec.Fields = append(rec.Fields, string(f))
			}
		}
		if err := r.RowErr(); err != nil {
			rec.RowErr = err.Error()
			rec.Fields = nil
		}
		out = append(out, rec)
	}
	return out, r.Err()
}

func TestReaderRecords(t *testing.T) {
	cols := []dataset.Column{
		{Name: "NPI", Required: true},
		{Name: "Provider Sex Code", Aliases: []string{"Provider Gender Code"}},
		{Name: "Certification Date"},
	}
	tests := []struct {
		name    string
		in      string
		opts    dataset.Options
		want    []csvRecord
		wantErr string
	}{
		{
			name: "quoted values, empty is nil, absent column is nil",
			in:   "\"NPI\",\"Provider Sex Code\"\n\"1234567893\",\"F\"\n\"1245319599\",\"\"\n",
			want: []csvRecord{
				{Line: 2, Fields: []string{"1234567893", "F", "<nil>"}},
				{Line: 3, Fields: []string{"1245319599", "<nil>", "<nil>"}},
			},
		},
		{
			name: "alias, case and white space in header names",
			in:   "  npi ,PROVIDER   GENDER\tCODE  ,Certification Date\r\n1,M,01/02/2025\r\n",
			want: []csvRecord{{Line: 2, Fields: []string{"1", "M", "01/02/2025"}}},
		},
		{
			name: "byte order mark before the header",
			in:   "\xef\xbb\xbfNPI\n7\n",
			want: []csvRecord{{Line: 2, Fields: []string{"7", "<nil>", "<nil>"}}},
		},
		{
			name: "escaped quotes and quoted separators",
			in:   "NPI,Provider Sex Code\n\"a \"\"b\"\", c\",\"\"\"\"\n",
			want: []csvRecord{{Line: 2, Fields: []string{"a \"b\", c", "\"", "<nil>"}}},
		},
		{
			name: "quoted newline: the record keeps its first line, the next record its own",
			in:   "NPI,Provider Sex Code\n\"line one\nline two\r\nthree\",x\n\"next\",y\n",
			want: []csvRecord{
				{Line: 2, Fields: []string{"line one\nline two\r\nthree", "x", "<nil>"}},
				{Line: 5, Fields: []string{"next", "y", "<nil>"}},
			},
		},
		{
			name: "blank lines are skipped; last line without a line break",
			in:   "NPI,Provider Sex Code\n\n1,F\r\n\r\n2,M",
			want: []csvRecord{
				{Line: 3, Fields: []string{"1", "F", "<nil>"}},
				{Line: 5, Fields: []string{"2", "M", "<nil>"}},
			},
		},
		{
			name: "wrong field count is a row error, reading goes on",
			in:   "NPI,Provider Sex Code\n1,F,extra\n2\n3,M\n",
			want: []csvRecord{
				{Line: 2, RowErr: "has 3 fields, the header has 2"},
				{Line: 3, RowErr: "has 1 fields, the header has 2"},
				{Line: 4, Fields: []string{"3", "M", "<nil>"}},
			},
		},
		{
			name: "bad quoting is a row error for that line only",
			in:   "NPI,Provider Sex Code\n\"1\"x,F\n1\"2,F\n\"4\",\"M\"\n",
			want: []csvRecord{
				{Line: 2, RowErr: "bad quoting: unexpected 'x' after the closing quote of field 1"},
				{Line: 3, RowErr: "bad quoting: bare quote in unquoted field 1"},
				{Line: 4, Fields: []string{"4", "M", "<nil>"}},
			},
		},
		{
			name: "a quoted field that lost its closing quote costs its own line, not the record after it",
			in:   "NPI,Provider Sex Code\n\"1\",\"F\n\"2\",\"M\"\n3,F\n",
			want: []csvRecord{
				{Line: 2, RowErr: "bad quoting: quoted field 2 is not closed on this line; read on over 1 more line(s), it makes a malformed record (unexpected '2' after the closing quote of field 2)"},
				{Line: 3, Fields: []string{"2", "M", "<nil>"}},
				{Line: 4, Fields: []string{"3", "F", "<nil>"}},
			},
		},
		{
			name: "an unclosed quote read on to the end of the input costs its own line only",
			in:   "NPI,Provider Sex Code\n1,\"F\n2,M\n3,F\n",
			want: []csvRecord{
				{Line: 2, RowErr: "bad quoting: quoted field 2 is not closed on this line; read on over 2 more line(s), it is still open at the end of the input"},
				{Line: 3, Fields: []string{"2", "M", "<nil>"}},
				{Line: 4, Fields: []string{"3", "F", "<nil>"}},
			},
		},
		{
			name: "an unclosed quote that makes a record of the wrong width costs its own line; the next is read as written",
			in:   "NPI,Provider Sex Code\n1,\"F\n2\",M\n4,F\n",
			want: []csvRecord{
				{Line: 2, RowErr: "bad quoting: quoted field 2 is not closed on this line; read on over 1 more line(s), it makes a record of 3 fields, the header has 2"},
				{Line: 3, RowErr: "bad quoting: bare quote in unquoted field 1"},
				{Line: 4, Fields: []string{"4", "F", "<nil>"}},
			},
		},
		{
			name: "a quoted field spanning lines to a well-formed record is kept whole",
			in:   "NPI,Provider Sex Code\n\"1\",\"F\n2,M\"\n3,F\n",
			want: []csvRecord{
				{Line: 2, Fields: []string{"1", "F\n2,M", "<nil>"}},
				{Line: 4, Fields: []string{"3", "F", "<nil>"}},
			},
		},
		{
			name:    "an input cut inside a quoted field that spans lines is still truncation",
			in:      "NPI,Provider Sex Code\n1,F\n\"2\",\"M\nmore",
			want:    []csvRecord{{Line: 2, Fields: []string{"1", "F", "<nil>"}}, {Line: 3, RowErr: "bad quoting: quoted field 2 is not closed on this line; read on over 1 more line(s), it is still open at the end of the input"}},
			wantErr: "f.csv: line 4: truncated input: last record has 1 of 2 fields and no line break",
		},
		{
			name: "invalid UTF-8 in a record is a row error naming the column",
			in:   "NPI, Provider Sex Code \n\"1\",\"\xff\xfe\"\n2,F\n\"\xc3\",\"\xff\"\n",
			want: []csvRecord{
				{Line: 2, RowErr: "Provider Sex Code: invalid UTF-8 bytes"},
				{Line: 3, Fields: []string{"2", "F", "<nil>"}},
				{Line: 4, RowErr: "NPI: invalid UTF-8 bytes"}, // the first bad field
			},
		},
		{
			name: "a NUL byte is a row error naming the column",
			in:   "NPI,Provider Sex Code\n\"1\",\"a\x00b\"\n2,F\n",
			want: []csvRecord{
				{Line: 2, RowErr: "Provider Sex Code: NUL byte"},
				{Line: 3, Fields: []string{"2", "F", "<nil>"}},
			},
		},
		{
			name: "a column without a header name is named by its position",
			in:   "NPI,,Other\n1,\x00,x\n1,x,\xff\n",
			want: []csvRecord{
				{Line: 2, RowErr: "field 2: NUL byte"},
				{Line: 3, RowErr: "Other: invalid UTF-8 bytes"},
			},
		},
		{
			name: "tab separated with trailing spaces in the last header",
			in:   "NPI\tProvider Sex Code     \n1\tF\n",
			opts: dataset.Options{Comma: '\t'},
			want: []csvRecord{{Line: 2, Fields: []string{"1", "F", "<nil>"}}},
		},
		{
			name:    "unterminated quote at the end of the input is truncation",
			in:      "NPI,Provider Sex Code\n1,F\n\"2\",\"M\n",
			want:    []csvRecord{{Line: 2, Fields: []string{"1", "F", "<nil>"}}},
			wantErr: "f.csv: line 3: truncated input: quoted field 2 is not terminated at the end of the input",
		},
		{
			name:    "last record cut short without a line break is truncation",
			in:      "NPI,Provider Sex Code\n1,F\n\"2\"",
			want:    []csvRecord{{Line: 2, Fields: []string{"1", "F", "<nil>"}}},
			wantErr: "f.csv: line 3: truncated input: last record has 1 of 2 fields and no line break",
		},
		{
			// A cut can only lose fields: a last line with more than the
			// header's is a malformed row, rejected like any other, and
			// not the end of the load as truncated input.
			name: "last record with too many fields and no line break is a row error",
			in:   "NPI,Provider Sex Code\n1,F\n2,M,extra",
			want: []csvRecord{
				{Line: 2, Fields: []string{"1", "F", "<nil>"}},
				{Line: 3, RowErr: "has 3 fields, the header has 2"},
			},
		},
		{
			name: "header only",
			in:   "NPI,Provider Sex Code\n",
		},
		{
			// The whole header is there: a file of no rows, not a wrong
			// file (an empty weekly increment loads and changes nothing).
			name: "header only without a line break",
			in:   "NPI,Provider Sex Code",
		},
		{
			name: "quoted header only without a line break",
			in:   "\"NPI\",\"Provider Sex Code\"",
		},
		{
			name: "quoted header only cut before the line feed",
			in:   "\"NPI\",\"Provider Sex Code\"\r",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dataset.NewReader(strings.NewReader(tt.in), "f.csv", cols, tt.opts)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			got, err := readCSVRecords(t, r, len(cols))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("Err() = %q, want %q", gotErr, tt.wantErr)
			}
			if tt.wantErr != "" && !errors.Is(err, dataset.ErrTruncated) {
				t.Errorf("Err() does not wrap ErrTruncated: %v", err)
			}
			if r.Next() {
				t.Error("Next after the end returned true")
			}
		})
	}
}

// TestNewReaderRefusesRepeatedColumn: a column the reader wants that the
// header names twice is refused (which one holds the values is a guess);
// a repeated column nobody reads is not.
func TestNewReaderRefusesRepeatedColumn(t *testing.T) {
	cols := []dataset.Column{{Name: "NPI", Required: true}, {Name: "Tot_Clms", Required: true}}
	_, err := dataset.NewReader(strings.NewReader("NPI,Tot_Clms,x,TOT_CLMS \n"), "f.csv", cols, dataset.Options{})
	if want := `f.csv: header names column "Tot_Clms" twice (fields 2 and 4): which one to load is ambiguous`; err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant      %s", err, want)
	}
	if !errors.Is(err, dataset.ErrWrongFile) { // nothing can be loaded from it: bad input, not a failure
		t.Errorf("error does not wrap ErrWrongFile")
	}
	rd, err := dataset.NewReader(strings.NewReader("NPI,Tot_Clms,x,x\n1,2,3,4\n"), "f.csv", cols, dataset.Options{})
	if err != nil || !rd.Next() || string(rd.Field(1)) != "2" {
		t.Errorf("a repeated column nobody reads: %v", err)
	}
	// A column under its name and under an alias is one column twice: the
	// loader read the one under its name, silently (QA).
	sex := []dataset.Column{{Name: "NPI", Required: true}, {Name: "Provider Sex Code", Aliases: []string{"Provider Gender Code"}}}
	_, err = dataset.NewReader(strings.NewReader("NPI,Provider Gender Code,Provider Sex Code\n"), "g.csv", sex, dataset.Options{})
	if want := `g.csv: header names column "Provider Sex Code" twice, as "Provider Sex Code" (field 3) and as "Provider Gender Code" (field 2): which one to load is ambiguous`; err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant      %s", err, want)
	}
	if !errors.Is(err, dataset.ErrWrongFile) {
		t.Errorf("error does not wrap ErrWrongFile")
	}
	if rd, err := dataset.NewReader(strings.NewReader("NPI,Provider Gender Code\n1,F\n"), "g.csv", sex, dataset.Options{}); err != nil || !rd.Next() || string(rd.Field(1)) != "F" {
		t.Errorf("a column under its alias alone: %v", err)
	}
}

func TestNewReaderRefuses(t *testing.T) {
	cols := []dataset.Column{
		{Name: "NPI", Required: true},
		{Name: "Entity Type Code", Required: true},
		{Name: "Provider Sex Code"},
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty file", "", "f.csv: empty file, no header line: wrong file for the dataset"},
		{"blank header", "\n1,2\n", "f.csv: empty header line: wrong file for the dataset"},
		{"one missing column of two", "NPI,Other\n", `f.csv: missing required column "Entity Type Code" (header has 2 columns): the publisher may have renamed or dropped them`},
		{"two missing columns", "Code,Grouping\n", `f.csv: missing required columns "NPI", "Entity Type Code" (header has 2 columns): wrong file for the dataset`},
		// Compressed: refused as a header that is not text.
		{"zip archive", "PK\x03\x04\x14\x00\x00\x00\x08\x00\n", "f.csv: the file is a zip archive (it starts with PK 03 04), not the dataset's text file: load it by a name ending in .zip, which is opened as an archive"},
		{"gzip file", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\n", "f.csv: the file is gzip-compressed (it starts with 1F 8B), which is not read: decompress it (gunzip)"},
		{"binary file", "\x7fELF\x02\x01\x01\x00\n", "f.csv: header line contains control byte 0x7f, not a text file: wrong file for the dataset"},
		{"non-UTF-8 header", "NPI,Entity \xe9Type Code\n", "f.csv: header line is not UTF-8 text: wrong file for the dataset"},
		{"binary without line break", strings.Repeat("\x00\x01", 1<<20), "f.csv: no header line in the first 1048576 bytes (binary file?): wrong file for the dataset"},
		// Lines ending in CR alone were refused for the rows read as more
		// fields of the header: bad quoting, missing columns, binary.
		{"CR-only line ends", "NPI,Entity Type Code\r1234567893,1\r", crOnlyMsg},
		{"CR-only line ends, quoted header", "\"NPI\",\"Entity Type Code\"\r\"1234567893\",\"1\"\r", crOnlyMsg},
		{"CR-only line ends, over 1 MiB", "NPI,Entity Type Code\r" + strings.Repeat("1234567893,1\r", 1<<17), crOnlyMsg},
		{"CR CR line ends (CR LF with LF turned into CR)", "NPI,Entity Type Code\r\r1234567893,1\r\r", crOnlyMsg},
		// UTF-16 text (Excel's "Unicode Text", PowerShell, Notepad's
		// "Unicode") was refused as CR-only line ends when its lines end
		// in CR LF (its CR is followed by a zero byte), else as a header
		// that is not UTF-8 in the wrong file: the file may well be the
		// right one, in an encoding to convert.
		{"UTF-16LE, CR LF line ends", utf16Text(false, "NPI,Entity Type Code\r\n1234567893,1\r\n"), utf16Msg("FF FE")},
		{"UTF-16LE, LF line ends", utf16Text(false, "NPI,Entity Type Code\n1234567893,1\n"), utf16Msg("FF FE")},
		{"UTF-16BE, CR LF line ends", utf16Text(true, "NPI,Entity Type Code\r\n1234567893,1\r\n"), utf16Msg("FE FF")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataset.NewReader(strings.NewReader(tt.in), "f.csv", cols, dataset.Options{})
			if err == nil {
				t.Fatal("NewReader succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant      %q", err, tt.want)
			}
			if !errors.Is(err, dataset.ErrWrongFile) {
				t.Errorf("error does not wrap ErrWrongFile")
			}
		})
	}
}

const crOnlyMsg = "f.csv: lines end in CR alone (classic Mac OS line ends), which are not supported: convert them to LF or CR LF"

func utf16Msg(bom string) string {
	return "f.csv: the file is UTF-16 text (it starts with the byte order mark " + bom + "), which is not supported: convert it to UTF-8"
}

// utf16Text returns s (ASCII) as UTF-16 with its byte order mark, as
// Windows tools write it: little-endian unless big.
func utf16Text(big bool, s string) string {
	var b strings.Builder
	if big {
		b.WriteString("\xfe\xff")
	} else {
		b.WriteString("\xff\xfe")
	}
	for _, c := range []byte(s) {
		if big {
			b.WriteByte(0)
			b.WriteByte(c)
		} else {
			b.WriteByte(c)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// TestReaderCRLFAndCRInFields: CR LF line ends are read, and so is a CR
// inside a quoted field; neither is taken for CR-only line ends.
func TestReaderCRLFAndCRInFields(t *testing.T) {
	cols := []dataset.Column{{Name: "NPI", Required: true}, {Name: "Name"}}
	r, err := dataset.NewReader(strings.NewReader("NPI,Name\r\n1,\"a\rb\"\r\n2,c\r\n"), "f.csv", cols, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readCSVRecords(t, r, 2)
	want := []csvRecord{{Line: 2, Fields: []string{"1", "a\rb"}}, {Line: 3, Fields: []string{"2", "c"}}}
	if diff := cmp.Diff(want, got); diff != "" || err != nil {
		t.Errorf("records (-want +got):\n%s\nErr() = %v", diff, err)
	}
}

func TestNewReaderDoesNotReadPastHeader(t *testing.T) {
	// A refused file must be refused from its header alone: the reader
	// behind it fails on any read after the header line.
	in := io.MultiReader(strings.NewReader("A,B\n"), iotest.ErrReader(errors.New("read past the header")))
	_, err := dataset.NewReader(in, "f.csv", []dataset.Column{{Name: "NPI", Required: true}}, dataset.Options{})
	if err == nil || !strings.Contains(err.Error(), `missing required column "NPI"`) {
		t.Fatalf("err = %v, want missing column", err)
	}
}

func TestReaderIOError(t *testing.T) {
	in := io.MultiReader(strings.NewReader("NPI\n1\n2\n"), iotest.ErrReader(io.ErrUnexpectedEOF))
	r, err := dataset.NewReader(in, "part.csv", []dataset.Column{{Name: "NPI"}}, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readCSVRecords(t, r, 1)
	if len(got) != 2 {
		t.Errorf("read %d records before the error, want 2", len(got))
	}
	if err == nil || err.Error() != "part.csv: line 4: truncated input: unexpected EOF" {
		t.Errorf("Err() = %v", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, dataset.ErrTruncated) {
		t.Errorf("Err() wraps neither ErrTruncated nor io.ErrUnexpectedEOF")
	}
}

func TestReaderLongRecordsAndSmallReads(t *testing.T) {
	// Records longer than the 1 MiB buffer, fed one byte at a time.
	long := strings.Repeat("x", 3<<20)
	in := "NPI,Note\n1,\"" + long + "\"\n2," + long + "\n3,\"a\"\"b\"\n"
	cols := []dataset.Column{{Name: "NPI"}, {Name: "Note"}}
	r, err := dataset.NewReader(iotest.HalfReader(strings.NewReader(in)), "f.csv", cols, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for r.Next() {
		if r.RowErr() != nil {
			t.Fatalf("line %d: %v", r.Line(), r.RowErr())
		}
		notes = append(notes, r.String(1))
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	if len(notes) != 3 || notes[0] != long || notes[1] != long || notes[2] != `a"b` {
		t.Errorf("got %d notes, want the two long ones and a\"b", len(notes))
	}
	if !r.Present(1) || r.File() != "f.csv" || r.Columns() != 2 {
		t.Errorf("Present/File/Columns = %v %q %d", r.Present(1), r.File(), r.Columns())
	}
}

// nppesLike builds an NPPES-shaped file: 330 quoted columns, most empty.
func nppesLike(rows int) []byte {
	var b bytes.Buffer
	for c := 0; c < 330; c++ {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\"Column %d\"", c)
	}
	b.WriteByte('\n')
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "\"%010d\",\"1\",\"\",\"<UNAVAIL>\",\"\",\"SMITH\",\"JOHN\",\"A\",\"\",\"\",\"M.D.\"", 1000000000+i)
		for c := 11; c < 330; c++ {
			switch c {
			case 20, 28:
				b.WriteString(`,"1234 MAIN ST"`)
			case 22, 30:
				b.WriteString(`,"SPRINGFIELD"`)
			case 24, 32:
				b.WriteString(`,"627011234"`)
			case 36, 37:
				b.WriteString(`,"05/23/2005"`)
			case 47:
				b.WriteString(`,"207Q00000X"`)
			default:
				b.WriteString(`,""`)
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkReader(b *testing.B) {
	data := nppesLike(2000)
	cols := make([]dataset.Column, 0, 330)
	for c := 0; c < 330; c++ {
		cols = append(cols, dataset.Column{Name: fmt.Sprintf("Column %d", c)})
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := dataset.NewReader(bytes.NewReader(data), "bench.csv", cols, dataset.Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for r.Next() {
			if r.RowErr() != nil {
				b.Fatal(r.RowErr())
			}
			for i := range cols {
				n += len(r.Field(i))
			}
		}
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
}

// TestReaderSkipsEmptyRows: a record whose every field is empty once
// trimmed of white space — the ",,,," rows a spreadsheet leaves when it
// re-saves a file, quoted or not, with as many fields as the header or
// not — is no data: Next skips it and Skipped counts it, as it does blank
// lines. Such rows were returned as malformed (wrong number of fields) or
// as rows of empty values, which the loaders rejected, so a small file
// failed the reject threshold. A row with one value, or a malformed one, is
// still returned.
func TestReaderSkipsEmptyRows(t *testing.T) {
	cols := []dataset.Column{{Name: "NPI", Required: true}, {Name: "Name"}, {Name: "City"}}
	tests := []struct {
		name    string
		in      string
		opts    dataset.Options
		want    []csvRecord
		skipped int64
	}{
		{
			name: "spreadsheet artefacts between and after the rows",
			in: "NPI,Name,City\r\n1234567893,SMITH,AUSTIN\r\n,,\r\n  , \t,\r\n\"\",\"\",\"\"\r\n" +
				"1245319599,DOE,BOSTON\r\n,,,,,,\r\n,\r\n\r\n,,\r\n",
			want: []csvRecord{
				{Line: 2, Fields: []string{"1234567893", "SMITH", "AUSTIN"}},
				{Line: 6, Fields: []string{"1245319599", "DOE", "BOSTON"}},
			},
			skipped: 7,
		},
		{
			name:    "last empty row without a line break",
			in:      "NPI,Name,City\n1234567893,SMITH,AUSTIN\n,,",
			want:    []csvRecord{{Line: 2, Fields: []string{"1234567893", "SMITH", "AUSTIN"}}},
			skipped: 1,
		},
		{
			// White space after the last line break was read as a cut
			// record and failed the whole load (QA).
			name:    "white space without a line break after the last row",
			in:      "NPI,Name,City\n1234567893,SMITH,AUSTIN\n ",
			want:    []csvRecord{{Line: 2, Fields: []string{"1234567893", "SMITH", "AUSTIN"}}},
			skipped: 1,
		},
		{
			name:    "a lone carriage return after the last row",
			in:      "NPI,Name,City\r\n1234567893,SMITH,AUSTIN\r\n\r\n\r",
			want:    []csvRecord{{Line: 2, Fields: []string{"1234567893", "SMITH", "AUSTIN"}}},
			skipped: 2,
		},
		{
			name:    "an empty row of fewer fields without a line break",
			in:      "NPI,Name,City\n1234567893,SMITH,AUSTIN\n, \t",
			want:    []csvRecord{{Line: 2, Fields: []string{"1234567893", "SMITH", "AUSTIN"}}},
			skipped: 1,
		},
		{
			name: "tab-separated",
			in:   "NPI\tName\tCity\n\t\t\n1234567893\tSMITH\tAUSTIN\n \t \t \n",
			opts: dataset.Options{Comma: '\t'},
			want: []csvRecord{
				{Line: 3, Fields: []string{"1234567893", "SMITH", "AUSTIN"}},
			},
			skipped: 2,
		},
		{
			name: "a value or bad quoting makes a row",
			in:   "NPI,Name,City\n,,AUSTIN\n,\"\"x,\n,,,,x\n",
			want: []csvRecord{
				{Line: 2, Fields: []string{"<nil>", "<nil>", "AUSTIN"}},
				{Line: 3, RowErr: `bad quoting: unexpected 'x' after the closing quote of field 2`},
				{Line: 4, RowErr: "has 5 fields, the header has 3"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dataset.NewReader(strings.NewReader(tt.in), "f.csv", cols, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readCSVRecords(t, r, len(cols))
			if err != nil {
				t.Fatalf("Err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if n := r.Skipped(); n != tt.skipped {
				t.Errorf("Skipped() = %d, want %d", n, tt.skipped)
			}
		})
	}
}

// TestReaderStrayQuoteInAFileWithoutQuotes: a field opened with a quote
// that never closes, in a file with no other quote (a Part D file), costs
// its own line once it has run on past the longest value a file may hold
// (1 MiB): the lines after it are read as the records they are. It read on
// to the 64 MiB record limit and failed the whole load.
func TestReaderStrayQuoteInAFileWithoutQuotes(t *testing.T) {
	cols := []dataset.Column{{Name: "NPI", Required: true}, {Name: "Sex"}}
	const n = 300_000 // 4 bytes each: 1.2 MB after the stray quote
	in := "NPI,Sex\n1,\"F\n" + strings.Repeat("2,M\n", n) + "3,F\n"
	r, err := dataset.NewReader(strings.NewReader(in), "f.csv", cols, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readCSVRecords(t, r, 2)
	if err != nil {
		t.Fatalf("the load fails: %v", err)
	}
	if len(got) != n+2 {
		t.Fatalf("%d records, want %d", len(got), n+2)
	}
	if want := "bad quoting: quoted field 2 is not closed on this line; read on over 262145 more line(s), it is still open 1048580 bytes on (a value spans at most 1048576)"; got[0].Line != 2 || got[0].RowErr != want {
		t.Errorf("first record: %+v, want line 2 rejected with %q", got[0], want)
	}
	for i, rec := range got[1:] {
		want := csvRecord{Line: i + 3, Fields: []string{"2", "M"}}
		if i == n {
			want.Fields = []string{"3", "F"}
		}
		if diff := cmp.Diff(want, rec); diff != "" {
			t.Fatalf("record %d (-want +got):\n%s", i+2, diff)
		}
	}
}
