// Package dataset parses the public provider dataset files the medsales
// product loads (NPPES, NUCC, CMS Part B and Part D, Open Payments, the
// Census ZCTA gazetteer) into domain values.
//
// Every file is read by header name, never by column position: Reader
// locates the wanted columns (with aliases, case- and space-insensitively)
// and refuses a file that lacks a required column before any row is read.
// Rows are parsed by a byte-level RFC 4180 reader that does not allocate per
// field, so national files of millions of rows parse at disk speed. Value
// parsers (dates, decimals, integers, NPIs) live in values.go.
package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrWrongFile is wrapped by the errors NewReader returns when the input is
// not a file of the expected dataset: empty, binary or non-UTF-8 header, or
// a required column missing or named twice.
var ErrWrongFile = errors.New("wrong file for the dataset")

// layoutError is a file of the right dataset whose layout cannot be read:
// it lacks a few required columns, or names a wanted column twice. It
// counts as ErrWrongFile for errors.Is (nothing can be loaded from it
// either, and the loaders refuse it as bad input, not as a failure worth
// retrying), but does not say so: the message would send the operator
// looking for another file.
type layoutError struct{ msg string }

func (e *layoutError) Error() string        { return e.msg }
func (e *layoutError) Is(target error) bool { return target == ErrWrongFile }

// ErrTruncated is wrapped by Reader.Err when the input ends in the middle of
// a record (an unterminated quoted field, or a last line without its line
// break and with fields missing).
var ErrTruncated = errors.New("truncated input")

// Column describes one column a parser wants from a file.
type Column struct {
	// Name is the column's header name in the current layout.
	Name string
	// Aliases are other header names the column has had (older layouts,
	// renamed columns). They are tried after Name.
	Aliases []string
	// Required columns must be present: NewReader fails otherwise.
	Required bool
}

// Options tune a Reader. The zero value reads comma-separated files.
type Options struct {
	// Comma is the field separator; 0 means ','. The Census gazetteer uses
	// '\t'. It must be an ASCII character other than '"', '\r' and '\n'.
	Comma rune
	// Others are the files of other datasets that share columns with this
	// one (every NPPES file has an NPI column), tried in order when the
	// header lacks required columns: a header naming one's column is
	// refused as that file, rather than as a layout the publisher may
	// have changed or a wrong file of no known kind.
	Others []OtherFile
}

// OtherFile tells a file of another dataset by a column of its own.
type OtherFile struct {
	// Column is the column's header names (its current name and aliases).
	Column []string
	// Shared is true when this dataset's file has Column too (the main
	// NPPES file has the othername_pfile's columns): it then tells the
	// other file only when most required columns are missing, not when a
	// few were renamed.
	Shared bool
	// Is says what the file is, for the error: "a pl_pfile (secondary
	// practice locations), not an othername_pfile".
	Is string
}

const (
	bufferSize = 1 << 20  // bufio buffer: large reads, few syscalls
	maxHeader  = 1 << 20  // a header longer than this is not a header
	maxRecord  = 64 << 20 // a record longer than this is an unterminated quote
	// maxQuotedSpan bounds the lines a quoted field may run on over: past
	// it the field is taken to lack its closing quote, as at the end of
	// the input. Without it a stray quote in a file that has no other (a
	// Part D file) read on to the 64 MiB record limit and failed the
	// whole load; the lines kept to read again (Reader.cont) stay small.
	// No value in the publishers' files comes near: their longest, Open
	// Payments' free text, is a few hundred characters.
	maxQuotedSpan = 1 << 20
)

// errQuoteRunsOn is a quoted field that ran on over line breaks past
// maxQuotedSpan.
var errQuoteRunsOn = errors.New("quoted field runs on too far")

