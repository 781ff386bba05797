package sample

import (
	"bufio"
	"strconv"
)

// line builds one CSV record with append-style formatting (no fmt, no
// per-field allocation) and writes it to a bufio.Writer.
type line struct {
	b        []byte
	quoteAll bool // NPPES and Open Payments quote every value; CMS files only when needed
	n        int  // fields so far
}

func (l *line) sep() {
	if l.n > 0 {
		l.b = append(l.b, ',')
	}
	l.n++
}

// str appends a text field.
func (l *line) str(s string) {
	l.sep()
	l.b = appendField(l.b, s, l.quoteAll)
}

// strs appends several text fields.
func (l *line) strs(ss ...string) {
	for _, s := range ss {
		l.str(s)
	}
}

// empty appends n empty fields.
func (l *line) empty(n int) {
	for i := 0; i < n; i++ {
		l.str("")
	}
}

// int appends an integer field.
func (l *line) int(v int64) {
	l.sep()
	if l.quoteAll {
		l.b = append(l.b, '"')
	}
	l.b = strconv.AppendInt(l.b, v, 10)
	if l.quoteAll {
		l.b = append(l.b, '"')
	}
}

// float appends a decimal with prec digits after the point (-1: as few as
// needed).
func (l *line) float(v float64, prec int) {
	l.sep()
	if l.quoteAll {
		l.b = append(l.b, '"')
	}
	l.b = strconv.AppendFloat(l.b, v, 'f', prec, 64)
	if l.quoteAll {
		l.b = append(l.b, '"')
	}
}

// date appends a MM/DD/YYYY date given as days since 1970-01-01.
func (l *line) date(days int) {
	l.sep()
	if l.quoteAll {
		l.b = append(l.b, '"')
	}
	l.b = appendDate(l.b, days)
	if l.quoteAll {
		l.b = append(l.b, '"')
	}
}

// bytes appends a text field held in a byte slice.
func (l *line) bytes(v []byte) {
	l.sep()
	l.b = appendFieldBytes(l.b, v, l.quoteAll)
}

// end terminates the record and writes it.
func (l *line) end(w *bufio.Writer) error {
	l.b = append(l.b, '\n')
	_, err := w.Write(l.b)
	l.b = l.b[:0]
	l.n = 0
	return err
}

func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			return true
		}
	}
	return false
}

func appendField(b []byte, s string, quoteAll bool) []byte {
	if !quoteAll && !needsQuote(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func appendFieldBytes(b, v []byte, quoteAll bool) []byte {
	quote := quoteAll
	for _, c := range v {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, v...)
	}
	b = append(b, '"')
	for _, c := range v {
		if c == '"' {
			b = append(b, '"')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// appendDate appends days since 1970-01-01 as MM/DD/YYYY.
func appendDate(b []byte, days int) []byte {
	y, m, d := civil(days)
	b = append(b, byte('0'+m/10), byte('0'+m%10), '/', byte('0'+d/10), byte('0'+d%10), '/')
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's civil_from_days).
func civil(days int) (y, m, d int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysOf returns days since 1970-01-01 of a civil date (days_from_civil).
func daysOf(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
