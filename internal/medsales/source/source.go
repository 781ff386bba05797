// Package source opens the public provider dataset files that the medsales
// loaders read, wherever they are: a local path, an s3://bucket/key object or
// an http(s):// URL, plain or inside a .zip archive.
//
// Archives are read in place, never unpacked to disk: a local zip through its
// *os.File, a remote zip through HTTP Range requests or ranged S3 GetObject
// calls that stream the member in growing windows, so memory stays constant
// however large the member is. Plain remote files are streamed as they
// arrive. Every byte handed to the caller also feeds a SHA-256, so a loader
// can record exactly which bytes it loaded; before any byte is read, the
// File's Stamp identifies the version of the source (a local file's path,
// size and time, an object's ETag and size), so that a load of a source
// that has not changed can be skipped.
//
// The package also recognises dataset files by name (ReleaseDate,
// IsWeekly), using the publishers' naming conventions; the data year is
// read by the dataset parsers, which check it against the rows.
package source

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/medplatform/medplatform/internal/medsales"
)

// Options tell Open how to reach a source and which member of an archive to
// read. The zero value is ready to use.
type Options struct {
	// Member names the zip member to read, by its full name inside the
	// archive or by its base name. Empty means: pick by Dataset, else the
	// largest .csv or .txt member.
	Member string
	// Dataset, when set, picks the zip member named like that dataset's
	// file (see DatasetOf): npidata_pfile_*.csv for nppes, but not its
	// *_fileheader.csv nor pl_pfile_*.csv, MUP_DPR_*_NPIBN.csv for partd,
	// and so on. When several members match, the largest is read, unless
	// their names carry different release dates (see ReleaseDate): Open
	// then fails naming them, since which release to load is the
	// operator's choice. When
	// none does, a lone member with the extension of the dataset's files
	// (.csv; .txt for the gazetteer) is read unless it is named like
	// another dataset's file; otherwise Open fails listing the members.
	// The macOS metadata of an archive made on a Mac (__MACOSX/._name.csv)
	// never counts.
	Dataset medsales.Dataset
	// YearOf, when set, returns the data (program) year a file name of
	// Dataset carries. Members named like Dataset's file whose names carry
	// different years (a bundle of DY22 and DY23) are then ambiguous:
	// Open fails naming them, since loading the largest would pick a
	// year silently, unless Year picks one.
	YearOf func(name string) (year int, ok bool)
	// Year, when not 0 and YearOf is set, leaves out the members named
	// like Dataset's file whose names carry another year (the year the
	// operator gave, --data-year or dataYear), when any member is left.
	Year int
	// HTTPClient fetches http(s) sources. Nil means a client with
	// connection, TLS and response-header timeouts but no overall timeout,
	// since bodies may take an hour to stream. Its redirect policy is
	// kept, after the checks below.
	HTTPClient *http.Client
	// CheckRedirect, when set, is asked about every redirect the server
	// of an http(s) source answers with, given its target; an error
	// refuses the redirect, and the source fails with an error naming
	// the source and the target's scheme and host, then err. Whatever it
	// says, a redirect from https to plain http is refused.
	CheckRedirect func(target *url.URL) error
	// S3 fetches s3:// sources. Nil means a client built by blob.NewS3Client
	// with S3Endpoint.
	S3 S3Getter
	// S3Endpoint overrides the S3 endpoint for an S3-compatible service
	// when S3 is nil; AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL are honoured
	// too. Any override switches to path-style addressing.
	S3Endpoint string
	// Logger receives the AWS SDK's own messages when S3 is nil; nil
	// discards them.
	Logger *slog.Logger
	// SkipArchive, when set, is asked about a remote zip archive that
	// cannot be read in place (its server ignores Range requests; an S3
	// object of unknown size) before it is downloaded whole to pick its
	// member, given its stamp without the member's name (File.Stamp
	// before " member="). When it returns true, Open downloads nothing
	// more and fails with ErrSkipped: a conditional load of an archive
	// that has not changed then costs one response's headers, not the
	// archive. It is not asked when the archive has no stamp.
	SkipArchive func(archiveStamp string) (bool, error)
}

