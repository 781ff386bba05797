// Package smtptest runs a minimal but real SMTP submission server on a
// loopback port, for tests of SMTP clients: EHLO advertising STARTTLS and
// AUTH PLAIN, STARTTLS with a self-signed certificate it generates, AUTH
// PLAIN against configured credentials, MAIL, RCPT, DATA (with
// dot-unstuffing), RSET, NOOP and QUIT. It records what it received, counts
// messages per Message-ID, and can be told to refuse RCPT or DATA.
//
// It needs no *testing.T, so benchmark programs can use it too.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

const (
	defaultHostname   = "smtptest.local"
	defaultMaxMessage = 10 << 20
	// idleTimeout ends a session whose client stays silent this long.
	idleTimeout = 2 * time.Minute
)

// Options configures a Server. The zero value is an open relay that
// offers STARTTLS but requires neither it nor AUTH.
type Options struct {
	// Username and Password, when Username is set, are the only accepted
	// AUTH PLAIN credentials, and MAIL requires a successful AUTH.
	Username string
	Password string
	// RequireTLS answers MAIL (and AUTH) before STARTTLS with 530.
	RequireTLS bool
	// NoSTARTTLS neither advertises nor accepts STARTTLS, like a server
	// stripped of it.
	NoSTARTTLS bool
	// Hostname is the name in the greeting; "smtptest.local" when empty.
	Hostname string
	// MaxMessageBytes is the SIZE limit; 10 MiB when zero.
	MaxMessageBytes int
}

// Stage is a point of the SMTP transaction where a failure can be injected.
type Stage string

// The stages that can be made to fail.
const (
	// StageRcpt answers RCPT TO.
	StageRcpt Stage = "RCPT"
	// StageData answers the end of the message data (after the final dot),
	// as servers that scan content do; the message is not recorded.
	StageData Stage = "DATA"
)

// Message is a message the server accepted.
type Message struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Data is the message as received after dot-unstuffing, with CRLF line
	// ends and without the final dot line.
	Data []byte
	// Header is Data's parsed header; nil when Data did not parse.
	Header mail.Header
	// Body is Data after the header, still transfer-encoded.
	Body []byte
	// TLS reports whether the session was encrypted (STARTTLS).
	TLS bool
	// AuthUser is the authenticated user, "" when none.
	AuthUser string
}

// Server is a running SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	opts      Options
	ln        net.Listener
	tlsConfig *tls.Config
	roots     *x509.CertPool
	wg        sync.WaitGroup

	mu          sync.Mutex
	closing     bool
	conns       map[net.Conn]struct{}
	failures    map[Stage]int
	messages    []Message
	deliveries  map[string]int
	commands    []string
	connections int
	seq         int
}

// New starts a Server on 127.0.0.1 with a fresh self-signed certificate.
// Close stops it.
func New(opts Options) (*Server, error) {
	if opts.Hostname == "" {
		opts.Hostname = defaultHostname
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = defaultMaxMessage
	}
	cert, roots, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("smtptest: certificate: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	s := &Server{
		opts:       opts,
		ln:         ln,
		tlsConfig:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		roots:      roots,
		conns:      make(map[net.Conn]struct{}),
		failures:   make(map[Stage]int),
		deliveries: make(map[string]int),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ClientTLSConfig returns a client TLS configuration that trusts the
// server's certificate (valid for 127.0.0.1, ::1 and localhost).
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Fail makes the server answer stage with code (e.g. 451 or 554) from now
// on; code 0 restores normal answers.
func (s *Server) Fail(stage Stage, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.failures, stage)
		return
	}
	s.failures[stage] = code
}

// Messages returns the accepted messages in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	copy(out, s.messages)
	return out
}

// Deliveries returns how many accepted messages carried each Message-ID
// header value (angle brackets included).
func (s *Server) Deliveries() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.deliveries))
	for k, v := range s.deliveries {
		out[k] = v
	}
	return out
}

// Commands returns the verbs of all commands received, in order, across
// sessions (arguments are not kept).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.commands))
	copy(out, s.commands)
	return out
}

// Connections returns how many connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// Close stops accepting, ends every session and waits for them to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.connections++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// session is the state of one SMTP connection.
type session struct {
	s        *Server
	conn     net.Conn
	r        *textproto.Reader
	w        *textproto.Writer
	tls      bool
	greeted  bool
	authUser string
	from     string
	inMail   bool
	rcpts    []string
}

