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
// A statement is kept only once it has run unprepared twice: most
// one-offs are multi-row statements whose text depends on their row count
// (the last, partial chunk of a batch), and preparing them would only
// delay the writer and evict the statements that do repeat. Full chunks
// do repeat (an 8,000-event group is twenty 400-row INSERTs of one
// text), so statements up to 64 KiB are kept: parsing them took about a
// tenth of the writer's time on event batches. The cache is bounded by
// the length of the texts it holds too, since SQLite's compiled form of
// a multi-row statement grows with it.
type stmtCache struct {
	db       *sql.DB
	max      int // statements kept
	maxBytes int // total length of their texts

	mu        sync.Mutex
	items     map[string]*list.Element // value: *cachedStmt
	order     *list.List               // front: most recently used
	bytes     int                      // total length of the kept texts
	once      map[string]bool          // statements run unprepared once
	onceBytes int                      // total length of once's keys
}

type cachedStmt struct {
	query string
	stmt  *sql.Stmt
}

// stmtCacheSize bounds the statements kept, stmtCacheBytes the total
// length of their texts, and stmtCacheMaxLen the length of a statement's
// text worth keeping.
const (
	stmtCacheSize   = 256
	stmtCacheBytes  = 1 << 20
	stmtCacheMaxLen = 64 << 10
)

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, max: stmtCacheSize, maxBytes: stmtCacheBytes,
		items: map[string]*list.Element{}, order: list.New(), once: map[string]bool{}}
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
			if len(c.once) >= 4*c.max || c.onceBytes+len(q) > 4*c.maxBytes {
				clear(c.once) // bounded: forget the one-offs
				c.onceBytes = 0
			}
			c.once[q] = true
			c.onceBytes += len(q)
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
		if c.once[q] {
			delete(c.once, q)
			c.onceBytes -= len(q)
		}
		c.items[q] = c.order.PushFront(&cachedStmt{query: q, stmt: st})
		c.bytes += len(q)
		var evicted []*sql.Stmt
		for c.order.Len() > c.max || c.bytes > c.maxBytes {
			last := c.order.Back()
			c.order.Remove(last)
			old := last.Value.(*cachedStmt)
			delete(c.items, old.query)
			c.bytes -= len(old.query)
			evicted = append(evicted, old.stmt)
		}
		c.mu.Unlock()
		for _, st := range evicted {
			// database/sql finalizes it once no transaction uses it.
			_ = st.Close()
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
	c.bytes = 0
}
