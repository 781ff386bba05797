package db

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements of the SQLite writer connection for
// ExecAll, keyed by their text, least recently used out first.
//
// Why: database/sql with the SQLite driver prepares (parses and compiles)
// a statement on every ExecContext/QueryContext that is not a prepared
// *sql.Stmt, and the SQLite writer is the one connection every write waits
// for. On the adherence event path (a few small statements per group
// commit) parsing took a fifth of that connection's time.
//
// A *sql.Stmt of the DB cannot be prepared inside a transaction (it needs
// a free connection, and the writer's only one is the transaction's), so
// a statement is prepared here after the transaction that first ran it
// has ended (remember, then prepareMissed); inside later transactions
// Tx.StmtContext reuses it on the writer connection without parsing.
// Only short statements are kept, and only once they have run unprepared
// twice: long ones and most one-offs are multi-row statements whose text
// depends on their row count (a batch of events), rarely repeated, whose
// parse is small beside their work; preparing them would only delay the
// writer and evict the statements that do repeat.
type stmtCache struct {
	db  *sql.DB
	max int

	mu    sync.Mutex
	items map[string]*list.Element // value: *cachedStmt
	order *list.List               // front: most recently used
	once  map[string]bool          // statements run unprepared once
}

type cachedStmt struct {
	query string
	stmt  *sql.Stmt
}

// stmtCacheSize bounds the statements kept; stmtCacheMaxLen the length of
// a statement's text worth keeping.
const (
	stmtCacheSize   = 256
	stmtCacheMaxLen = 4096
)

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, max: stmtCacheSize, items: map[string]*list.Element{}, order: list.New(), once: map[string]bool{}}
}

// get returns the prepared statement of query, or nil.
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[query]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedStmt).stmt
}

// cacheable reports whether query is worth preparing for later.
func cacheable(query string) bool { return len(query) <= stmtCacheMaxLen }

// prepareMissed prepares, outside any transaction, the queries that are
// not cached yet and ran unprepared before. A failure only means the
// query is parsed again next time.
func (c *stmtCache) prepareMissed(ctx context.Context, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		_, ok := c.items[q]
		again := c.once[q]
		if !ok && !again {
			if len(c.once) >= 4*c.max {
				clear(c.once) // bounded: forget the one-offs
			}
			c.once[q] = true
		}
		c.mu.Unlock()
		if ok || !again {
			continue
		}
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, ok := c.items[q]; ok {
			c.mu.Unlock()
			_ = st.Close()
			continue
		}
		delete(c.once, q)
		c.items[q] = c.order.PushFront(&cachedStmt{query: q, stmt: st})
		var evicted *sql.Stmt
		if c.order.Len() > c.max {
			last := c.order.Back()
			c.order.Remove(last)
			old := last.Value.(*cachedStmt)
			delete(c.items, old.query)
			evicted = old.stmt
		}
		c.mu.Unlock()
		if evicted != nil {
			// database/sql finalizes it once no transaction uses it.
			_ = evicted.Close()
		}
	}
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.order.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*cachedStmt).stmt.Close()
	}
	c.items = map[string]*list.Element{}
	c.order.Init()
}
