package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// referenceCSV holds the lisinopril fills of the worked example in the
// adherence reference (PDC 360/365 = 0.9863 over 2022) plus a 2021 fill
// that is ignored.
const referenceCSV = `patient_id,drug,fill_date,days_supply
P1,lisinopril,2021-10-15,90
P1,lisinopril,2022-01-01,90
P1,lisinopril,2022-03-25,90
P1,lisinopril,2022-07-05,90
P1,lisinopril,2022-09-25,90
`

const referenceLine = `{"patient_id":"P1","index_date":"2022-01-01","days":365,"covered_days":360,"pdc":0.9863,"eligible":true,"adherent":true}` + "\n"

// TestReportPDC runs `report pdc` through run. Input goes to a file unless
// stdin is set; "FILE" in args, wantErr and wantStderr stands for its path.
func TestReportPDC(t *testing.T) {
	year2022 := []string{"--start", "2022-01-01", "--end", "2022-12-31"}
	tests := []struct {
		name       string
		csv        string
		stdin      bool
		args       []string // after report pdc --fills FILE|-
		wantOut    string
		wantErr    string   // substring of the error; "" for success
		wantStderr []string // substrings of stderr
	}{
		{
			name: "reference example", csv: referenceCSV, args: year2022,
			wantOut: referenceLine,
		},
		{
			name: "reference example from stdin", csv: referenceCSV, stdin: true, args: year2022,
			wantOut: referenceLine,
		},
		{
			// 0.9863 < 0.99.
			name: "higher threshold", csv: referenceCSV, args: append([]string{"--threshold", "0.99"}, year2022...),
			wantOut: strings.Replace(referenceLine, `"adherent":true`, `"adherent":false`, 1),
		},
		{
			// A BOM, CRLF line ends, columns in another order with other
			// case and spaces, and an extra column are all accepted.
			name: "header variations",
			csv: "\uFEFFFill_Date, DAYS_SUPPLY ,ndc,Drug,patient_id\r\n" +
				"2022-01-01,90,0001,lisinopril,P1\r\n2022-03-25,90,0001,lisinopril,P1\r\n" +
				"2022-07-05,90,0001,lisinopril,P1\r\n2022-09-25,90,0001,lisinopril,P1\r\n",
			args:    year2022,
			wantOut: referenceLine,
		},
		{
			// Quoted fields after ", " (as some exports and hand-edited
			// files write them) are read like the unquoted values with
			// spaces around them: the quote after the space opens the
			// field, it is not a bare quote inside it.
			name: "quoted fields after a space",
			csv: "\"patient_id\", \"drug\", \"fill_date\", \"days_supply\"\n" +
				"\"P1\", \"lisinopril\", \"2022-01-01\", 90\n\"P1\", \"lisinopril\", \"2022-03-25\", 90\n" +
				"\"P1\",  \"lisinopril\", \"2022-07-05\", \"90\"\n\"P1\", \"lisinopril\",\t\"2022-09-25\", 90\n",
			args:    year2022,
			wantOut: referenceLine,
		},
		{
			// Lines of spaces or tabs (an editor's leftovers at the end, a
			// gap between blocks) are blank lines, skipped as empty ones
			// are; one failed the whole file as a record of 1 field.
			name: "whitespace-only lines",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"P1,lisinopril,2022-01-01,90\nP1,lisinopril,2022-03-25,90\n   \n\n" +
				"P1,lisinopril,2022-07-05,90\nP1,lisinopril,2022-09-25,90\n \t \n  \n",
			args:    year2022,
			wantOut: referenceLine,
		},
		{
			// Old Mac line ends (CR only) are line ends, with a blank
			// line among them; the file was read as one line.
			name:    "CR line ends",
			csv:     strings.ReplaceAll(referenceCSV, "\n", "\r") + "\r",
			args:    year2022,
			wantOut: referenceLine,
		},
		{
			// Lines are counted at each CR, a CRLF counting once.
			name: "CR line ends, malformed rows",
			csv: "patient_id,drug,fill_date,days_supply\r" + // 1
				"P1,lisinopril,2022-01-01,90\r" + // 2 fine
				"P1,lisinopril,2022-02-30,90\r\n" + // 3 no such day
				"P1,\"lisinopril\r10 mg\",2022-01-01,0\r" + // 4–5 zero supply
				"\r" + // 6 blank
				"P1,lisinopril,2022-01-01,x\r", // 7 not a number
			args:       year2022,
			wantErr:    "FILE: 3 malformed row(s)",
			wantStderr: []string{"FILE:3: fill_date: ", "FILE:5: days_supply: ", "FILE:7: days_supply: "},
		},
		{
			// Rows of separators only (a spreadsheet's empty rows, with
			// the header's number of fields or another) are blank lines
			// too; they failed the file as rows with every field empty.
			// A row with any value is still checked (line 6).
			name: "separator-only lines",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"P1,lisinopril,2022-01-01,90\nP1,lisinopril,2022-03-25,90\n,,,\n , ,\t,\n" +
				"P1,lisinopril,2022-07-05,90\nP1,lisinopril,2022-09-25,90\n,,\n,,,,,\n",
			args:    year2022,
			wantOut: referenceLine,
		},
		{
			name: "separator-only lines do not hide a bad row",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"P1,lisinopril,2022-01-01,90\n,,,\n\n,,x,\n,,,\n",
			args:       year2022,
			wantErr:    "FILE: 1 malformed row(s)",
			wantStderr: []string{"FILE:5: patient_id: ", "FILE:5: drug: ", "FILE:5: fill_date: ", "FILE:5: days_supply: "},
		},
		{
			// A byte order mark starting a line (a file joined after
			// another, a line pasted from one) is dropped as the file's
			// own is: it made the patient "\uFEFFP1", another patient.
			name: "BOM starting a line",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"P1,lisinopril,2022-01-01,90\n\uFEFFP1,lisinopril,2022-03-25,90\n" +
				"P1,lisinopril,2022-07-05,90\r\uFEFFP1,lisinopril,2022-09-25,90\n",
			args:    year2022,
			wantOut: referenceLine,
		},
		{
			// Two files joined: the second's BOM and header are named as
			// what they are, on their line; they read as a row of bad
			// values (or, quoted, a bare quote) after an invisible BOM.
			name: "files joined, BOM and header in the middle",
			csv: referenceCSV + // 1–6
				"\uFEFFpatient_id,drug,fill_date,days_supply\n" + // 7
				"P2,metformin,2022-01-01,90\n" + // 8
				"\uFEFF\"Drug\",\"Patient_ID\",\"Fill_Date\",\"Days_Supply\"\r\n" + // 9: another order, quoted
				"metformin,P3,2022-01-01,90\r\n" + // 10
				"patient_id,drug,fill_date,days_supply\n", // 11: no BOM
			args:    year2022,
			wantErr: "FILE: 3 malformed row(s)",
			wantStderr: []string{
				"FILE:7: record: is a header row again: files joined together? Keep only the first file's header, or report on each file alone",
				"FILE:9: record: is a header row again: ",
				"FILE:11: record: is a header row again: ",
			},
		},
		{
			// Sorted by patient_id as text: P1 < P10 < P2. Rows of
			// different patients are never combined: P2's lisinopril does
			// not shift P1's or P10's.
			// P2: Jan 1/365 covers the year, PDC 1.
			// P10: lisinopril Dec 1/10 → Dec 1–10; Dec 5/10 shifted to
			// Dec 11–20; amlodipine Dec 15/10 → Dec 15–24, not shifted.
			// Union Dec 1–24 = 24 of 31 → 0.77419 → 0.7742.
			name: "patients sorted",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"P2,lisinopril,2022-01-01,365\n" +
				"P10,lisinopril,2022-12-01,10\n" +
				"P1,lisinopril,2022-01-01,90\n" +
				"P10,lisinopril,2022-12-05,10\n" +
				"P1,lisinopril,2022-03-25,90\n" +
				"P10,amlodipine,2022-12-15,10\n" +
				"P1,lisinopril,2022-07-05,90\n" +
				"P1,lisinopril,2022-09-25,90\n",
			args: year2022,
			wantOut: referenceLine +
				`{"patient_id":"P10","index_date":"2022-12-01","days":31,"covered_days":24,"pdc":0.7742,"eligible":false,"adherent":false,"reason":"treatment period under 91 days: the first fill is too close to the period end"}` + "\n" +
				`{"patient_id":"P2","index_date":"2022-01-01","days":365,"covered_days":365,"pdc":1,"eligible":false,"adherent":false,"reason":"fewer than 2 fills on different dates in the measurement period"}` + "\n",
		},
		{
			// P2 has fills only outside 2022.
			name: "no fill in the period",
			csv:  referenceCSV + "P2,metformin,2021-12-01,90\nP2,metformin,2023-01-01,90\n",
			args: year2022,
			wantOut: referenceLine +
				`{"patient_id":"P2","index_date":null,"days":0,"covered_days":0,"pdc":null,"eligible":false,"adherent":false,"reason":"no fill in the measurement period"}` + "\n",
		},
		{
			name: "header only", csv: "patient_id,drug,fill_date,days_supply\n", args: year2022,
		},
		{
			// Every bad row is reported with its physical line (the quoted
			// drug on line 4 spans two lines, so its date is on line 5),
			// and nothing is printed.
			name: "malformed rows",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,lisinopril,2022-01-01,90\n" + // 2 fine
				"P1,lisinopril,2022-02-30,90\n" + // 3 no such day
				"P1,\"lisinopril\n10 mg\",22-01-01,30\n" + // 4–5 short year
				",lisinopril,2022-01-01,30.5\n" + // 6 no patient, not whole
				"P1,,2022-01-01,0\n" + // 7 no drug, zero supply
				"P1,lisinopril,2022-01-01\n" + // 8 three fields
				"P1,lisinopril,2022-01-01,-3\n" + // 9 negative
				"P1,lisinopril,2022-01-01,90\n", // 10 fine
			args:    year2022,
			wantErr: "FILE: 6 malformed row(s)",
			wantStderr: []string{
				"FILE:3: fill_date: is not a calendar date: no such day, month or year",
				"FILE:5: fill_date: is not a date in YYYY-MM-DD form",
				"FILE:6: patient_id: ",
				"FILE:6: days_supply: ",
				"FILE:7: drug: ",
				"FILE:7: days_supply: ",
				"FILE:8: record: has 3 fields, the header has 4",
				"FILE:9: days_supply: ",
			},
		},
		{
			// CSV syntax errors name the line and character of the stray
			// quote, also inside a quoted field spanning lines (4–5).
			name: "quote errors",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,lisinopril,2022-01-01,90\n" + // 2 fine
				"P1,lisi\"nopril,2022-01-01,90\n" + // 3 bare quote, character 8
				"P1,\"lisinopril\n10 mg\"x,2022-01-01,90\n" + // 4–5 x after the closing quote (character 6 of line 5)
				"P1,lisinopril,2022-01-01,90\n", // 6 fine
			args:    year2022,
			wantErr: "FILE: 2 malformed row(s)",
			wantStderr: []string{
				"FILE:3: record: character 8: bare \" in non-quoted-field",
				"FILE:5: record: character 6: extraneous or missing \" in quoted-field",
			},
		},
		{
			// The character position counts characters, not bytes: "é",
			// "Ä" and "ü" are two bytes each. A byte order mark starting a
			// line is no character of it (line 4), and a line longer than
			// the buffers it is read through is counted whole (line 6).
			name: "quote errors after non-ASCII characters",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,éé\"b,2022-01-01,30\n" + // 2 bare quote, character 6 (byte 8)
				"ÄÄ,x\"y,2022-01-01,30\n" + // 3 bare quote, character 5 (byte 7)
				"\uFEFFé,x\"y,2022-01-01,30\r\n" + // 4 bare quote, character 4 (byte 5 after the mark)
				"P1,\"lisinopril\nü mg\"x,2022-01-01,90\n" + // 5–6 x after the closing quote, at character 5 of line 6 (byte 6)
				"P1," + strings.Repeat("é", 40000) + "\"x,2022-01-01,30\n" + // 7 bare quote, character 40004 (byte 80004)
				"P1,lisinopril,2022-01-01,90\n", // 8 fine
			args:    year2022,
			wantErr: "FILE: 5 malformed row(s)",
			wantStderr: []string{
				"FILE:2: record: character 6: bare \" in non-quoted-field",
				"FILE:3: record: character 5: bare \" in non-quoted-field",
				"FILE:4: record: character 4: bare \" in non-quoted-field",
				"FILE:6: record: character 5: extraneous or missing \" in quoted-field",
				"FILE:7: record: character 40004: bare \" in non-quoted-field",
			},
		},
		{
			// A quote that opens a field and is never closed takes the
			// rest of the file into that field: the fault is where it
			// opened (line 3), not the end of the file (line 5), where the
			// csv reader notices it and where nothing is wrong.
			name: "unclosed quote",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,lisinopril,2022-01-01,90\n" + // 2 fine
				"P1,\"lisinopril,2022-04-01,90\n" + // 3 opens a quoted field
				"P1,lisinopril,2022-07-01,90\n" + // 4 fine
				"P1,lisinopril,2022-10-01,90\n", // 5 fine
			args:       year2022,
			wantErr:    "FILE: 1 malformed row(s)",
			wantStderr: []string{"FILE:3: record: a quoted field opened on this line is never closed"},
		},
		{
			// A quote opened on the last line and never closed is the same
			// fault: the csv reader put it past the end of the line
			// (character 21 of 19).
			name: "unclosed quote on the last line",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,\"a,2022-01-01,30\n", // 2 opens a quoted field
			stdin: true, args: year2022,
			wantErr:    "<stdin>: 1 malformed row(s)",
			wantStderr: []string{"<stdin>:2: record: a quoted field opened on this line is never closed"},
		},
		{
			name: "unclosed quote on the last line, no line end",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,lisinopril,2022-01-01,90\n" + // 2 fine
				"P1,\"a,2022-01-01,30", // 3 opens a quoted field
			args:       year2022,
			wantErr:    "FILE: 1 malformed row(s)",
			wantStderr: []string{"FILE:3: record: a quoted field opened on this line is never closed"},
		},
		{
			name: "unclosed quote on the last line, CRLF",
			csv: "patient_id,drug,fill_date,days_supply\r\n" + // 1
				"P1,\"a,2022-01-01,30\r\n", // 2 opens a quoted field
			args:       year2022,
			wantErr:    "FILE: 1 malformed row(s)",
			wantStderr: []string{"FILE:2: record: a quoted field opened on this line is never closed"},
		},
		{
			// A quoted field that is closed, then followed by a stray
			// character, in the last record of the file is not one left
			// open: its fault is where it is, even when the field spans
			// lines (it was said never closed on line 2).
			name: "quote errors in the last record",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"P1,\"a\"x,2022-01-01,30\n" + // 2 x after the closing quote, character 6
				"P1,\"a\nb\"x,2022-01-01,30\n", // 3–4 x after the closing quote, character 2 of line 4
			args:    year2022,
			wantErr: "FILE: 2 malformed row(s)",
			wantStderr: []string{
				"FILE:2: record: character 6: extraneous or missing \" in quoted-field",
				"FILE:4: record: character 2: extraneous or missing \" in quoted-field",
			},
		},
		{
			// Text that is not UTF-8 was printed with U+FFFD for each bad
			// byte: two patients, "U\xff" and "U\xfe", came out as one,
			// "U\ufffd". A NUL in an id came out as "\u0000". Both are
			// refused, naming the field, like any bad value.
			name: "text not UTF-8, control characters",
			csv: "patient_id,drug,fill_date,days_supply\n" + // 1
				"U\xff,lisinopril,2022-01-01,30\n" + // 2 not UTF-8
				"U\xfe,lisinopril,2022-01-01,30\n" + // 3 not UTF-8
				"U\x00V,lisinopril,2022-01-01,30\n" + // 4 NUL
				"\"U\nV\",lisinopril,2022-01-01,30\n" + // 5–6 a line break in a quoted id
				"U\tV,lisinopril,2022-01-01,30\n" + // 7 a tab inside (around it, it is trimmed)
				"P1,lisinopril,2022-01-01,90\n" + // 8 fine
				"P1,lisinopril\xe9,2022-01-01,30\n" + // 9 drug in Latin-1
				"P1,lisinopril,2022-01-01,90\n" + // 10 fine
				"P1,lisinopril\x00,2022-01-01,30\n" + // 11 NUL in a drug: another drug, unshifted, before
				"P1,lisin\x1bopril,2022-01-01,30\n", // 12 ESC
			args:    year2022,
			wantErr: "FILE: 8 malformed row(s)",
			wantStderr: []string{
				"FILE:2: patient_id: is not valid UTF-8",
				"FILE:3: patient_id: is not valid UTF-8",
				"FILE:4: patient_id: contains a control character",
				"FILE:5: patient_id: contains a control character",
				"FILE:7: patient_id: contains a control character",
				"FILE:9: drug: is not valid UTF-8",
				"FILE:11: drug: contains a control character",
				"FILE:12: drug: contains a control character",
			},
		},
		{
			// A drug name wrapped in its cell, or with doubled spaces, is
			// the same drug: the second fill is shifted after the first
			// (60 days covered, not 30).
			name: "drug names differing in spaces",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"P1,lisinopril 10 mg,2022-01-01,30\n" +
				"P1,\"lisinopril\n10 mg\",2022-01-01,30\n" +
				"P2,lisinopril 10 mg,2022-01-01,30\n" +
				"P2,lisinopril\t  10 mg,2022-01-01,30\n",
			args: year2022,
			wantOut: `{"patient_id":"P1","index_date":"2022-01-01","days":365,"covered_days":60,"pdc":0.1644,"eligible":false,"adherent":false,"reason":"fewer than 2 fills on different dates in the measurement period"}` + "\n" +
				`{"patient_id":"P2","index_date":"2022-01-01","days":365,"covered_days":60,"pdc":0.1644,"eligible":false,"adherent":false,"reason":"fewer than 2 fills on different dates in the measurement period"}` + "\n",
		},
		{
			// UTF-8 text other than ASCII is fine, printed as it is; tabs
			// around a value are trimmed as spaces are.
			name: "non-ASCII text",
			csv: "patient_id,drug,fill_date,days_supply\n" +
				"Zoë,ácido acetilsalicílico,2022-01-01,365\n" +
				"\tP1\t,lisinopril,2022-01-01,90\n",
			args: year2022,
			wantOut: `{"patient_id":"P1","index_date":"2022-01-01","days":365,"covered_days":90,"pdc":0.2466,"eligible":false,"adherent":false,"reason":"fewer than 2 fills on different dates in the measurement period"}` + "\n" +
				`{"patient_id":"Zoë","index_date":"2022-01-01","days":365,"covered_days":365,"pdc":1,"eligible":false,"adherent":false,"reason":"fewer than 2 fills on different dates in the measurement period"}` + "\n",
		},
		{
			name: "malformed row on stdin", csv: referenceCSV + "P1,lisinopril,2022-01-01,x\n", stdin: true,
			args: year2022, wantErr: "<stdin>: 1 malformed row(s)", wantStderr: []string{"<stdin>:7: days_supply: "},
		},
		{
			name: "missing columns", csv: "patient,drug,date,days_supply\nP1,a,2022-01-01,30\n", args: year2022,
			wantErr: "FILE: header: missing column(s) patient_id, fill_date",
		},
		{
			// The missing names alone did not tell why a spreadsheet's
			// "Unicode text" (UTF-16) or a file separated by tabs or
			// semicolons lacked every column.
			name: "UTF-16 file", csv: utf16LE("patient_id,drug,fill_date,days_supply\r\nP1,a,2022-01-01,30\r\n"), args: year2022,
			wantErr: "missing column(s) patient_id, drug, fill_date, days_supply; the file looks like UTF-16",
		},
		{
			name: "tab-separated", csv: "patient_id\tdrug\tfill_date\tdays_supply\nP1\ta\t2022-01-01\t30\n", args: year2022,
			wantErr: "days_supply; the columns are separated by tabs: the file must be comma-separated",
		},
		{
			name: "semicolon-separated", csv: "patient_id;drug;fill_date;days_supply\nP1;a;2022-01-01;30\n", args: year2022,
			wantErr: "days_supply; the columns are separated by semicolons: the file must be comma-separated",
		},
		{
			name: "empty file", csv: "", args: year2022, wantErr: "FILE: empty file",
		},
		{
			// A syntax error in the header is said as one in a row is: its
			// line and its position in characters (csv's own message gave
			// "column 15", a byte count).
			name: "bare quote in the header", csv: "pätient_id,dr\"ug,fill_date,days_supply\nP1,a,2022-01-01,30\n", args: year2022,
			wantErr: "FILE:1: header: character 14: bare \" in non-quoted-field",
		},
		{
			name: "unclosed quote in the header", csv: "patient_id,\"drug,fill_date,days_supply\nP1,a,2022-01-01,30\n", args: year2022,
			wantErr: "FILE:1: header: a quoted field opened on this line is never closed",
		},
		{
			// A spreadsheet's empty row above the header was taken as the
			// header: "missing column(s) patient_id, drug, …".
			name: "blank row before the header", csv: ",,,\n" + referenceCSV, args: year2022,
			wantErr: "FILE:1: header: the line is blank; the header row (patient_id,drug,fill_date,days_supply) must be the first line",
		},
		{
			name: "spaces before the header", csv: "\n  \t\n" + referenceCSV, args: year2022,
			wantErr: "FILE:2: header: the line is blank; the header row",
		},
		{
			name: "bad start", csv: referenceCSV, args: []string{"--start", "2022-1-1", "--end", "2022-12-31"},
			wantErr: "--start: ",
		},
		{
			name: "bad end", csv: referenceCSV, args: []string{"--start", "2022-01-01", "--end", "2022-02-30"},
			wantErr: "--end: ",
		},
		{
			name: "end before start", csv: referenceCSV, args: []string{"--start", "2022-01-01", "--end", "2021-12-31"},
			wantErr: "--end: 2021-12-31 is before --start 2022-01-01",
		},
		{
			name: "period over 5 years", csv: referenceCSV, args: []string{"--start", "0001-01-01", "--end", "9999-12-31"},
			wantErr: "--end: the measurement period may span at most 5 years",
		},
		{
			name: "bad threshold", csv: referenceCSV, args: append([]string{"--threshold", "80"}, year2022...),
			wantErr: "--threshold: ",
		},
		{
			name: "missing flags", csv: referenceCSV, args: []string{"--start", "2022-01-01"},
			wantErr: "--fills, --start and --end are required",
		},
	}
	getenv := func(string) string { return "" }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "-"
			stdin := strings.NewReader(tt.csv)
			if !tt.stdin {
				path = filepath.Join(t.TempDir(), "fills.csv")
				if err := os.WriteFile(path, []byte(tt.csv), 0o600); err != nil {
					t.Fatal(err)
				}
				stdin = strings.NewReader("")
			}
			args := append([]string{"report", "pdc", "--fills", path}, tt.args...)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, getenv, stdin, &stdout, &stderr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v (stderr %q)", err, stderr.String())
				}
			} else {
				if want := strings.ReplaceAll(tt.wantErr, "FILE", path); err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q", err, want)
				}
				if stdout.Len() > 0 {
					t.Errorf("printed %q despite the error", stdout.String())
				}
			}
			if stdout.String() != tt.wantOut {
				t.Errorf("stdout =\n%s\nwant\n%s", stdout.String(), tt.wantOut)
			}
			for _, w := range tt.wantStderr {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if len(tt.wantStderr) > 0 {
				if got := strings.Count(stderr.String(), "\n"); got != len(tt.wantStderr) {
					t.Errorf("stderr has %d lines, want %d:\n%s", got, len(tt.wantStderr), stderr.String())
				}
				// Field values may be PHI and are never echoed.
				for _, v := range []string{"2022-02-30", "22-01-01", "30.5", "-3", "U\xff", "U\x00", "\xe9"} {
					if strings.Contains(stderr.String(), v) {
						t.Errorf("stderr repeats the value %q:\n%s", v, stderr.String())
					}
				}
			}
		})
	}
}