// File is an opened source: the CSV (or tab-separated text) stream to load.
//
// Reading it also computes a SHA-256 of the source bytes (SHA256): of the
// whole file or object for a plain source, of the member's uncompressed
// bytes for an archive. The source is read, decompressed and hashed on a
// goroutine of its own, up to 1 MiB ahead of Read (readAhead). Read errors
// name the source. For an archive member, reaching
// io.EOF means archive/zip verified the member's CRC-32; a mismatch or a
// truncated member is returned as an error, never as a silent short read.
type File struct {
	// Name is the base name of the CSV: the member's base name when read
	// from a zip. Loaders recognise dataset, mode, release date and data
	// year from it.
	Name string
	// Archive is the zip's base name when the CSV was read from a zip,
	// else "".
	Archive string
	// Size is the uncompressed size in bytes when known, else -1.
	Size int64
	// Stamp identifies the version of the source without its bytes
	// being read, so that a load can be skipped when the version loaded
	// before is still the one there: for a local file its absolute path,
	// size and modification time (ns); for an S3 object its URL, ETag and
	// size; for an http(s) URL its scheme, host and path, its ETag (or
	// Last-Modified when it has no strong ETag) and size; for a zip
	// archive's member, the member's name too. It comes from the stat or
	// the first response Open makes anyway. "" when the source tells
	// nothing that identifies its version: NoStamp then says why.
	Stamp string
	// NoStamp says, when Stamp is "", why the source has none.
	NoStamp string
	// Reader yields the bytes.
	io.Reader

	hash    hash.Hash
	ahead   *readAhead
	closers []func() error
	closed  bool
	member  string // the zip member's full name, or ""
}

// stamp sets f's Stamp to version, which identifies the version of the
// archive or plain file, followed by the member's name when f is a zip
// archive's member; with version "" it sets NoStamp to why instead.
func (f *File) stamp(version, why string) {
	if version == "" {
		f.Stamp, f.NoStamp = "", why
		return
	}
	f.Stamp = version
	if f.member != "" {
		f.Stamp += " member=" + strconv.Quote(f.member)
	}
}

// closeGrace is how long Close waits for a read of the read-ahead goroutine
// to return before it closes the source under it. A read of a local file or
// of a zip member (always read from a local file) takes milliseconds.
const closeGrace = time.Second

// SHA256 returns the lower-case hex SHA-256 of the whole source once Read
// has returned io.EOF, and "" before: the source is read ahead of Read, so
// the digest of the bytes returned so far is not known.
func (f *File) SHA256() string {
	if !f.ahead.ended() {
		return ""
	}
	return hex.EncodeToString(f.hash.Sum(nil))
}

// Close releases the file, connections and any temporary file. It is safe to
// call more than once.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	// The read-ahead goroutine is told to stop first, and given the time
	// to finish the read it is in: a zip member's reader must not be
	// closed while it reads (its state is not safe for concurrent use). A
	// read that blocks (a stalled pipe or server) is ended by closing the
	// source once the grace has passed. Close returns once the goroutine
	// has stopped.
	f.ahead.halt()
	f.ahead.wait(closeGrace)
	var errs []error
	for i := len(f.closers) - 1; i >= 0; i-- {
		if err := f.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	f.ahead.wait(0)
	return errors.Join(errs...)
}

// closeLast registers fn to run after the closers registered so far.
func (f *File) closeLast(fn func() error) {
	f.closers = append([]func() error{fn}, f.closers...)
}

// Open opens src and returns the CSV stream to load. src is a local path, an
// s3://bucket/key URL or an http:// or https:// URL (schemes in any case);
// any other scheme:// is refused, never read as a local path. A zip
// archive, recognised by its leading bytes or its .zip extension, is read
// in place and the member chosen by opts is returned.
//
// ctx governs the whole life of the File, not only Open: cancelling it
// aborts later reads of a remote source or of a local pipe, and an open of
// a named pipe that waits for a writer.
func Open(ctx context.Context, src string, opts Options) (*File, error) {
	if err := checkControl(src); err != nil {
		return nil, err
	}
	switch {
	case hasPrefixFold(src, "s3://"):
		return openS3(ctx, src, opts)
	case hasPrefixFold(src, "https://"), hasPrefixFold(src, "http://"):
		return openHTTP(ctx, src, opts)
	case src == "":
		return nil, badInput(errors.New("source: empty source"))
	case urlScheme(src) != "":
		return nil, unsupportedScheme(src)
	default:
		return openLocal(ctx, src, opts)
	}
}