// Reader reads the records of a delimited text file with a header line and
// exposes the wanted columns by their index in the []Column given to
// NewReader. It is not safe for concurrent use.
type Reader struct {
	br    *bufio.Reader
	file  string
	comma byte

	nfields int      // fields in the header
	header  []string // the header's names as written, for reject reasons
	idx     []int    // wanted column i → field index in the file, -1 when absent

	rec  []byte // unquoted contents of the current record's fields, back to back
	ends []int  // ends[k] = end offset in rec of field k

	long []byte // accumulates physical lines longer than the bufio buffer

	// A record whose quoted field ran on over line breaks and came out
	// malformed keeps only its first line (see reread): cont holds copies
	// of the lines the field ran on to, contField that field's number, and
	// pending the lines to read again before the input's next.
	cont      [][]byte
	contBytes int // bytes in cont
	contField int
	pending   [][]byte

	line    int   // physical lines consumed so far
	recLine int   // line where the current record starts
	skipped int64 // blank lines and rows of empty fields passed over
	atEOF   bool
	err     error
	rowErr  error
}

// NewReader reads the header line of r and matches the wanted columns by
// name: case-insensitively, with runs of white space collapsed and
// surrounding spaces trimmed, trying each column's Name then its Aliases.
// file names the input in every error message. NewReader fails, before any
// record is read, on an empty input, on a header that is not text (binary
// or non-UTF-8 bytes), and when required columns are missing; the error
// names the file and every missing column (or the other dataset's file it
// is, see Options.Others) and wraps ErrWrongFile.
func NewReader(r io.Reader, file string, cols []Column, opts Options) (*Reader, error) {
	comma := opts.Comma
	if comma == 0 {
		comma = ','
	}
	if comma >= utf8.RuneSelf || comma == '"' || comma == '\r' || comma == '\n' {
		return nil, fmt.Errorf("%s: invalid field separator %q", file, comma)
	}
	rd := &Reader{
		br:    bufio.NewReaderSize(r, bufferSize),
		file:  file,
		comma: byte(comma),
		rec:   make([]byte, 0, 4096),
		ends:  make([]int, 0, 64),
	}
	if err := rd.readHeader(cols, opts); err != nil {
		return nil, err
	}
	return rd, nil
}

