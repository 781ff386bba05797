package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// errPostgresBackup answers backup and restore on PostgreSQL, whose
// backups are the engine's.
var errPostgresBackup = errors.New("backup and restore are for the embedded SQLite database; on PostgreSQL use the engine's backups (Aurora/RDS point-in-time recovery, or pg_dump and pg_restore): see docs/architecture.md (Deployment files)")

// cmdBackup writes a consistent copy of the SQLite database to a new
// file, while serve and worker may keep running: SQLite's VACUUM INTO
// reads one snapshot (a read transaction, which in WAL mode waits for no
// writer and holds none up) and writes it compacted. The copy is checked
// (integrity, audit chain) before it takes its name, and is never written
// over an existing file.
func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newFlags("backup", "backup --out FILE", stderr)
	out := flags.String("out", "", "the backup file to write (must not exist)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required: the file to write the backup to")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("--out %s exists: a backup never replaces a file (choose a new name)", *out)
	}
	// Said of the directory given, not of the partial file the backup
	// would have written in it.
	if fi, err := os.Stat(filepath.Dir(*out)); err != nil {
		return fmt.Errorf("--out %s: the directory %s does not exist (create it first)", *out, filepath.Dir(*out))
	} else if !fi.IsDir() {
		return fmt.Errorf("--out %s: %s is not a directory", *out, filepath.Dir(*out))
	}
	// Refused before the database is opened: on PostgreSQL, a server
	// that is not migrated (or not reachable) was told to migrate first.
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	if db.SQLitePath(s.DatabaseURL) == "" {
		return errPostgresBackup
	}
	d, err := openForBackup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	// Refused before the copy, naming the database (QA: it copied the
	// whole file, then named the hidden partial one).
	if newer, err := migrate.Newer(ctx, d.db, migrationSets...); err != nil {
		return err
	} else if newer {
		return fmt.Errorf("the database %s was migrated by a newer version of adherence: back it up with that version", d.db.File)
	}
	dir := filepath.Dir(*out)
	tmp := filepath.Join(dir, "."+filepath.Base(*out)+".partial")
	_ = os.Remove(tmp) // a partial file of an interrupted backup of the same name
	defer os.Remove(tmp)
	// The copy holds PHI: readable by the owner only. VACUUM INTO writes
	// into an empty file, created here with that mode.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("back up to %s: %w", *out, err)
	}
	f.Close()
	start := time.Now()
	if _, err := d.db.SQL.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("back up %s: %w", d.db.File, err)
	}
	sum, records, err := checkBackup(ctx, tmp)
	if err != nil {
		return fmt.Errorf("the backup written to %s does not check: %w", tmp, err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	// A link, not a rename: it fails when --out appeared meanwhile.
	if err := os.Link(tmp, *out); err != nil {
		return fmt.Errorf("name the backup %s: %w", *out, err)
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s written to %s in %s: %d bytes, sha256 %s, audit chain intact (%d records)\n",
		d.db.File, *out, time.Since(start).Round(time.Millisecond), fi.Size(), sum, records)
	fmt.Fprintln(stdout, "(audit checkpoints in BLOB_URL are not part of it: they stay where they are)")
	return nil
}

// cmdRestore replaces the SQLite database with a backup, after checking
// the backup (a SQLite file of this product, not written by a newer
// version, intact, its audit chain whole). serve and worker must be
// stopped: a database with a write-ahead log beside it is refused. The
// database replaced is kept beside it, renamed, so nothing is lost.
func cmdRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newFlags("restore", "restore --from FILE", stderr)
	from := flags.String("from", "", "the backup file to restore (written by adherence backup)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("--from is required: the backup file to restore")
	}
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	target := db.SQLitePath(s.DatabaseURL)
	if target == "" {
		return errPostgresBackup
	}
	target = sqliteFile(target)
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(target + side); err == nil {
			return fmt.Errorf("%s%s exists: a process has the database open, or did not close it (stop serve and worker first; if none runs, 'adherence migrate' opens and closes it cleanly)", target, side)
		}
	}
	if err := checkTarget(ctx, target); err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(target)+".restoring")
	_ = os.Remove(tmp)
	defer os.Remove(tmp)
	if err := copyFile(*from, tmp); err != nil {
		return fmt.Errorf("restore: copy %s: %w", *from, err)
	}
	sum, records, err := checkBackup(ctx, tmp)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", *from, err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	kept := ""
	if _, err := os.Stat(target); err == nil {
		if kept, err = keepCopy(target, time.Now()); err != nil {
			return fmt.Errorf("restore: keep the current database: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("restore: %w (the database replaced is at %s)", err, kept)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s (sha256 %s, audit chain intact, %d records) to %s\n", *from, sum, records, target)
	if kept != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept at %s\n", kept)
	}
	fmt.Fprintln(stdout, "run 'adherence audit verify' to check the restored chain against the audit checkpoints, then start serve;")
	fmt.Fprintln(stdout, "checkpoints taken after this backup vouch for records it does not hold, so verify reports the chain truncated:")
	fmt.Fprintln(stdout, "once you have checked this is the restore you meant, record it with 'adherence audit restored --reason TEXT'")
	return nil
}