func (s *Server) serve(conn net.Conn) {
	defer s.wg.Done()
	sess := &session{s: s, conn: conn}
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		_ = sess.conn.Close()
	}()
	sess.setConn(conn)
	if sess.reply(220, s.opts.Hostname+" ESMTP smtptest") != nil {
		return
	}
	for {
		_ = sess.conn.SetDeadline(time.Now().Add(idleTimeout))
		line, err := sess.r.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.mu.Lock()
		s.commands = append(s.commands, verb)
		s.mu.Unlock()
		if done, err := sess.handle(verb, strings.TrimSpace(arg)); done || err != nil {
			return
		}
	}
}

func (sess *session) setConn(c net.Conn) {
	sess.conn = c
	sess.r = textproto.NewReader(bufio.NewReader(c))
	sess.w = textproto.NewWriter(bufio.NewWriter(c))
}

func (sess *session) reply(code int, text string) error {
	return sess.w.PrintfLine("%d %s", code, text)
}

func (sess *session) resetTransaction() {
	sess.from, sess.inMail, sess.rcpts = "", false, nil
}

// handle answers one command; done ends the session.
func (sess *session) handle(verb, arg string) (done bool, err error) {
	opts := sess.s.opts
	switch verb {
	case "EHLO", "HELO":
		if arg == "" {
			return false, sess.reply(501, "5.5.4 Syntax: "+verb+" hostname")
		}
		sess.greeted = true
		sess.resetTransaction()
		if verb == "HELO" {
			return false, sess.reply(250, opts.Hostname)
		}
		lines := []string{opts.Hostname, "8BITMIME", fmt.Sprintf("SIZE %d", opts.MaxMessageBytes)}
		if !sess.tls && !opts.NoSTARTTLS {
			lines = append(lines, "STARTTLS")
		}
		if opts.Username != "" && (sess.tls || !opts.RequireTLS) {
			lines = append(lines, "AUTH PLAIN")
		}
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			if err := sess.w.PrintfLine("250%s%s", sep, l); err != nil {
				return false, err
			}
		}
		return false, nil

	case "STARTTLS":
		switch {
		case opts.NoSTARTTLS:
			return false, sess.reply(502, "5.5.1 Command not implemented")
		case sess.tls:
			return false, sess.reply(503, "5.5.1 TLS already active")
		}
		if err := sess.reply(220, "2.0.0 Ready to start TLS"); err != nil {
			return false, err
		}
		tc := tls.Server(sess.conn, sess.s.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return true, nil
		}
		// Server.Close closes the raw connection underneath, which ends
		// the TLS session too.
		sess.setConn(tc)
		// RFC 3207: the client starts over with EHLO.
		sess.tls, sess.greeted, sess.authUser = true, false, ""
		sess.resetTransaction()
		return false, nil

	case "AUTH":
		return false, sess.auth(arg)

	case "MAIL":
		switch {
		case !sess.greeted:
			return false, sess.reply(503, "5.5.1 Error: send EHLO first")
		case opts.RequireTLS && !sess.tls:
			return false, sess.reply(530, "5.7.0 Must issue a STARTTLS command first")
		case opts.Username != "" && sess.authUser == "":
			return false, sess.reply(530, "5.7.0 Authentication required")
		case sess.inMail:
			return false, sess.reply(503, "5.5.1 Error: nested MAIL command")
		}
		addr, ok := pathArg(arg, "FROM:")
		if !ok {
			return false, sess.reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
		}
		sess.from, sess.inMail = addr, true
		return false, sess.reply(250, "2.1.0 Ok")

	case "RCPT":
		if !sess.inMail {
			return false, sess.reply(503, "5.5.1 Error: need MAIL command")
		}
		addr, ok := pathArg(arg, "TO:")
		if !ok || addr == "" {
			return false, sess.reply(501, "5.5.4 Syntax: RCPT TO:<address>")
		}
		if code := sess.s.failure(StageRcpt); code != 0 {
			// Real servers quote the address; clients must not pass it on.
			return false, sess.reply(code, enhanced(code)+" <"+addr+">: Recipient address rejected (injected)")
		}
		sess.rcpts = append(sess.rcpts, addr)
		return false, sess.reply(250, "2.1.5 Ok")

	case "DATA":
		if len(sess.rcpts) == 0 {
			return false, sess.reply(503, "5.5.1 Error: need RCPT command")
		}
		return false, sess.data()

	case "RSET":
		sess.resetTransaction()
		return false, sess.reply(250, "2.0.0 Ok")
	case "NOOP":
		return false, sess.reply(250, "2.0.0 Ok")
	case "VRFY":
		return false, sess.reply(252, "2.0.0 Cannot VRFY user")
	case "QUIT":
		_ = sess.reply(221, "2.0.0 Bye")
		return true, nil
	}
	return false, sess.reply(502, "5.5.2 Error: command not recognized")
}

