package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connTx presents a pgx connection that is already inside a transaction
// (opened through database/sql) as a pgx.Tx. The outer transaction belongs
// to the caller: Commit and Rollback at depth 0 do nothing. Nested Begin
// calls become savepoints, as in pgx's own pseudo-nested transactions.
type connTx struct {
	conn  *pgx.Conn
	depth int
}

func (t *connTx) savepoint() string { return fmt.Sprintf("jobs_sp_%d", t.depth) }

func (t *connTx) Begin(ctx context.Context) (pgx.Tx, error) {
	nested := &connTx{conn: t.conn, depth: t.depth + 1}
	if _, err := t.conn.Exec(ctx, "SAVEPOINT "+nested.savepoint()); err != nil {
		return nil, err
	}
	return nested, nil
}

func (t *connTx) Commit(ctx context.Context) error {
	if t.depth == 0 {
		return nil
	}
	_, err := t.conn.Exec(ctx, "RELEASE SAVEPOINT "+t.savepoint())
	return err
}

func (t *connTx) Rollback(ctx context.Context) error {
	if t.depth == 0 {
		return nil
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+t.savepoint())
	return err
}

func (t *connTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return t.conn.CopyFrom(ctx, table, cols, src)
}

func (t *connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.conn.SendBatch(ctx, b)
}

func (t *connTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *connTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

func (t *connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.conn.Exec(ctx, sql, args...)
}

func (t *connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.conn.Query(ctx, sql, args...)
}

func (t *connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *connTx) Conn() *pgx.Conn { return t.conn }
