package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence/report"
)

const reportUsage = `Usage: adherence report <report> [flags]

Reports:
  pdc    PQA proportion of days covered per patient from a pharmacy-claims CSV

Run 'adherence report <report> --help' for a report's flags.
`

// cmdReport dispatches the report subcommands.
func cmdReport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, reportUsage)
		return errors.New("a report is required; try 'adherence report pdc --help'")
	}
	switch args[0] {
	case "pdc":
		return cmdReportPDC(ctx, args[1:], stdin, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, reportUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, reportUsage)
		return fmt.Errorf("unknown report %q; try 'adherence report pdc --help'", args[0])
	}
}

// pdcLine is one line of `report pdc` output. The field order is the key
// order of the JSON object.
type pdcLine struct {
	PatientID   string       `json:"patient_id"`
	IndexDate   *report.Date `json:"index_date"`
	Days        int          `json:"days"`
	CoveredDays int          `json:"covered_days"`
	PDC         *float64     `json:"pdc"`
	Eligible    bool         `json:"eligible"`
	Adherent    bool         `json:"adherent"`
	Reason      string       `json:"reason,omitempty"`
}

// cmdReportPDC reads pharmacy fills from a CSV file and prints the PDC of
// each patient over the measurement period, one JSON object per line in
// patient_id order. All of a patient's rows form one drug class.
func cmdReportPDC(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("report pdc", "report pdc --fills FILE.csv|- --start YYYY-MM-DD --end YYYY-MM-DD [--threshold 0.80]\n\n"+
		"FILE.csv has a header row with the columns patient_id, drug (active ingredient),\n"+
		"fill_date (YYYY-MM-DD) and days_supply (whole days in digits, 1 to 366: no sign,\nno decimal point), in any order; other columns are ignored.\n"+
		"All rows of a patient form one drug class. Prints one JSON object per patient.", stderr)
	fillsPath := fs.String("fills", "", "pharmacy-claims CSV file, or - for standard input")
	startFlag := fs.String("start", "", "first day of the measurement period (YYYY-MM-DD)")
	endFlag := fs.String("end", "", "last day of the measurement period, inclusive (YYYY-MM-DD)")
	threshold := fs.Float64("threshold", report.DefaultThreshold, "PDC at or above which a patient is adherent (0.90 for antiretrovirals)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *fillsPath == "" || *startFlag == "" || *endFlag == "" {
		fs.Usage()
		return errors.New("--fills, --start and --end are required")
	}
	start, err := report.ParseDate(*startFlag)
	if err != nil {
		return fmt.Errorf("--start: %q %s", *startFlag, dateProblem(*startFlag))
	}
	end, err := report.ParseDate(*endFlag)
	if err != nil {
		return fmt.Errorf("--end: %q %s", *endFlag, dateProblem(*endFlag))
	}
	if end.String() < start.String() { // YYYY-MM-DD sorts as text
		return fmt.Errorf("--end: %s is before --start %s", end, start)
	}
	// The API's bound: PQA periods are a year, and a period of millennia
	// would only cost time and memory for every patient.
	if limit := time.Date(start.Year, start.Month, start.Day, 0, 0, 0, 0, time.UTC).AddDate(5, 0, 0); time.Date(end.Year, end.Month, end.Day, 0, 0, 0, 0, time.UTC).After(limit) {
		return fmt.Errorf("--end: the measurement period may span at most 5 years (%s to %s is longer)", start, end)
	}
	if math.IsNaN(*threshold) || *threshold <= 0 || *threshold > 1 {
		return errors.New("--threshold: must be greater than 0 and at most 1")
	}

	name, in := *fillsPath, stdin
	if name == "-" {
		name = "<stdin>"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("--fills: %w", err)
		}
		defer f.Close()
		in = f
	}
	byPatient, err := readFills(ctx, name, in, stderr)
	if err != nil {
		return err
	}

	// Compute everything before printing anything, so a failure leaves
	// stdout empty.
	ids := make([]string, 0, len(byPatient))
	for id := range byPatient {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	lines := make([]pdcLine, 0, len(ids))
	for _, id := range ids {
		r, err := report.PDC(byPatient[id], start, end, *threshold)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		lines = append(lines, pdcLine{
			PatientID: id, IndexDate: r.IndexDate, Days: r.Days, CoveredDays: r.CoveredDays,
			PDC: r.PDC, Eligible: r.Eligible, Adherent: r.Adherent, Reason: r.Reason,
		})
	}
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return w.Flush()
}

// fillColumns are the columns readFills needs, in the order it reports them
// missing.
var fillColumns = []string{"patient_id", "drug", "fill_date", "days_supply"}