// auth handles AUTH PLAIN, with the initial response or after a 334.
func (sess *session) auth(arg string) error {
	opts := sess.s.opts
	switch {
	case opts.Username == "":
		return sess.reply(503, "5.5.1 Error: authentication not enabled")
	case opts.RequireTLS && !sess.tls:
		return sess.reply(530, "5.7.0 Must issue a STARTTLS command first")
	case !sess.greeted:
		return sess.reply(503, "5.5.1 Error: send EHLO first")
	case sess.authUser != "":
		return sess.reply(503, "5.5.1 Error: already authenticated")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return sess.reply(504, "5.5.4 Unrecognized authentication type")
	}
	if initial == "" {
		if err := sess.w.PrintfLine("334 "); err != nil {
			return err
		}
		line, err := sess.r.ReadLine()
		if err != nil {
			return err
		}
		if line == "*" {
			return sess.reply(501, "5.7.0 Authentication aborted")
		}
		initial = line
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(initial))
	if err != nil {
		return sess.reply(501, "5.5.2 Cannot decode response")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return sess.reply(501, "5.5.2 Malformed PLAIN response")
	}
	if parts[1] != opts.Username || parts[2] != opts.Password {
		return sess.reply(535, "5.7.8 Authentication credentials invalid")
	}
	sess.authUser = parts[1]
	return sess.reply(235, "2.7.0 Authentication successful")
}

// data reads the message after DATA and answers its end.
func (sess *session) data() error {
	if err := sess.reply(354, "End data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	var buf bytes.Buffer
	tooBig := false
	for {
		line, err := sess.r.ReadLine()
		if err != nil {
			return err
		}
		if line == "." {
			break
		}
		line = strings.TrimPrefix(line, ".") // dot-unstuffing (RFC 5321 §4.5.2)
		if buf.Len()+len(line)+2 > sess.s.opts.MaxMessageBytes {
			tooBig = true
			continue
		}
		buf.WriteString(line)
		buf.WriteString("\r\n")
	}
	defer sess.resetTransaction()
	if tooBig {
		return sess.reply(552, "5.3.4 Message size exceeds fixed limit")
	}
	if code := sess.s.failure(StageData); code != 0 {
		return sess.reply(code, enhanced(code)+" Message rejected (injected)")
	}

	msg := Message{
		From:     sess.from,
		To:       append([]string(nil), sess.rcpts...),
		Data:     buf.Bytes(),
		TLS:      sess.tls,
		AuthUser: sess.authUser,
	}
	if parsed, err := mail.ReadMessage(bytes.NewReader(msg.Data)); err == nil {
		msg.Header = parsed.Header
		msg.Body, _ = io.ReadAll(parsed.Body)
	}
	s := sess.s
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("SMTPTEST%06d", s.seq)
	s.messages = append(s.messages, msg)
	if msg.Header != nil {
		if mid := strings.TrimSpace(msg.Header.Get("Message-ID")); mid != "" {
			s.deliveries[mid]++
		}
	}
	s.mu.Unlock()
	return sess.reply(250, "2.0.0 Ok: queued as "+id)
}

func (s *Server) failure(stage Stage) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures[stage]
}

// pathArg parses "FROM:<addr> [params]" or "TO:<addr> [params]".
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// enhanced returns a plausible RFC 3463 enhanced status code for code.
func enhanced(code int) string {
	switch code {
	case 421:
		return "4.4.2"
	case 450:
		return "4.2.0"
	case 451:
		return "4.3.0"
	case 452:
		return "4.3.1"
	case 550:
		return "5.1.1"
	case 552:
		return "5.3.4"
	case 553:
		return "5.1.3"
	case 554:
		return "5.7.1"
	}
	return fmt.Sprintf("%d.0.0", code/100)
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, valid
// for a day, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