// checkControl refuses a source holding a control character, C0 (U+0000–
// U+001F), DEL or C1 (U+0080–U+009F, such as NEL and the 8-bit CSI that
// starts a terminal escape sequence): no file name or URL we read has one,
// the source is written to the jobs table, the history and the logs, and a
// NUL would otherwise fail deep in a system call as "invalid argument".
func checkControl(src string) error {
	if i := strings.IndexFunc(src, unicode.IsControl); i >= 0 {
		return badInput(fmt.Errorf("source: contains a control character (at byte %d)", i+1))
	}
	return nil
}

// CheckForm reports, without opening anything, whether src has a form
// Open reads: an s3:// URL naming a bucket and a key, an http(s):// URL
// naming a host, or a local path (any other scheme:// is refused). Its
// errors are Open's for the same source.
func CheckForm(src string) error {
	if err := checkControl(src); err != nil {
		return err
	}
	switch {
	case hasPrefixFold(src, "s3://"):
		_, _, err := splitS3(src)
		return err
	case hasPrefixFold(src, "https://"), hasPrefixFold(src, "http://"):
		_, err := parseHTTP(src)
		return err
	case src == "":
		return badInput(errors.New("source: empty source"))
	case urlScheme(src) != "":
		return unsupportedScheme(src)
	}
	return nil
}

// CheckPrefix reports whether sources starting with prefix (one of
// INGEST_ALLOWED_SOURCES) can be read at all: a prefix of a scheme Open
// does not read (ftp://) would allow only sources every load refuses.
func CheckPrefix(prefix string) error {
	if scheme := urlScheme(prefix); scheme != "" && !hasPrefixFold(prefix, "s3://") &&
		!hasPrefixFold(prefix, "https://") && !hasPrefixFold(prefix, "http://") {
		return fmt.Errorf("prefix %s allows no source: unsupported scheme %q: a source is %s", prefix, scheme, supportedForms)
	}
	return nil
}

// IsLocal reports whether Open reads src as a local path: src has a form
// Open reads (CheckForm) and is neither an s3:// nor an http(s):// URL.
func IsLocal(src string) bool {
	return CheckForm(src) == nil && !hasPrefixFold(src, "s3://") &&
		!hasPrefixFold(src, "https://") && !hasPrefixFold(src, "http://")
}

// NameOf returns the name Open gives the file src names (the last element
// of its path or key), without opening anything; "" when src has no form
// Open reads. For a zip archive it is the archive's name: the member read
// is known only once the archive is open.
func NameOf(src string) string {
	switch {
	case CheckForm(src) != nil:
		return ""
	case hasPrefixFold(src, "s3://"):
		_, key, _ := splitS3(src)
		return path.Base(key)
	case hasPrefixFold(src, "https://"), hasPrefixFold(src, "http://"):
		u, _ := parseHTTP(src)
		name, _ := url.PathUnescape(path.Base(u.Path))
		if name == "" || name == "/" || name == "." {
			return ""
		}
		return name
	}
	return filepath.Base(src)
}

// supportedForms lists, for error messages, the sources Open reads.
const supportedForms = "a local path, s3://bucket/key, or an https:// or http:// URL"

// reScheme matches the scheme of a URL (RFC 3986: a letter, then letters,
// digits, "+", "-" or "."), followed by "://". One letter is not enough:
// "C://…" is a Windows drive path.
var reScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+)://`)

// urlScheme returns the scheme of src when src is written scheme://…, else
// "".
func urlScheme(src string) string {
	if m := reScheme.FindStringSubmatch(src); m != nil {
		return m[1]
	}
	return ""
}

// unsupportedScheme is the error for a URL whose scheme Open does not
// read (ftp://, gs://, file://…): reading it as a local path would fail
// with a misleading "no such file". The source is named without user info
// or query, which may hold credentials.
func unsupportedScheme(src string) error {
	scheme := urlScheme(src)
	display := scheme + "://…"
	if u, err := url.Parse(src); err == nil {
		display = redactURL(u)
	}
	return badInput(fmt.Errorf("source %s: unsupported scheme %q: a source is %s", display, scheme, supportedForms))
}

