package geo

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Census Geocoder's defaults.
const (
	// DefaultCensusURL is the public Census Geocoder.
	DefaultCensusURL = "https://geocoding.geo.census.gov"
	// DefaultBenchmark is the address-range release the geocoder matches
	// against: the current one.
	DefaultBenchmark = "Public_AR_Current"
	// MaxBatch is the most addresses the batch service takes per request.
	MaxBatch = 10000
)

// Address is one address to geocode.
type Address struct {
	// ID identifies the address in the answer; unique within one call.
	ID                       string
	Street, City, State, ZIP string
}

// MatchStatus is the geocoder's verdict on one address.
type MatchStatus string

// The verdicts of the Census batch geocoder.
const (
	Match   MatchStatus = "Match"    // one location found
	NoMatch MatchStatus = "No_Match" // the address was not found
	Tie     MatchStatus = "Tie"      // several candidate locations, none chosen
)

// Result is the geocoder's answer for one address.
type Result struct {
	ID     string
	Status MatchStatus
	// Exact is true for an exact match, false for a non-exact one (the
	// geocoder corrected or interpolated the address).
	Exact          bool
	MatchedAddress string
	Lat, Lon       float64 // set when Status is Match
	TigerLineID    string
	Side           string // L or R: the side of the street
}

// CensusOptions configure a Census client. The zero value talks to the
// public service with safe defaults.
type CensusOptions struct {
	// BaseURL is the service root (default DefaultCensusURL); the client
	// posts to BaseURL + "/geocoder/locations/addressbatch".
	BaseURL string
	// Benchmark names the address-range release (default DefaultBenchmark).
	Benchmark string
	// HTTPClient sends the requests (default a client without an overall
	// timeout: RequestTimeout bounds each attempt).
	HTTPClient *http.Client
	// BatchSize is the most addresses sent in one request (default and
	// maximum MaxBatch).
	BatchSize int
	// RequestTimeout bounds one attempt, upload to last byte of the answer
	// (default 10 minutes: the service takes minutes for 10,000 addresses).
	RequestTimeout time.Duration
	// MaxAttempts is how many times a request is tried when the service
	// answers 5xx or 429, times out or the connection fails (default 4).
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further attempt, up to MaxBackoff (defaults 5 s and 2 min). A
	// Retry-After header, when present, is honoured up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// UserAgent is sent with every request (default "medsales-geocoder").
	UserAgent string
}

// Census is a client for the US Census Bureau's batch geocoder
// (addressbatch). It is safe for concurrent use.
type Census struct {
	opts CensusOptions
	url  string
}

// NewCensus returns a client with opts' defaults filled in.
func NewCensus(opts CensusOptions) (*Census, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultCensusURL
	}
	if !strings.HasPrefix(opts.BaseURL, "http://") && !strings.HasPrefix(opts.BaseURL, "https://") {
		return nil, fmt.Errorf("census geocoder: base URL %q is not http(s)", opts.BaseURL)
	}
	if u, err := url.Parse(opts.BaseURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("census geocoder: base URL %q has no host: want an absolute URL such as https://host:port", opts.BaseURL)
	}
	if opts.Benchmark == "" {
		opts.Benchmark = DefaultBenchmark
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.BatchSize <= 0 || opts.BatchSize > MaxBatch {
		opts.BatchSize = MaxBatch
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Minute
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "medsales-geocoder"
	}
	return &Census{opts: opts, url: strings.TrimRight(opts.BaseURL, "/") + "/geocoder/locations/addressbatch"}, nil
}