func (r *Reader) readHeader(cols []Column, opts Options) error {
	// UTF-16 text (Windows tools' "Unicode") would be taken for CR-only
	// line ends (its CR is followed by a zero byte) or for a file that is
	// not text: say what it is. Its byte order mark tells it.
	if bom, _ := r.br.Peek(2); bytes.Equal(bom, []byte{0xff, 0xfe}) || bytes.Equal(bom, []byte{0xfe, 0xff}) {
		return &layoutError{msg: fmt.Sprintf("%s: the file is UTF-16 text (it starts with the byte order mark % X), which is not supported: convert it to UTF-8", r.file, bom)}
	}
	// Compressed files were refused as a header that is not text: say
	// what they are and what to do. (A source named .zip is opened as an
	// archive before it gets here.)
	magic, _ := r.br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return &layoutError{msg: fmt.Sprintf("%s: the file is gzip-compressed (it starts with 1F 8B), which is not read: decompress it (gunzip)", r.file)}
	case bytes.Equal(magic, []byte("PK\x03\x04")):
		return &layoutError{msg: fmt.Sprintf("%s: the file is a zip archive (it starts with PK 03 04), not the dataset's text file: load it by a name ending in .zip, which is opened as an archive", r.file)}
	}
	line, err := r.readLine(maxHeader)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty file, no header line: %w", r.file, ErrWrongFile)
		}
		if errors.Is(err, errLineTooLong) {
			if crOnly(r.long) {
				return r.crOnlyError()
			}
			return fmt.Errorf("%s: no header line in the first %d bytes (binary file?): %w", r.file, maxHeader, ErrWrongFile)
		}
		return fmt.Errorf("%s: read header: %w", r.file, err)
	}
	if crOnly(line) {
		return r.crOnlyError()
	}
	r.line = 1
	r.recLine = 1
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	if !utf8.Valid(line) {
		return fmt.Errorf("%s: header line is not UTF-8 text: %w", r.file, ErrWrongFile)
	}
	for _, c := range line {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return fmt.Errorf("%s: header line contains control byte 0x%02x, not a text file: %w", r.file, c, ErrWrongFile)
		}
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return fmt.Errorf("%s: empty header line: %w", r.file, ErrWrongFile)
	}
	// A header that ends the input without a line break is whole (a
	// quoted name cut short is an error of parseRecord): the file has no
	// rows, which is for the loader to judge, not a wrong file.
	if _, err := r.parseRecord(line, maxHeader); err != nil {
		return fmt.Errorf("%s: header: %w", r.file, err)
	}
	if r.rowErr != nil {
		return fmt.Errorf("%s: header: %s: %w", r.file, r.rowErr.Error(), ErrWrongFile)
	}
	r.nfields = len(r.ends)
	r.header = make([]string, r.nfields)
	byName := make(map[string]int, r.nfields)
	twice := map[string]int{} // a name the header repeats → its second field
	start := 0
	for k, end := range r.ends {
		r.header[k] = strings.TrimSpace(string(r.rec[start:end]))
		name := NormalizeName(r.header[k])
		if _, dup := byName[name]; !dup {
			byName[name] = k
		} else if _, seen := twice[name]; !seen {
			twice[name] = k
		}
		start = end
	}
	r.idx = make([]int, len(cols))
	var missing []string
	required := 0
	for i, c := range cols {
		r.idx[i] = -1
		if c.Required {
			required++
		}
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			name := NormalizeName(n)
			k, ok := byName[name]
			if !ok {
				continue
			}
			if k2, dup := twice[name]; dup {
				// Columns are found by name: with two of them, which
				// one holds the values is anyone's guess.
				return &layoutError{msg: fmt.Sprintf("%s: header names column %q twice (fields %d and %d): which one to load is ambiguous",
					r.file, r.header[k], k+1, k2+1)}
			}
			if k0 := r.idx[i]; k0 >= 0 && k0 != k {
				// So it is with a column under its name and under an
				// alias (Provider Sex Code and Provider Gender Code).
				return &layoutError{msg: fmt.Sprintf("%s: header names column %q twice, as %q (field %d) and as %q (field %d): which one to load is ambiguous",
					r.file, c.Name, r.header[k0], k0+1, r.header[k], k+1)}
			}
			r.idx[i] = k
		}
		if r.idx[i] < 0 && c.Required {
			missing = append(missing, fmt.Sprintf("%q", c.Name))
		}
	}
	if len(missing) > 0 {
		layout := 2*len(missing) <= required // most of the layout is there
		names, header := byName, r.header
		if fields := tabFields(r.header, r.comma); fields != nil {
			names, header = nameIndex(fields), fields
		}
		for _, o := range opts.Others {
			if k := findName(names, o.Column); k >= 0 && !(o.Shared && layout) {
				return fmt.Errorf("%s: has a %q column: %s: %w", r.file, header[k], o.Is, ErrWrongFile)
			}
		}
		noun := "column"
		if len(missing) > 1 {
			noun = "columns"
		}
		msg := fmt.Sprintf("%s: missing required %s %s (header has %d columns)", r.file, noun, strings.Join(missing, ", "), r.nfields)
		if layout {
			// Most of the layout is there: the publisher more likely
			// renamed or dropped these than this is another file.
			return &layoutError{msg: msg + ": the publisher may have renamed or dropped them"}
		}
		return fmt.Errorf("%s: %w", msg, ErrWrongFile)
	}
	r.rec = r.rec[:0]
	r.ends = r.ends[:0]
	return nil
}

// crOnly reports whether the header line read as line (up to its first LF)
// ends in a CR followed by more than a LF: the file's lines end in CR
// alone (classic Mac OS, or LF turned into CR), which this reader does not
// split on. Its rows would be read as more fields of the header, and the
// file refused for bad quoting or missing columns, or as binary.
func crOnly(line []byte) bool {
	i := bytes.IndexByte(line, '\r')
	return i >= 0 && i+1 < len(line) && line[i+1] != '\n'
}

// crOnlyError refuses a file whose lines end in CR alone. It is no
// ErrWrongFile by its message (the file may well be the right one) but
// counts as one: nothing can be loaded from it as it is.
func (r *Reader) crOnlyError() error {
	return &layoutError{msg: fmt.Sprintf("%s: lines end in CR alone (classic Mac OS line ends), which are not supported: convert them to LF or CR LF", r.file)}
}

