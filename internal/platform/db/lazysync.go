package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Deferred durability for group commit.
//
// A transaction run by InPipelineTxNoSync commits without waiting for its
// commit to reach disk: on PostgreSQL with synchronous_commit off for that
// transaction, on SQLite with synchronous=NORMAL for it (WAL frames are
// written, not fsynced). It is visible to others at once, like any commit,
// but a crash of the machine (PostgreSQL: of the server) may lose it.
// Sync makes every transaction committed before it was called durable.
// A caller that answers for such a transaction must call Sync after the
// commit and answer only once Sync returned without error: the guarantee
// is then the one a synchronous commit gives, and one flush is shared by
// every transaction committed meanwhile, while the next ones already run.
// This is what lets the adherence event ingester start its next group
// while the previous one's flush is under way, instead of holding the one
// SQLite writer (or the PostgreSQL audit chain head) through each fsync.

// InPipelineTxNoSync is InPipelineTx for a transaction whose commit does not
// wait for the disk; see Sync.
func (d *DB) InPipelineTxNoSync(ctx context.Context, fn func(tx *Tx) error) error {
	if d.Dialect == Postgres {
		return d.inPipelineTx(ctx, fn, true)
	}
	return d.inSQLiteTxNoSync(ctx, fn)
}

// inSQLiteTxNoSync runs fn in a transaction on the writer connection with
// synchronous=NORMAL, and puts synchronous=FULL back before the connection
// serves anything else. A connection that cannot be put back is discarded,
// so that no later transaction commits without a sync by mistake.
func (d *DB) inSQLiteTxNoSync(ctx context.Context, fn func(tx *Tx) error) (err error) {
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := conn.ExecContext(rctx, "PRAGMA synchronous = FULL"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // discard it
			if err == nil {
				err = fmt.Errorf("restore synchronous=FULL: %w", rerr)
			}
		}
	}()
	missed, err := d.inTxOn(ctx, conn, fn)
	if len(missed) > 0 {
		d.stmts.prepareMissed(ctx, missed)
	}
	return err
}

// Sync makes every transaction committed before the call durable (see
// InPipelineTxNoSync). On PostgreSQL it commits, with synchronous_commit
// on, a transaction that wrote to the WAL (a transactional logical
// message, which no table keeps; a transaction that only took an id would
// commit without a flush): that commit waits until the WAL is flushed, and
// sent to a synchronous standby where one is configured, up to its own
// commit record, which comes after every commit that returned before it.
// On SQLite it fsyncs the WAL file.
func (d *DB) Sync(ctx context.Context) error {
	if d.Dialect == Postgres {
		if _, err := d.SQL.ExecContext(ctx, "SELECT pg_logical_emit_message(true, 'medplatform.sync', '')"); err != nil {
			return fmt.Errorf("sync commits: %w", err)
		}
		return nil
	}
	if d.wal == nil {
		return errors.New("sync commits: the database was not opened by db.Open")
	}
	return d.wal.sync(d.Path + "-wal")
}

// walSyncer fsyncs a SQLite WAL file through a descriptor of its own (an
// fsync flushes the file, whichever descriptor wrote it).
type walSyncer struct {
	mu sync.Mutex
	f  *os.File
}

func (w *walSyncer) sync(path string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The WAL is removed when the last connection to the database closes
	// and created again by the next: fsyncing a removed file would sync
	// nothing, so the descriptor is checked against the path each time.
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sync commits: %w", err)
	}
	if w.f != nil {
		if fst, err := w.f.Stat(); err != nil || !os.SameFile(st, fst) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		// Read-only is enough to fsync, and cannot write to the WAL by
		// mistake.
		if w.f, err = os.Open(path); err != nil {
			return fmt.Errorf("sync commits: %w", err)
		}
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync commits: fsync %s: %w", path, err)
	}
	return nil
}

func (w *walSyncer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}
