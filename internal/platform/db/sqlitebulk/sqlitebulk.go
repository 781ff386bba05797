// Package sqlitebulk is a bare SQLite connection for bulk inserts: the C
// API of modernc.org/sqlite (its lib package, the same SQLite the
// database/sql driver runs), without the driver's per-argument work.
//
// Why it exists: a multi-row INSERT of a wide table binds thousands of
// values per statement. Through the driver, each value is copied into its
// own C allocation, looked up by name, type-switched and bound under the
// connection's mutex; in a CPU profile of `medsales ingest nppes` into
// SQLite that binding was about 60% of the one writer goroutine's time,
// twice the inserts themselves. Here the text of a whole statement is
// copied into one reused C buffer and bound in place (SQLITE_STATIC), and
// the connection is opened without a mutex (SQLITE_OPEN_NOMUTEX).
//
// A Conn is for one goroutine at a time. It opens an existing database
// file; the caller decides how its writes interleave with the
// application's own connections (the medsales loader holds the
// application's writer connection while it writes here).
package sqlitebulk

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Conn is an open SQLite connection.
type Conn struct {
	tls *libc.TLS
	db  uintptr
}

// Open opens the existing database file at path for reading and writing
// and runs each of pragmas ("busy_timeout = 10000", …) on it. Like the
// database/sql driver, it takes a "file:" URI too (SQLITE_OPEN_URI): give
// it the name the application's connections were opened with, so that
// both decode it alike ("%41", "#" …) and open the same file.
func Open(path string, pragmas ...string) (*Conn, error) {
	c := &Conn{tls: libc.NewTLS()}
	name, err := libc.CString(path)
	if err != nil {
		c.tls.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer libc.Xfree(c.tls, name)
	pdb := newOutPointer(c.tls)
	if pdb == 0 {
		c.tls.Close()
		return nil, fmt.Errorf("open %s: out of memory", path)
	}
	defer libc.Xfree(c.tls, pdb)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX|sqlite3.SQLITE_OPEN_URI, 0)
	c.db = readPointer(pdb)
	if rc != sqlite3.SQLITE_OK {
		err := c.errorf(rc, "open %s", path)
		c.Close()
		return nil, err
	}
	sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	for _, p := range pragmas {
		if err := c.Exec("PRAGMA " + p); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close closes the connection; close its statements first (a statement
// left open keeps the connection's memory until the process ends).
func (c *Conn) Close() error {
	if c.tls == nil {
		return nil
	}
	var err error
	if c.db != 0 {
		if rc := sqlite3.Xsqlite3_close_v2(c.tls, c.db); rc != sqlite3.SQLITE_OK {
			err = fmt.Errorf("close: SQLite error %d", rc)
		}
		c.db = 0
	}
	c.tls.Close()
	c.tls = nil
	return err
}

// Exec runs sql, one or more statements without parameters (PRAGMA,
// BEGIN, COMMIT, …), discarding any rows.
func (c *Conn) Exec(sql string) error {
	z, err := libc.CString(sql)
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	defer libc.Xfree(c.tls, z)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, z, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.errorf(rc, "%s", sql)
	}
	return nil
}

// Stmt is a prepared statement with its text buffer.
type Stmt struct {
	c      *Conn
	p      uintptr
	params int
	buf    uintptr // C memory the bound text points into
	bufCap int
}

// Prepare compiles sql, one statement with $1… or ? parameters.
func (c *Conn) Prepare(sql string) (*Stmt, error) {
	if len(sql) > math.MaxInt32 {
		return nil, errors.New("prepare: statement too long")
	}
	z, err := libc.CString(sql)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	defer libc.Xfree(c.tls, z)
	pp := newOutPointer(c.tls)
	if pp == 0 {
		return nil, errors.New("prepare: out of memory")
	}
	defer libc.Xfree(c.tls, pp)
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, z, int32(len(sql)), pp, 0); rc != sqlite3.SQLITE_OK {
		return nil, c.errorf(rc, "prepare %.60s…", sql)
	}
	p := readPointer(pp)
	if p == 0 {
		return nil, errors.New("prepare: no statement in the text")
	}
	return &Stmt{c: c, p: p, params: int(sqlite3.Xsqlite3_bind_parameter_count(c.tls, p))}, nil
}

// Kind is the type of a Value.
type Kind uint8

// The kinds of values: the zero Value is NULL.
const (
	Null Kind = iota
	Int
	Float
	Text
)

// Value is one argument of Stmt.Exec: an INTEGER (I), REAL (F), TEXT (S,
// which may hold any bytes, NUL included) or NULL, as Kind says. A typed
// value rather than an interface: a bulk load binds tens of values a row,
// and boxing each string or number in an interface was an allocation
// each, about a tenth of the parsing goroutine's time on an NPPES load.
type Value struct {
	Kind Kind
	I    int64
	F    float64
	S    string
}

// IntValue, FloatValue and TextValue make a Value of their kind.
func IntValue(v int64) Value     { return Value{Kind: Int, I: v} }
func FloatValue(v float64) Value { return Value{Kind: Float, F: v} }
func TextValue(v string) Value   { return Value{Kind: Text, S: v} }

// Exec binds args to the statement's parameters in order and runs it
// once.
func (s *Stmt) Exec(args []Value) error {
	c := s.c
	if c.tls == nil || s.p == 0 {
		return errors.New("exec: the statement or its connection is closed")
	}
	if len(args) != s.params {
		return fmt.Errorf("exec: %d arguments for %d parameters", len(args), s.params)
	}
	// All the statement's text goes into one buffer, bound in place: it
	// stays unchanged until the next Exec rebinds every parameter.
	size := 0
	for i := range args {
		if args[i].Kind == Text {
			size += len(args[i].S)
		}
	}
	if err := s.reserve(size); err != nil {
		return err
	}
	buf := libc.GoBytes(s.buf, s.bufCap)
	off := 0
	for i := range args {
		a := &args[i]
		n := int32(i + 1)
		var rc int32
		switch a.Kind {
		case Null:
			rc = sqlite3.Xsqlite3_bind_null(c.tls, s.p, n)
		case Text:
			copy(buf[off:], a.S)
			// The pointer is never 0 (a NULL pointer would bind NULL,
			// not an empty string): reserve allocates at least a byte.
			rc = sqlite3.Xsqlite3_bind_text(c.tls, s.p, n, s.buf+uintptr(off), int32(len(a.S)), sqlite3.SQLITE_STATIC)
			off += len(a.S)
		case Int:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, s.p, n, a.I)
		case Float:
			rc = sqlite3.Xsqlite3_bind_double(c.tls, s.p, n, a.F)
		default:
			return fmt.Errorf("exec: argument %d: unknown kind %d", i+1, a.Kind)
		}
		if rc != sqlite3.SQLITE_OK {
			return c.errorf(rc, "exec: bind argument %d", i+1)
		}
	}
	rc := sqlite3.Xsqlite3_step(c.tls, s.p)
	// reset returns the step's error again: the step's code is the one
	// that says what happened.
	sqlite3.Xsqlite3_reset(c.tls, s.p)
	if rc != sqlite3.SQLITE_DONE && rc != sqlite3.SQLITE_ROW {
		return c.errorf(rc, "exec")
	}
	return nil
}