// readFills streams the fills CSV named name from r and groups the fills
// by patient. It writes every malformed row to stderr as
// "name:line: field: problem" (line 1 is the header; a CSV syntax error is
// "name:line: record: character n: problem", n counting the line's
// characters from 1, and a quoted field left open
// at the end of the file is reported on the line where it opened) and
// then returns an error counting them. The messages never repeat field
// values, which may be PHI. Once a row is bad, later rows are only
// checked, not kept.
func readFills(ctx context.Context, name string, r io.Reader, stderr io.Writer) (map[string][]report.Fill, error) {
	// Line ends first (CR-only lines become LF), then the byte order
	// marks starting any line: the file's own, and one where another
	// file was joined to it.
	lines := bufio.NewReaderSize(crLines{bufio.NewReaderSize(r, 64<<10)}, 64<<10)
	text := &bomLines{r: lines, lineStart: true}
	cr := csv.NewReader(text)
	cr.FieldsPerRecord = -1 // checked below, so that every bad row is reported
	// Values are read without surrounding space; so is a quoted one after
	// ", ": its quote opens the field instead of being a bare quote in it.
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file; want a header row with %s", name, strings.Join(fillColumns, ","))
	}
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		// Said as a row's syntax errors are (see below): the line, and
		// the position on it in characters, not csv's "column" in bytes.
		if errors.Is(pe.Err, csv.ErrQuote) && pe.Column > len(text.lineText()) {
			return nil, fmt.Errorf(`%s:%d: header: a quoted field opened on this line is never closed: its closing " is missing, so the rest of the file was read into it`, name, pe.StartLine)
		}
		// A header of quoted names separated by semicolons or tabs fails
		// on its first closing quote: say why, as for unquoted names.
		hint := ""
		if line := string(text.lineText()); !strings.Contains(line, ",") {
			hint = headerHint([]string{line})
		}
		return nil, fmt.Errorf("%s:%d: header: character %d: %w%s", name, pe.Line, charPosition(text.lineText(), pe.Column), pe.Err, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	if blankRecord(header) {
		// A spreadsheet's empty row (",,,") or a line of spaces above the
		// header: taken as the header, it lacked every column.
		line, _ := cr.FieldPos(0)
		return nil, fmt.Errorf("%s:%d: header: the line is blank; the header row (%s) must be the first line",
			name, line, strings.Join(fillColumns, ","))
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(fillColumns, h) {
			continue
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%s: header: column %s appears twice", name, h)
		}
		col[h] = i
	}
	var missing []string
	for _, c := range fillColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: header: missing column(s) %s%s", name, strings.Join(missing, ", "), headerHint(header))
	}
	nFields := len(header)
	iPatient, iDrug, iDate, iSupply := col["patient_id"], col["drug"], col["fill_date"], col["days_supply"]

	byPatient := map[string]*[]report.Fill{}
	drugs := map[string]string{} // interned drug names
	bad := 0                     // malformed rows so far
	problem := func(line int, field, msg string) {
		fmt.Fprintf(stderr, "%s:%d: %s: %s\n", name, line, field, msg)
	}
	for row := 0; ; row++ {
		if row%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			// The csv reader stops at the line of the fault, pe.Line, and
			// reads a line at a time from text (see bomLines), so text's
			// line is that one.
			line := text.lineText()
			// A quoted field still open at the end of the file took every
			// line after its opening quote, down to the last line, even
			// when that is the line it opened on. The reader reports it
			// past the last character of the last line (every other fault
			// is at a character of its line), where nothing is wrong, so
			// it is reported on the line where the quote opened. Nothing
			// is left to read.
			if errors.Is(pe.Err, csv.ErrQuote) && pe.Column > len(line) {
				problem(pe.StartLine, "record", `a quoted field opened on this line is never closed: its closing " is missing, so the rest of the file was read into it`)
				bad++
				break
			}
			// Otherwise the line and position of the fault itself: in a
			// quoted field spanning lines it is past the line the record
			// starts on. The position is in characters, not the CSV
			// column (field) it fell in: said as such.
			problem(pe.Line, "record", fmt.Sprintf("character %d: %s", charPosition(line, pe.Column), pe.Err))
			bad++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if blankRecord(rec) {
			// A line of spaces or tabs, or of separators only (",,,", as
			// spreadsheets export their empty rows): blank, skipped as
			// the csv reader skips empty lines.
			continue
		}
		line, _ := cr.FieldPos(0)
		if isHeaderRow(rec) {
			// Files joined together: the second's header would fail as a
			// row of bad values, and its columns may be in another order.
			problem(line, "record", "is a header row again: files joined together? Keep only the first file's header, or report on each file alone")
			bad++
			continue
		}
		if len(rec) != nFields {
			problem(line, "record", fmt.Sprintf("has %d fields, the header has %d", len(rec), nFields))
			bad++
			continue
		}
		ok := true
		lineOf := func(i int) int { l, _ := cr.FieldPos(i); return l }
		patient := strings.TrimSpace(rec[iPatient])
		if msg := textProblem(patient); msg != "" {
			problem(lineOf(iPatient), "patient_id", msg)
			ok = false
		}
		// A line break or tab inside a drug name (a spreadsheet cell
		// wrapped onto two lines) reads as a space, and runs of spaces
		// as one: "lisinopril\n10 mg" and "lisinopril  10 mg" are
		// "lisinopril 10 mg", one drug, so refills of it are shifted.
		drug := strings.Join(strings.Fields(rec[iDrug]), " ")
		if msg := textProblem(drug); msg != "" {
			problem(lineOf(iDrug), "drug", msg)
			ok = false
		}
		dateText := strings.TrimSpace(rec[iDate])
		date, err := report.ParseDate(dateText)
		if err != nil {
			problem(lineOf(iDate), "fill_date", dateProblem(dateText))
			ok = false
		}
		supply, msg := parseDaysSupply(strings.TrimSpace(rec[iSupply]))
		if msg != "" {
			problem(lineOf(iSupply), "days_supply", msg)
			ok = false
		}
		if !ok {
			bad++
		}
		if bad > 0 {
			continue // after the first bad row only validate: nothing will be printed
		}
		d, seen := drugs[drug]
		if !seen {
			d = strings.Clone(drug)
			drugs[d] = d
		}
		fills := byPatient[patient]
		if fills == nil {
			// Set the key once, from a copy: rec's strings share the
			// whole line's memory.
			fills = new([]report.Fill)
			byPatient[strings.Clone(patient)] = fills
		}
		*fills = append(*fills, report.Fill{Drug: d, Date: date, DaysSupply: supply})
	}
	if bad > 0 {
		return nil, fmt.Errorf("%s: %d malformed row(s); nothing computed", name, bad)
	}
	out := make(map[string][]report.Fill, len(byPatient))
	for id, fills := range byPatient {
		out[id] = *fills
	}
	return out, nil
}