// checkTarget refuses to replace a database that is not adherence's: a
// DATABASE_URL naming medsales's file (both default under ./data) was
// replaced, the medsales database then only kept beside it. A file that
// is missing, empty, not SQLite or damaged past reading is replaced: a
// restore is how a damaged database is put right.
func checkTarget(ctx context.Context, target string) error {
	header := make([]byte, 16)
	f, err := os.Open(target)
	if err != nil {
		return nil // missing (created by the restore) or unreadable (the rename says so)
	}
	_, err = io.ReadFull(f, header)
	f.Close()
	if err != nil || string(header) != "SQLite format 3\x00" {
		return nil
	}
	// immutable: read without locks or a -wal of its own (none exists: the
	// caller checked), so the file is left exactly as it is.
	d, err := sql.Open("sqlite", "file:"+target+"?mode=ro&immutable=1")
	if err != nil {
		return nil
	}
	defer d.Close()
	rows, err := d.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`)
	if err != nil {
		return nil // damaged
	}
	defer rows.Close()
	var tables []string
	adherence := false
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil
		}
		switch name {
		case "audit_head", "patients", "plans":
			adherence = true
		}
		tables = append(tables, name)
	}
	if rows.Err() != nil || adherence || len(tables) == 0 {
		return nil
	}
	shown := tables
	if len(shown) > 5 {
		shown = append(shown[:5:5], "…")
	}
	return fmt.Errorf("restore: DATABASE_URL names %s, which is not an adherence database (it holds the tables %s, and no patients, plans or audit_head): nothing was replaced; set DATABASE_URL to the adherence database, or move that file away first", target, strings.Join(shown, ", "))
}

// keepCopy links the database at target to a new name,
// target.before-restore-<UTC time>, or -2, -3… after it when that name is
// taken, and returns it: a link never replaces a file, so two restores in
// the same second keep both databases they replaced (the second rename
// overwrote the first's copy, and the database live before both was
// lost). The rename of the restored file over target then replaces the
// live name at once, never leaving it missing.
func keepCopy(target string, now time.Time) (string, error) {
	base := fmt.Sprintf("%s.before-restore-%s", target, now.UTC().Format("20060102T150405Z"))
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(target, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s-2 to -100 are all taken", base)
}

// checkBackup opens the SQLite file at path and checks that it is a
// database of this product that this version can serve, whole (PRAGMA
// integrity_check) and with its audit chain intact; it returns the file's
// sha256 and the number of audit records. It closes the file cleanly, so
// no write-ahead log is left beside it.
func checkBackup(ctx context.Context, path string) (sum string, records int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	header := make([]byte, 16)
	_, err = io.ReadFull(f, header)
	f.Close()
	if err != nil || string(header) != "SQLite format 3\x00" {
		return "", 0, errors.New("not a SQLite database file")
	}
	d, err := db.Open(ctx, db.SQLiteURL(path), db.Options{})
	if err != nil {
		// The path may be a copy (restore): the error names the file the
		// caller gave, not the copy, and says what it usually means.
		return "", 0, fmt.Errorf("cannot be opened as a database (damaged or truncated: make the backup again): %s", strings.TrimPrefix(err.Error(), "open database "+path+": "))
	}
	defer d.Close()
	var check string
	if err := d.SQL.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil {
		return "", 0, fmt.Errorf("integrity check failed (damaged or truncated: make the backup again): %w", err)
	}
	if check != "ok" {
		return "", 0, fmt.Errorf("integrity check failed (damaged: make the backup again): %s", check)
	}
	var n int
	if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('audit_head', 'patients', 'plans')`).Scan(&n); err != nil || n != 3 {
		return "", 0, errors.New("not an adherence database (no audit_head, patients and plans tables)")
	}
	newer, err := migrate.Newer(ctx, d, migrationSets...)
	if err != nil {
		return "", 0, err
	}
	if newer {
		return "", 0, errors.New("written by a newer version of adherence (its schema has migrations this binary does not know): restore it with that version")
	}
	res, err := audit.New(d, nil, nil).Verify(ctx)
	if err != nil {
		return "", 0, err
	}
	if !res.OK {
		return "", 0, fmt.Errorf("audit chain broken: %s", res.Problem)
	}
	if err := d.Close(); err != nil {
		return "", 0, err
	}
	sum, err = fileSHA256(path)
	return sum, res.Checked, err
}

// sqliteFile is the file name a SQLite URL path stands for.
func sqliteFile(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