func openLocal(ctx context.Context, src string, opts Options) (*File, error) {
	f, err := openWait(ctx, src)
	if err != nil {
		err = fmt.Errorf("source: %w", err)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			err = badInput(err)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("source: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, badInput(fmt.Errorf("source %s: is a directory", src))
	}
	if !st.Mode().IsRegular() {
		return openStream(ctx, f, src)
	}
	var head [4]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("source: %w", err)
	}
	name := filepath.Base(src)
	version, why := localStamp(src, st)
	if isZip(head[:n], name) {
		zf, err := openZip(f, st.Size(), src, name, opts)
		if err != nil {
			f.Close()
			return nil, err
		}
		zf.closeLast(f.Close)
		zf.stamp(version, why)
		return zf, nil
	}
	lf := newFile(name, "", st.Size(), f, src, f.Close)
	lf.stamp(version, why)
	return lf, nil
}

// localStamp returns what identifies the version of the regular file src,
// whose stat is st: its absolute path, size and modification time in
// nanoseconds. A rewrite, a touch or an appended line changes it. It
// returns "" and why when the path cannot be made absolute.
func localStamp(src string, st fs.FileInfo) (version, why string) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", "the absolute path of the file is unknown: " + err.Error()
	}
	return fmt.Sprintf("file:%s size=%d mtime=%d", abs, st.Size(), st.ModTime().UnixNano()), ""
}

// openStream opens a local path that is not a regular file: a named pipe,
// /dev/stdin, a shell's <(…). It can be read only once, from the start,
// and has no size: its first bytes are peeked (ReadAt fails on a pipe),
// and a zip archive, whose directory is at its end, is refused.
//
// A pipe may stay silent for ever: when ctx ends, the read waiting for it
// (and every later one) fails at once, through a read deadline, so that a
// cancelled load stops instead of waiting for the writer.
func openStream(ctx context.Context, f *os.File, src string) (*File, error) {
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	closeFile := func() error {
		stop()
		return f.Close()
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		closeFile()
		return nil, fmt.Errorf("source: %w", err)
	}
	name := filepath.Base(src)
	if isZip(head, name) {
		closeFile()
		return nil, badInput(fmt.Errorf("source %s: a zip archive cannot be read from a pipe (its directory is at its end): give the archive's path", src))
	}
	f2 := newFile(name, "", -1, br, src, closeFile)
	f2.stamp("", "a pipe (or other file that is not a regular file) has no size or modification time that tells its version")
	return f2, nil
}