// TestReportHelp checks --help on report and report pdc, the top-level
// usage, and bad report invocations.
func TestReportHelp(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{{"report", "--help"}, {"report", "pdc", "--help"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, getenv, nil, &stdout, &stderr)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: err = %v, want flag.ErrHelp", args, err)
		}
		if !strings.Contains(stderr.String(), "Usage: adherence report") {
			t.Errorf("%v printed no usage: %q", args, stderr.String())
		}
	}
	var stderr bytes.Buffer
	run(context.Background(), []string{"report", "pdc", "--help"}, getenv, nil, &bytes.Buffer{}, &stderr)
	for _, flagName := range []string{"-fills", "-start", "-end", "-threshold"} {
		if !strings.Contains(stderr.String(), flagName) {
			t.Errorf("report pdc --help does not describe %s:\n%s", flagName, stderr.String())
		}
	}

	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, getenv, nil, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "  report pdc ") {
		t.Errorf("adherence --help does not list report pdc:\n%s", stdout.String())
	}

	for _, args := range [][]string{{"report"}, {"report", "bogus"}, {"report", "pdc", "--fills", "-", "--start", "2022-01-01", "--end", "2022-12-31", "extra"}} {
		if err := run(context.Background(), args, getenv, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: err = %v, want an error", args, err)
		}
	}
}