// textProblem says what is wrong with a text value kept from a row
// (patient_id, drug), or "" when nothing is. Text that is not UTF-8 (a
// file in Latin-1 or Windows-1252) was printed with U+FFFD for each bad
// byte, so that two different patient ids, "U\xff" and "U\xfe", came out
// as one. Like every problem, it never repeats the value.
//
// A control character is refused too: printed, a NUL or a line break in an
// id is invisible or mangled downstream, and in a drug name it made "x"
// and "x\x00" two drugs, so that a refill was not shifted after the fill
// before it and the patient's PDC came out lower.
func textProblem(s string) string {
	if s == "" {
		return "is empty"
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8; save the file as UTF-8 (it may be in another encoding, such as Latin-1 or Windows-1252)"
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		if strings.ContainsAny(s, "\t\n\r") {
			return "contains a control character (such as a tab or a line break)"
		}
		// A drug's tabs and line breaks were made spaces already, and
		// only such a character is left.
		return "contains a control character (such as NUL or escape)"
	}
	return ""
}

// datePattern is the form of a date; one that has it but is refused
// names a day, month or year that does not exist.
var datePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// dateProblem says why s, refused by report.ParseDate, is no date: its
// form, or a day, month or year that does not exist.
func dateProblem(s string) string {
	if datePattern.MatchString(s) {
		return "is not a calendar date: no such day, month or year (such as 2023-02-29, month 13 or year 0000)"
	}
	return "is not a date in YYYY-MM-DD form"
}

// headerHint says, after the columns a header lacks, why it may lack
// them when the cause is the file's encoding or separator, which the
// missing names alone do not tell: a UTF-16 file (a spreadsheet's
// "Unicode text") holds a NUL byte after each ASCII letter, and a file
// separated by tabs or semicolons reads as one column holding every name.
func headerHint(header []string) string {
	joined := strings.Join(header, ",")
	switch {
	case strings.ContainsRune(joined, 0) || strings.HasPrefix(joined, "\xff\xfe") || strings.HasPrefix(joined, "\xfe\xff"):
		return "; the file looks like UTF-16 (a spreadsheet's \"Unicode text\"): save it as CSV in UTF-8"
	case len(header) == 1 && strings.Contains(joined, "\t"):
		return "; the columns are separated by tabs: the file must be comma-separated (CSV)"
	case len(header) == 1 && strings.Contains(joined, ";"):
		return "; the columns are separated by semicolons: the file must be comma-separated (CSV)"
	}
	return ""
}