// findName returns the field of the first of names that the header (its
// normalized names byName) has, or -1.
func findName(byName map[string]int, names []string) int {
	for _, n := range names {
		if k, ok := byName[NormalizeName(n)]; ok {
			return k
		}
	}
	return -1
}

// NormalizeName returns the form in which header names are compared: lower
// case, runs of white space collapsed to one space, surrounding space
// trimmed.
func NormalizeName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// Next advances to the next record. It returns false at the end of the
// input or on a fatal error (see Err). Blank lines and records whose every
// field is empty or white space are skipped (see Skipped). A record that
// is malformed is still returned: RowErr says why.
func (r *Reader) Next() bool {
	if r.err != nil || r.atEOF {
		return false
	}
	r.rowErr = nil
	r.rec = r.rec[:0]
	r.ends = r.ends[:0]
	for {
		line, err := r.readLine(maxRecord)
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.atEOF = true
				return false
			}
			r.fail(r.line+1, err)
			return false
		}
		r.line++
		r.recLine = r.line
		if isBlank(line) {
			r.skipped++
			continue
		}
		r.cont, r.contBytes = r.cont[:0], 0
		complete, err := r.parseRecord(line, maxRecord)
		if err != nil {
			if len(r.cont) > 0 && errors.Is(err, ErrTruncated) {
				r.reread("it is still open at the end of the input")
				return true
			}
			if len(r.cont) > 0 && errors.Is(err, errQuoteRunsOn) {
				r.reread(fmt.Sprintf("it is still open %d bytes on (a value spans at most %d)", r.contBytes, maxQuotedSpan))
				return true
			}
			r.fail(r.recLine, err)
			return false
		}
		if len(r.cont) > 0 && (r.rowErr != nil || len(r.ends) != r.nfields) {
			why := fmt.Sprintf("it makes a record of %d fields, the header has %d", len(r.ends), r.nfields)
			if r.rowErr != nil {
				why = fmt.Sprintf("it makes a malformed record (%s)", strings.TrimPrefix(r.rowErr.Error(), "bad quoting: "))
			}
			r.reread(why)
			return true
		}
		// A row of empty fields (",,,,", what a spreadsheet leaves when it
		// re-saves a file) holds no data: skipped and counted, not
		// rejected, whatever its number of fields. Its fields lie back to
		// back in rec, so they are all empty when rec is white space. So is
		// such a last line without its line break (" " after the last
		// record's): no data was cut from it, and the whole load failed
		// as truncated (QA).
		if r.rowErr == nil && len(bytes.TrimSpace(r.rec)) == 0 {
			r.skipped++
			r.rec = r.rec[:0]
			r.ends = r.ends[:0]
			continue
		}
		// A cut loses fields: a last line without its line break and
		// with fewer fields than the header is the end of a truncated
		// file (with more, it is a malformed row).
		if r.rowErr == nil && !complete && len(r.ends) < r.nfields {
			r.fail(r.recLine, fmt.Errorf("%w: last record has %d of %d fields and no line break", ErrTruncated, len(r.ends), r.nfields))
			return false
		}
		if r.rowErr == nil && len(r.ends) != r.nfields {
			r.rowErr = fmt.Errorf("has %d fields, the header has %d", len(r.ends), r.nfields)
		}
		// The whole record is checked at once, the common case; only a
		// bad record is searched for the field to name in the reason.
		if r.rowErr == nil && !utf8.Valid(r.rec) {
			k := r.firstField(func(f []byte) bool { return !utf8.Valid(f) })
			r.rowErr = fmt.Errorf("%s: invalid UTF-8 bytes", r.fieldName(k))
		}
		if r.rowErr == nil && bytes.IndexByte(r.rec, 0) >= 0 {
			k := r.firstField(func(f []byte) bool { return bytes.IndexByte(f, 0) >= 0 })
			r.rowErr = fmt.Errorf("%s: NUL byte", r.fieldName(k))
		}
		return true
	}
}