// Geocode geocodes addrs, in requests of at most BatchSize addresses sent
// one after the other, and returns the answers in the order of addrs. An
// address the service did not answer for (it should answer every one) has
// no Result: the caller may try it again later. So has an address whose
// answer line is malformed, unless no line of the answer is usable (then
// the batch fails with that line's error). IDs must be unique. On an
// error the results of the requests that completed are returned with it.
func (c *Census) Geocode(ctx context.Context, addrs []Address) ([]Result, error) {
	seen := make(map[string]int, len(addrs))
	for i, a := range addrs {
		if a.ID == "" {
			return nil, fmt.Errorf("census geocoder: address %d has no ID", i)
		}
		if _, dup := seen[a.ID]; dup {
			return nil, fmt.Errorf("census geocoder: ID %q given twice", a.ID)
		}
		seen[a.ID] = i
	}
	out := make([]Result, 0, len(addrs))
	for start := 0; start < len(addrs); start += c.opts.BatchSize {
		end := min(start+c.opts.BatchSize, len(addrs))
		res, err := c.batch(ctx, addrs[start:end])
		if err != nil {
			return out, fmt.Errorf("census geocoder: addresses %d-%d of %d: %w", start+1, end, len(addrs), err)
		}
		out = append(out, res...)
	}
	return out, nil
}

// batch sends one request (with retries) and returns the results in the
// order of addrs.
func (c *Census) batch(ctx context.Context, addrs []Address) ([]Result, error) {
	body, contentType, err := c.requestBody(addrs)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			wait := c.opts.Backoff << (attempt - 2)
			if wait > c.opts.MaxBackoff || wait <= 0 {
				wait = c.opts.MaxBackoff
			}
			var re *retryError
			if errors.As(lastErr, &re) && re.after > 0 {
				wait = min(re.after, c.opts.MaxBackoff)
			}
			if err := sleep(ctx, wait); err != nil {
				return nil, fmt.Errorf("%w (after %d attempts, last: %v)", err, attempt-1, lastErr)
			}
		}
		answer, err := c.post(ctx, body, contentType)
		if err == nil {
			return parseBatchAnswer(answer, addrs)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *retryError
		if !errors.As(err, &re) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("gave up after %d attempts: %w", c.opts.MaxAttempts, lastErr)
}