// openWait opens the local file src for reading, giving up when ctx ends:
// opening a named pipe waits until a writer opens it, which may be never.
// The open is left running then; for a named pipe the wait is ended by
// opening the pipe for writing for a moment, and the file it yields is
// closed.
func openWait(ctx context.Context, src string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(src)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		return o.f, o.err
	case <-ctx.Done():
	}
	if st, err := os.Stat(src); err == nil && st.Mode()&fs.ModeNamedPipe != 0 {
		// Non-blocking: it fails at once rather than wait when the pipe
		// has no reader (the open above just got its writer).
		if w, err := os.OpenFile(src, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	go func() {
		if o := <-done; o.f != nil {
			o.f.Close()
		}
	}()
	return nil, ctx.Err()
}

// zipMagic are the signatures a zip can start with: a local file header, or
// the end-of-central-directory record of an empty archive.
var zipMagic = [][]byte{[]byte("PK\x03\x04"), []byte("PK\x05\x06")}

// isZip reports whether a source whose first bytes are head and whose base
// name is name is a zip archive. A .zip name counts even when the bytes do
// not, so that a truncated or mislabelled archive fails as a zip instead of
// being loaded as CSV.
func isZip(head []byte, name string) bool {
	for _, m := range zipMagic {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return strings.EqualFold(path.Ext(name), ".zip")
}

// openZip opens the member chosen by opts from the archive in r, whose total
// size is size. display names the source in errors; archive is its base name.
func openZip(r io.ReaderAt, size int64, display, archive string, opts Options) (*File, error) {
	zr, err := zip.NewReader(r, size)
	switch {
	case errors.Is(err, zip.ErrInsecurePath):
		// Insecure member paths are harmless here: nothing is written
		// to disk.
	case errors.Is(err, zip.ErrFormat):
		return nil, badInput(fmt.Errorf("source %s: %w (truncated, or not a zip archive)", display, err))
	case err != nil:
		return nil, namingSource(display, err)
	}
	m, err := pickMember(zr.File, opts)
	if err != nil {
		// No member to load, or a choice to make: the archive stays so.
		return nil, badInput(fmt.Errorf("source %s: %w", display, err))
	}
	if m.Flags&0x1 != 0 {
		// Bit 0 of the general-purpose flags: the member is encrypted
		// (APPNOTE 4.4.4). Go's zip reader cannot decrypt it and read the
		// ciphertext as deflate data, which failed as "corrupt input".
		return nil, badInput(fmt.Errorf("source %s: member %s is encrypted (password-protected): zip it again without a password", display, m.Name))
	}
	rc, err := m.Open()
	if err != nil {
		if errors.Is(err, zip.ErrAlgorithm) {
			return nil, badInput(fmt.Errorf("source %s: member %s: compression method %d (%s): %w",
				display, m.Name, m.Method, methodName(m.Method), err))
		}
		return nil, fmt.Errorf("member %s: %w", m.Name, namingSource(display, err))
	}
	size64 := int64(m.UncompressedSize64)
	if m.UncompressedSize64 > 1<<62 {
		size64 = -1
	}
	label := display + " member " + m.Name
	f := newFile(memberBase(m.Name), archive, size64, rc, label, rc.Close)
	f.member = m.Name
	return f, nil
}

func methodName(m uint16) string {
	switch m {
	case zip.Store:
		return "stored"
	case zip.Deflate:
		return "deflate"
	case 9:
		return "deflate64, not supported by archive/zip"
	case 12:
		return "bzip2"
	case 14:
		return "lzma"
	case 93:
		return "zstandard"
	default:
		return "unknown"
	}
}

// pickMember chooses the member to read: opts.Member by name, else the
// member named like opts.Dataset's file (see Options.Dataset; of one data
// year, see Options.YearOf), else the largest .csv or .txt member. Apart from a member named in full, macOS
// metadata (see isMacMetadata) is never chosen.
func pickMember(all []*zip.File, opts Options) (*zip.File, error) {
	if opts.Member != "" {
		for _, f := range all {
			if f.Name == opts.Member {
				return f, nil
			}
		}
	}
	var files []*zip.File
	for _, f := range all {
		if !isMacMetadata(f.Name) {
			files = append(files, f)
		}
	}
	var cands []*zip.File
	switch {
	case opts.Member != "":
		for _, f := range files {
			if !isDir(f) && memberBase(f.Name) == opts.Member {
				cands = append(cands, f)
			}
		}
		if len(cands) == 0 {
			return nil, fmt.Errorf("archive has no member %q; it contains %s", opts.Member, listMembers(files))
		}
	case opts.Dataset != "":
		df, ok := fileOf(opts.Dataset)
		if !ok {
			return nil, fmt.Errorf("unknown dataset %q: no file name to pick its member by", opts.Dataset)
		}
		for _, f := range files {
			if !isDir(f) && df.matches(memberBase(f.Name)) {
				cands = append(cands, f)
			}
		}
		if len(cands) == 0 {
			return loneMember(files, opts.Dataset, df)
		}
		if opts.YearOf != nil {
			var err error
			if cands, err = oneYear(cands, opts); err != nil {
				return nil, err
			}
		}
		if err := oneRelease(cands, opts.Dataset); err != nil {
			return nil, err
		}
	default:
		cands = dataMembers(files)
		if len(cands) == 0 {
			return nil, fmt.Errorf("archive has no .csv or .txt member; it contains %s", listMembers(files))
		}
	}
	// Among the candidates the largest wins, ties broken by name: a
	// dataset's file dwarfs anything else named like it (a readme, a
	// sample), and the choice does not depend on the archive's order.
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].UncompressedSize64 != cands[j].UncompressedSize64 {
			return cands[i].UncompressedSize64 > cands[j].UncompressedSize64
		}
		return cands[i].Name < cands[j].Name
	})
	return cands[0], nil
}