// reread rejects the first line of the current record, whose quoted field
// ran on over line breaks into a record that is malformed (why), and has
// the lines the field ran on to read again as records of their own. A
// quoted field that spans lines is valid CSV, but here it most likely
// lacks its closing quote: read on, it swallowed the next records and
// counted them nowhere, where now the line that lost its quote is
// rejected and the records after it are read as written.
func (r *Reader) reread(why string) {
	r.rowErr = fmt.Errorf("bad quoting: quoted field %d is not closed on this line; read on over %d more line(s), %s", r.contField, len(r.cont), why)
	r.pending = append(slices.Clone(r.cont), r.pending...)
	r.cont, r.contBytes = r.cont[:0], 0
	r.line = r.recLine
}

// firstField returns the index of the current record's first field for
// which bad is true, or -1.
func (r *Reader) firstField(bad func(field []byte) bool) int {
	start := 0
	for k, end := range r.ends {
		if bad(r.rec[start:end]) {
			return k
		}
		start = end
	}
	return -1
}

// fieldName names field k of a record for a reject reason: its header
// name, or its position when the header leaves it unnamed. Invalid UTF-8
// cannot straddle two fields (valid fields concatenate to valid UTF-8), so
// k is never -1 for the checks above; "a field" covers it all the same.
func (r *Reader) fieldName(k int) string {
	switch {
	case k < 0:
		return "a field"
	case k < len(r.header) && r.header[k] != "":
		return r.header[k]
	}
	return fmt.Sprintf("field %d", k+1)
}

func (r *Reader) fail(line int, err error) {
	r.err = fmt.Errorf("%s: line %d: %w", r.file, line, err)
	r.rec = r.rec[:0]
	r.ends = r.ends[:0]
}