// reserve makes the text buffer hold at least n bytes (and at least one).
func (s *Stmt) reserve(n int) error {
	if n > math.MaxInt32 {
		return errors.New("exec: arguments too long")
	}
	if s.buf != 0 && n <= s.bufCap {
		return nil
	}
	grow := max(n, 2*s.bufCap, 64<<10)
	p := libc.Xmalloc(s.c.tls, libc.Tsize_t(grow))
	if p == 0 {
		return fmt.Errorf("exec: out of memory for %d bytes of text", grow)
	}
	if s.buf != 0 {
		// The statement may still point at the old buffer: unbind first.
		sqlite3.Xsqlite3_clear_bindings(s.c.tls, s.p)
		libc.Xfree(s.c.tls, s.buf)
	}
	s.buf, s.bufCap = p, grow
	return nil
}

// Close finalizes the statement and frees its buffer. Close statements
// before their connection.
func (s *Stmt) Close() error {
	if s.p == 0 {
		return nil
	}
	if s.c.tls == nil {
		return errors.New("close statement: its connection is closed")
	}
	sqlite3.Xsqlite3_finalize(s.c.tls, s.p)
	s.p = 0
	if s.buf != 0 {
		libc.Xfree(s.c.tls, s.buf)
		s.buf, s.bufCap = 0, 0
	}
	return nil
}

// newOutPointer allocates a zeroed pointer-sized C variable for an out
// parameter (sqlite3** and the like); 0 when out of memory. C memory, not
// Go memory: SQLite writes into it through a uintptr, which the Go
// runtime cannot see.
func newOutPointer(tls *libc.TLS) uintptr {
	p := libc.Xmalloc(tls, libc.Tsize_t(unsafe.Sizeof(uintptr(0))))
	if p != 0 {
		clear(libc.GoBytes(p, int(unsafe.Sizeof(uintptr(0)))))
	}
	return p
}

// readPointer reads the pointer SQLite stored in the out parameter p.
func readPointer(p uintptr) uintptr {
	b := libc.GoBytes(p, int(unsafe.Sizeof(uintptr(0))))
	return *(*uintptr)(unsafe.Pointer(&b[0]))
}

// errorf wraps SQLite's message for the connection's last error.
func (c *Conn) errorf(rc int32, format string, args ...any) error {
	msg := fmt.Sprintf("SQLite error %d", rc)
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)) + fmt.Sprintf(" (%d)", rc)
	}
	return fmt.Errorf(format+": %s", append(args, msg)...)
}