// retryError marks a failure worth another attempt.
type retryError struct {
	err   error
	after time.Duration // from Retry-After, 0 when absent
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// requestBody builds the multipart form: benchmark and addressFile, the
// latter CSV lines "id,street,city,state,zip" without header. The service
// splits lines at every comma, so commas and quotes inside values are
// replaced by spaces.
func (c *Census) requestBody(addrs []Address) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("benchmark", c.opts.Benchmark); err != nil {
		return nil, "", err
	}
	fw, err := mw.CreateFormFile("addressFile", "addresses.csv")
	if err != nil {
		return nil, "", err
	}
	line := make([]byte, 0, 256)
	for _, a := range addrs {
		line = line[:0]
		for i, v := range [5]string{a.ID, a.Street, a.City, a.State, a.ZIP} {
			if i > 0 {
				line = append(line, ',')
			}
			line = appendCSVSafe(line, v)
		}
		line = append(line, '\n')
		if _, err := fw.Write(line); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

func appendCSVSafe(b []byte, s string) []byte {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', '"', '\r', '\n':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// post sends one attempt and returns the answer body. Failures worth a
// retry are *retryError.
func (c *Census) post(ctx context.Context, body []byte, contentType string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, &retryError{err: fmt.Errorf("post %s: %w", c.opts.BaseURL, err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, &retryError{err: fmt.Errorf("read answer: %w", err)}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return answer, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, &retryError{
			err:   fmt.Errorf("service answered %s", resp.Status),
			after: retryAfter(resp.Header.Get("Retry-After")),
		}
	default:
		return nil, fmt.Errorf("service answered %s: %s", resp.Status, snippet(answer))
	}
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// parseBatchAnswer reads the service's CSV answer, one line per address:
//
//	"id","input address","Match","Exact"|"Non_Exact","matched address","lon,lat","tigerline id","L"|"R"
//	"id","input address","No_Match"
//	"id","input address","Tie"
//
// in any order, and returns the results in the order of addrs. Lines for
// IDs that were not asked for (a header line, say) are ignored.
func parseBatchAnswer(answer []byte, addrs []Address) ([]Result, error) {
	pos := make(map[string]int, len(addrs))
	for i, a := range addrs {
		pos[a.ID] = i
	}
	got := make([]Result, len(addrs))
	have := make([]bool, len(addrs))
	if len(addrs) > 0 && len(bytes.TrimSpace(answer)) == 0 {
		return nil, fmt.Errorf("parse answer: empty answer for %d addresses", len(addrs))
	}
	// An answer cut short ends in a line without its line break: cut
	// inside a quoted field, which LazyQuotes would read as complete
	// ("-86.78,36.0 for -86.78,36.29549), or right after a field, which
	// leaves a match without its coordinates. Such a last line counts
	// only when it is a whole answer; else its address is sent again
	// next time.
	var tail []byte
	if i := bytes.LastIndexByte(answer, '\n'); i < len(answer)-1 {
		tail = answer[i+1:]
		if bytes.Count(tail, []byte{'"'})%2 == 1 {
			tail = nil
		}
		answer = answer[:i+1]
	}
	var bad error
	if err := readAnswerLines(answer, pos, got, have, &bad); err != nil {
		return nil, err
	}
	if len(tail) > 0 {
		tailGot, tailHave := make([]Result, len(addrs)), make([]bool, len(addrs))
		var tailBad error
		if readAnswerLines(tail, pos, tailGot, tailHave, &tailBad) == nil && tailBad == nil {
			for i, ok := range tailHave {
				if ok {
					got[i], have[i] = tailGot[i], true
				}
			}
			answer = append(answer[:len(answer):len(answer)], tail...)
		}
	}
	out := make([]Result, 0, len(addrs))
	if len(addrs) > 0 && len(bytes.TrimSpace(answer)) > 0 && !slices.Contains(have, true) {
		if bad != nil {
			return nil, bad
		}
		return nil, fmt.Errorf("parse answer: no line for any address sent: %s", snippet(answer))
	}
	for i := range got {
		if have[i] {
			out = append(out, got[i])
		}
	}
	return out, nil
}

// readAnswerLines parses answer lines into got and have, indexed by the
// position of each line's ID in pos.
// The first malformed line's error is kept in *bad.
func readAnswerLines(answer []byte, pos map[string]int, got []Result, have []bool, bad *error) error {
	r := csv.NewReader(bytes.NewReader(answer))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("parse answer: %w", err)
		}
		if len(rec) < 3 {
			continue
		}
		id := strings.TrimSpace(rec[0])
		i, ok := pos[id]
		if !ok {
			continue
		}
		res, err := parseAnswerLine(id, rec)
		if err != nil {
			// One malformed line leaves its address unanswered (sent
			// again later); it does not cost the batch's other answers.
			if *bad == nil {
				*bad = err
			}
			continue
		}
		got[i], have[i] = res, true
	}
	return nil
}

// parseAnswerLine parses the answer line rec for address id.
func parseAnswerLine(id string, rec []string) (Result, error) {
	res := Result{ID: id, Status: MatchStatus(strings.TrimSpace(rec[2]))}
	switch res.Status {
	case NoMatch, Tie:
	case Match:
		if len(rec) < 6 {
			return Result{}, fmt.Errorf("parse answer: line %q: a match with %d fields", id, len(rec))
		}
		res.Exact = strings.TrimSpace(rec[3]) == "Exact"
		res.MatchedAddress = rec[4]
		lon, lat, ok := strings.Cut(rec[5], ",")
		if !ok {
			return Result{}, fmt.Errorf("parse answer: line %q: coordinates %q are not lon,lat", id, rec[5])
		}
		var err1, err2 error
		res.Lon, err1 = strconv.ParseFloat(strings.TrimSpace(lon), 64)
		res.Lat, err2 = strconv.ParseFloat(strings.TrimSpace(lat), 64)
		// "NaN" parses, and passes comparisons: refuse it explicitly
		// (a NaN coordinate later makes the provider profile unencodable).
		if err1 != nil || err2 != nil || !(res.Lat >= -90 && res.Lat <= 90) || !(res.Lon >= -180 && res.Lon <= 180) {
			return Result{}, fmt.Errorf("parse answer: line %q: coordinates %q are not lon,lat", id, rec[5])
		}
		if len(rec) > 6 {
			res.TigerLineID = strings.TrimSpace(rec[6])
		}
		if len(rec) > 7 {
			res.Side = strings.TrimSpace(rec[7])
		}
	default:
		return Result{}, fmt.Errorf("parse answer: line %q: unknown match status %q", id, rec[2])
	}
	return res, nil
}