// oneYear returns the candidates of the data year to load: those whose
// name carries opts.Year (or no year), when opts.Year is set and some do.
// Candidates whose names carry different years are an error naming each
// year's largest member: which year to load is the operator's choice.
func oneYear(cands []*zip.File, opts Options) ([]*zip.File, error) {
	if opts.Year != 0 {
		var kept []*zip.File
		for _, f := range cands {
			if y, ok := opts.YearOf(memberBase(f.Name)); !ok || y == opts.Year {
				kept = append(kept, f)
			}
		}
		if len(kept) > 0 {
			cands = kept
		}
	}
	byYear := map[int]*zip.File{}
	var years []int
	for _, f := range cands {
		y, ok := opts.YearOf(memberBase(f.Name))
		if !ok {
			continue
		}
		if g, seen := byYear[y]; !seen {
			years = append(years, y)
			byYear[y] = f
		} else if f.UncompressedSize64 > g.UncompressedSize64 {
			byYear[y] = f
		}
	}
	if len(years) < 2 {
		return cands, nil
	}
	sort.Ints(years)
	names := make([]string, len(years))
	for i, y := range years {
		names[i] = fmt.Sprintf("%s (%d)", byYear[y].Name, y)
	}
	return nil, fmt.Errorf("archive holds %s files of %d data years, %s: which to load is ambiguous; give the year to load (--data-year, dataYear in POST /v1/ingestions, or year=YYYY in an INGEST_SCHEDULE entry)",
		opts.Dataset, len(years), strings.Join(names, " and "))
}

// oneRelease refuses candidates whose names carry different release dates
// (see ReleaseDate): two NPPES files of different months, an Open Payments
// file and its refresh. Loading the largest would load one of the two
// releases silently, perhaps the older over a newer one already loaded.
// Members without a date do not count.
func oneRelease(cands []*zip.File, d medsales.Dataset) error {
	var names []string
	seen := map[time.Time]bool{}
	for _, f := range cands {
		t, ok := ReleaseDate(memberBase(f.Name))
		if !ok || seen[t] {
			continue
		}
		seen[t] = true
		names = append(names, fmt.Sprintf("%s (%s)", f.Name, t.Format(time.DateOnly)))
	}
	if len(names) < 2 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("archive holds %s files of %d releases, %s: which to load is ambiguous; load the one you mean on its own (the file itself, or an archive holding only it)",
		d, len(names), strings.Join(names, " and "))
}

// loneMember picks the member of an archive none of whose members is named
// like dataset d's file (df): its only member with the extension of d's
// files (.csv; .txt for the gazetteer), which someone may have renamed,
// unless that is named like another dataset's file (a pl_pfile would be
// loaded as the main NPPES file). Header-only copies ("fileheader") do not
// count: loading one would replace a table with no rows. Anything else is
// an error listing the members, since guessing would load the wrong file
// (a readme.txt as the NPPES file).
func loneMember(files []*zip.File, d medsales.Dataset, df datasetFile) (*zip.File, error) {
	ext := strings.ToLower(path.Ext(df.like))
	var data []*zip.File
	headerCopies := 0
	for _, f := range files {
		base := memberBase(f.Name)
		switch {
		case isDir(f) || strings.ToLower(path.Ext(base)) != ext:
		case isHeaderCopy(base):
			headerCopies++
		default:
			data = append(data, f)
		}
	}
	if len(data) == 1 {
		if _, other := DatasetOf(data[0].Name); !other {
			return data[0], nil
		}
	}
	want := fmt.Sprintf("archive has no member named like the %s file (%s)", d, df.like)
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("%s, nor any other %s member to load; it contains %s", want, ext, listMembers(files))
	case len(data) == 1:
		other, _ := DatasetOf(data[0].Name)
		return nil, fmt.Errorf("%s, and its only %s member is named like the %s file; it contains %s",
			want, ext, other, listMembers(files))
	}
	others := fmt.Sprintf("%d other %s members", len(data), ext)
	switch headerCopies {
	case 0:
	case 1:
		others += " (and a header-only copy, which is not loaded)"
	default:
		others += fmt.Sprintf(" (and %d header-only copies, which are not loaded)", headerCopies)
	}
	return nil, fmt.Errorf("%s, and %s, so which to load is unclear; it contains %s",
		want, others, listMembers(files))
}