// charPosition turns col, a csv.ParseError's Column (a 1-based byte
// index into line), into the position of that character on line counted
// in characters from 1, as the README promises: "é" is two bytes but one
// character. A byte that is not UTF-8 counts as one character.
func charPosition(line []byte, col int) int {
	return utf8.RuneCount(line[:min(max(col-1, 0), len(line))]) + 1
}

// parseDaysSupply reads a days_supply value: whole days written in ASCII
// digits alone, as the fills API takes them (a JSON integer), 1 to
// report.MaxDaysSupply (a huge supply would silently cover the whole
// period). On a bad value it returns the problem, saying what is wrong
// without repeating the value. strconv.Atoi alone took a sign ("+30"), and
// told "30.0" it was not a whole number of days.
func parseDaysSupply(s string) (int, string) {
	if s == "" {
		return 0, "is empty"
	}
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || !isDigits(digits) {
		whole, frac, found := strings.Cut(s, ".")
		if found && (whole != "" || frac != "") && isDigits(whole+frac) {
			return 0, "has a decimal point; want whole days in digits, without one"
		}
		return 0, fmt.Sprintf("is not a number of days; want whole days in digits (1 to %d)", report.MaxDaysSupply)
	}
	if s[0] == '+' {
		return 0, "has a sign; want whole days in digits alone"
	}
	n, err := strconv.Atoi(s) // a '-' left here is a negative number of days
	if err != nil || n < 1 || n > report.MaxDaysSupply {
		return 0, fmt.Sprintf("must be between 1 and %d days", report.MaxDaysSupply)
	}
	return n, ""
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// crLines reads r with every lone CR (the line end of old Mac files)
// turned into LF: the csv reader ends lines only at LF (and CRLF), so a
// CR-only file was one line, one record. CRLF is left as it is.
type crLines struct{ r *bufio.Reader }

func (c crLines) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range n {
		if p[i] != '\r' {
			continue
		}
		if i+1 < n {
			if p[i+1] != '\n' {
				p[i] = '\n'
			}
			continue
		}
		// The CR ends what was read: the next byte decides.
		if next, perr := c.r.Peek(1); perr != nil || next[0] != '\n' {
			p[i] = '\n'
		}
	}
	return n, err
}

// bomLines reads r dropping a byte order mark (U+FEFF) that starts a
// line. The file's own is one; so is the mark of a file joined after
// another (cat a.csv b.csv), or of a line pasted from one: there the
// invisible mark made the first value another one ("\uFEFFP1", another
// patient than "P1"), or a quoted value a CSV syntax error.
//
// Read never returns bytes of two lines at once, so a reader reading
// through a buffer (the csv reader's) has read no further than the line
// it is at: lineText is that line, to turn a byte position on it into a
// character position.
type bomLines struct {
	r         *bufio.Reader
	lineStart bool   // the next byte of r starts a line
	rest      []byte // of the line read from r, what Read has not returned yet
	err       error  // the error that ended the last line read
	text      []byte // the line Read is returning (its mark dropped), as far as read from r
}

const byteOrderMark = "\uFEFF"

func (b *bomLines) Read(p []byte) (int, error) {
	if len(b.rest) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.lineStart {
			if m, _ := b.r.Peek(len(byteOrderMark)); string(m) == byteOrderMark {
				b.r.Discard(len(byteOrderMark))
			}
		}
		// The line, or as much of it as the buffer holds, stays in r's
		// buffer until it is all returned: r is not read meanwhile.
		line, err := b.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil
		}
		if len(line) > 0 {
			// At the end of the file nothing is read: the last line
			// stays.
			if b.lineStart {
				b.text = b.text[:0]
			}
			b.text = append(b.text, line...)
		}
		b.rest, b.err = line, err
		b.lineStart = len(line) > 0 && line[len(line)-1] == '\n'
		if len(line) == 0 {
			return 0, err
		}
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

// lineText returns the line Read is returning, or returned last, without
// its line end (LF or CRLF: crLines has made a lone CR an LF). It is
// valid until the next Read.
func (b *bomLines) lineText() []byte {
	line := bytes.TrimSuffix(b.text, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// isHeaderRow reports whether rec names every column readFills needs: a
// header row, in whatever order.
func isHeaderRow(rec []string) bool {
	for _, c := range fillColumns {
		if !slices.ContainsFunc(rec, func(f string) bool { return strings.ToLower(strings.TrimSpace(f)) == c }) {
			return false
		}
	}
	return true
}

// blankRecord reports whether every field of rec is empty or white space.
func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}