func isBlank(line []byte) bool {
	switch len(line) {
	case 1:
		return line[0] == '\n'
	case 2:
		return line[0] == '\r' && line[1] == '\n'
	}
	return false
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next physical line including its '\n' (absent on a
// last line without line break). The slice is valid until the next call.
// At the end of the input it returns io.EOF.
func (r *Reader) readLine(limit int) ([]byte, error) {
	if len(r.pending) > 0 {
		line := r.pending[0]
		r.pending = r.pending[1:]
		return line, nil
	}
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(r.long) > limit {
				return nil, errLineTooLong
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if len(line) > limit {
		return nil, errLineTooLong
	}
	switch {
	case err == nil:
		return line, nil
	case errors.Is(err, io.EOF):
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
	default:
		return nil, err
	}
}

// parseRecord splits the record starting with line into r.rec / r.ends,
// reading further lines when a quoted field spans line breaks. It sets
// r.rowErr for a malformed record (the rest of its physical line is
// dropped) and returns complete=false when the record ended at the end of
// the input without a line break. A non-nil error is fatal.
func (r *Reader) parseRecord(line []byte, limit int) (complete bool, err error) {
	comma := r.comma
	pos := 0
	for {
		// Fast path for the commonest NPPES field: empty and quoted ("",).
		if pos+2 < len(line) && line[pos] == '"' && line[pos+1] == '"' && line[pos+2] == comma {
			r.ends = append(r.ends, len(r.rec))
			pos += 3
			continue
		}
		if pos < len(line) && line[pos] == '"' {
			// Quoted field: copy runs between quotes, "" is one quote.
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					// The field continues on the next physical line.
					r.rec = append(r.rec, line[pos:]...)
					if len(r.rec) > limit {
						return false, fmt.Errorf("record longer than %d bytes (unterminated quoted field?)", limit)
					}
					next, err := r.readLine(limit)
					if err != nil {
						if errors.Is(err, io.EOF) {
							return false, fmt.Errorf("%w: quoted field %d is not terminated at the end of the input", ErrTruncated, len(r.ends)+1)
						}
						return false, err
					}
					r.line++
					if len(r.cont) == 0 {
						r.contField = len(r.ends) + 1
					}
					r.cont = append(r.cont, slices.Clone(next))
					r.contBytes += len(next)
					if r.contBytes > maxQuotedSpan {
						return false, errQuoteRunsOn
					}
					line, pos = next, 0
					continue
				}
				r.rec = append(r.rec, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					r.rec = append(r.rec, '"')
					pos++
					continue
				}
				break
			}
			r.ends = append(r.ends, len(r.rec))
			if pos >= len(line) {
				return false, nil
			}
			switch c := line[pos]; {
			case c == comma:
				pos++
				continue
			case c == '\n', c == '\r' && pos+1 < len(line) && line[pos+1] == '\n':
				return true, nil
			case c == '\r' && pos+1 == len(line):
				return false, nil
			default:
				r.rowErr = fmt.Errorf("bad quoting: unexpected %q after the closing quote of field %d", c, len(r.ends))
				return true, nil
			}
		}
		// Unquoted field: up to the separator or the end of the line.
		start := pos
		for pos < len(line) {
			c := line[pos]
			if c == comma || c == '\n' || c == '"' {
				break
			}
			pos++
		}
		if pos < len(line) && line[pos] == '"' {
			r.ends = append(r.ends, len(r.rec))
			r.rowErr = fmt.Errorf("bad quoting: bare quote in unquoted field %d", len(r.ends))
			return true, nil
		}
		end := pos
		atEnd := pos >= len(line) || line[pos] == '\n'
		if atEnd && end > start && line[end-1] == '\r' {
			end--
		}
		r.rec = append(r.rec, line[start:end]...)
		r.ends = append(r.ends, len(r.rec))
		if atEnd {
			return pos < len(line), nil
		}
		pos++ // separator
	}
}

// Skipped returns how many blank lines and records of empty fields Next
// has passed over so far: no data, such as the rows of commas a
// spreadsheet leaves at the end of a file it re-saves.
func (r *Reader) Skipped() int64 { return r.skipped }

// Err returns the fatal error that stopped Next (an I/O error, truncated
// input), naming the file and the line; nil at a clean end of input.
func (r *Reader) Err() error { return r.err }

// Line returns the 1-based line number where the current record starts
// (the header is line 1).
func (r *Reader) Line() int { return r.recLine }

// RowErr returns why the current record is malformed (wrong number of
// fields, bad quoting, invalid UTF-8 or a NUL byte, both naming the
// column), or nil. The caller rejects such a record with Line and this
// reason and goes on: it is never fatal.
func (r *Reader) RowErr() error { return r.rowErr }

// Field returns the unquoted value of wanted column i (an index into the
// columns given to NewReader) in the current record, or nil when the column
// is absent from this file or the value is empty. The slice is valid until
// the next call to Next.
func (r *Reader) Field(i int) []byte {
	k := r.idx[i]
	if k < 0 || k >= len(r.ends) {
		return nil
	}
	start := 0
	if k > 0 {
		start = r.ends[k-1]
	}
	end := r.ends[k]
	if start == end {
		return nil
	}
	return r.rec[start:end:end]
}

// String returns a copy of Field(i) as a string ("" when absent or empty).
func (r *Reader) String(i int) string { return string(r.Field(i)) }

// Name returns the header name of wanted column i as this file writes it
// (surrounding spaces trimmed), or "" when the file lacks the column.
// Messages name a column so: the file may use an alias, an older layout's
// name or another case, and the operator looks for what the file says.
func (r *Reader) Name(i int) string {
	if k := r.idx[i]; k >= 0 {
		return r.header[k]
	}
	return ""
}

// columnName returns how r's header writes the column of cols whose Name
// is name (see Reader.Name), or name itself when the file lacks it.
func columnName(r *Reader, cols []Column, name string) string {
	for i, c := range cols {
		if c.Name == name {
			if n := r.Name(i); n != "" {
				return n
			}
			break
		}
	}
	return name
}

// Present reports whether wanted column i exists in this file's header.
func (r *Reader) Present(i int) bool { return r.idx[i] >= 0 }

// File returns the file name given to NewReader.
func (r *Reader) File() string { return r.file }

// Columns returns the number of columns in the file's header.
func (r *Reader) Columns() int { return r.nfields }