// dataMembers returns the .csv and .txt members of an archive.
func dataMembers(files []*zip.File) []*zip.File {
	var out []*zip.File
	for _, f := range files {
		ext := strings.ToLower(path.Ext(memberBase(f.Name)))
		if !isDir(f) && (ext == ".csv" || ext == ".txt") {
			out = append(out, f)
		}
	}
	return out
}

// isMacMetadata reports whether a zip member's name is one of the
// AppleDouble files (resource fork, extended attributes) that archives made
// on macOS carry for each file: ._<name>, under __MACOSX/. One is named
// like the file it describes, with its extension, often larger than a
// small CSV, and is never data: counted as a candidate it was loaded, or
// made an archive hold "several" CSVs.
func isMacMetadata(name string) bool {
	if strings.HasPrefix(memberBase(name), "._") {
		return true
	}
	for _, dir := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if dir == "__MACOSX" {
			return true
		}
	}
	return false
}

func isDir(f *zip.File) bool {
	return strings.HasSuffix(f.Name, "/") || f.FileInfo().IsDir()
}

// memberBase returns the base name of a zip member, whose directories may be
// separated by slashes or, from some Windows tools, backslashes.
func memberBase(name string) string {
	name = strings.TrimRight(name, "/\\")
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// listMembers describes the members of an archive for an error message.
func listMembers(files []*zip.File) string {
	const max = 20
	var names []string
	for _, f := range files {
		if !isDir(f) {
			names = append(names, fmt.Sprintf("%s (%d bytes)", f.Name, f.UncompressedSize64))
		}
	}
	if len(names) == 0 {
		return "no files"
	}
	more := ""
	if len(names) > max {
		more = fmt.Sprintf(" and %d more", len(names)-max)
		names = names[:max]
	}
	return strings.Join(names, ", ") + more
}

// newFile returns a File reading r; label names the source in read errors.
func newFile(name, archive string, size int64, r io.Reader, label string, closers ...func() error) *File {
	h := sha256.New()
	ra := newReadAhead(r, h)
	return &File{
		Name:    name,
		Archive: archive,
		Size:    size,
		Reader:  &labelReader{r: ra, label: label, member: archive != ""},
		hash:    h,
		ahead:   ra,
		closers: closers,
	}
}

// ErrDamaged is wrapped by the read errors of a zip member whose bytes
// are corrupt. What was read of it before the error may be garbage too: a
// stored member's flipped bytes are only caught by its checksum, at its
// end, after the rows they spoiled were parsed.
var ErrDamaged = errors.New("the archive is damaged")

// labelReader names the source in read errors.
type labelReader struct {
	r      io.Reader
	label  string
	member bool // r is a zip member
}

func (hr *labelReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if err != nil && err != io.EOF {
		// A member's compressed data that ends before its declared size
		// is corrupt too: the archive's directory, at its end, was read.
		if damaged(err) || (hr.member && errors.Is(err, io.ErrUnexpectedEOF)) {
			// archive/zip says "not a valid zip file" of a member whose
			// compressed data is corrupt, read as if the file were no
			// archive at all (QA).
			err = fmt.Errorf("%w: its member's compressed data or checksum is wrong (%w): download it again", ErrDamaged, err)
		}
		if strings.Contains(err.Error(), hr.label) {
			err = fmt.Errorf("read: %w", err)
		} else {
			err = fmt.Errorf("read %s: %w", hr.label, err)
		}
	}
	return n, err
}

// damaged reports an error of reading a zip member whose bytes are corrupt.
func damaged(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrChecksum) || errors.As(err, &corrupt)
}

// namingSource returns err prefixed with the source, unless it names it
// already.
func namingSource(display string, err error) error {
	if strings.HasPrefix(err.Error(), "source "+display+":") {
		return err
	}
	return fmt.Errorf("source %s: %w", display, err)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
