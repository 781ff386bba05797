package dbtest

import (
	"context"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// StallProxy forwards TCP connections to a PostgreSQL server until Stall
// is called; from then on it drops every byte in both directions, as a
// network path that black-holes traffic does: nothing is refused, nothing
// is answered.
type StallProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

// StartStallProxy starts a StallProxy in front of target (host:port); it
// stops when the test ends.
func StartStallProxy(t testing.TB, target string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address (host:port).
func (p *StallProxy) Addr() string { return p.ln.Addr().String() }

// Stall drops every byte from now on.
func (p *StallProxy) Stall() { p.stalled.Store(true) }

func (p *StallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, dropping what it reads while the proxy stalls.
func (p *StallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *StallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// StallablePostgres opens a fresh PostgreSQL test database (see
// PostgresURL) through a StallProxy, with sets migrated.
func StallablePostgres(t *testing.T, opts db.Options, sets ...migrate.Set) (*db.DB, *StallProxy) {
	t.Helper()
	u, err := url.Parse(PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := StartStallProxy(t, u.Host)
	u.Host = p.Addr()
	d, err := db.Open(context.Background(), u.String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the proxy's cleanup, so it runs before it: the
	// proxy then ends any connection Close abandoned.
	t.Cleanup(func() { _ = d.Close() })
	if len(sets) > 0 {
		if _, err := migrate.Up(context.Background(), d, sets...); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	return d, p
}