// TestCRLinesAcrossReads: a lone CR becomes LF and a CRLF stays one line
// end also when the CR is the last byte of a read (here every read is one
// byte), where the next byte is not yet read.
func TestCRLinesAcrossReads(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\r\nb\rc\r", "a\r\nb\nc\n"},
		{"\r\r\n\r", "\n\r\n\n"},
	} {
		for _, oneByte := range []bool{false, true} {
			var src io.Reader = strings.NewReader(c.in)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			got, err := io.ReadAll(crLines{bufio.NewReaderSize(src, 16)})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("%q (one byte a read: %t) = %q, want %q", c.in, oneByte, got, c.want)
			}
		}
	}
}

// TestBOMLinesAcrossReads: a byte order mark is dropped where it starts a
// line, also when it arrives a byte at a time, and kept elsewhere: inside
// a line, or after a line longer than the buffer was cut at its end.
func TestBOMLinesAcrossReads(t *testing.T) {
	const bom = "\uFEFF"
	for _, c := range []struct{ in, want string }{
		{bom + "a\n" + bom + "b\n" + bom, "a\nb\n"},
		{"a" + bom + "b\n\n" + bom + bom + "c", "a" + bom + "b\n\n" + bom + "c"},
		{"0123456789abcdefghij" + bom + "\n" + bom + "x", "0123456789abcdefghij" + bom + "\nx"},
		{"\xEF\xBB\n\xEF\n", "\xEF\xBB\n\xEF\n"}, // a mark's first bytes only
	} {
		for _, oneByte := range []bool{false, true} {
			var src io.Reader = strings.NewReader(c.in)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			got, err := io.ReadAll(iotest.OneByteReader(&bomLines{r: bufio.NewReaderSize(src, 16), lineStart: true}))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("%q (one byte a read: %t) = %q, want %q", c.in, oneByte, got, c.want)
			}
		}
	}
}

// utf16LE encodes ASCII text s as UTF-16 little-endian with its byte
// order mark, as a spreadsheet saves "Unicode text".
func utf16LE(s string) string {
	b := []byte{0xff, 0xfe}
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return string(b)
}
