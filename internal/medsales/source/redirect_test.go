package source_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/source"
)

// TestHTTPRedirectDowngradeRefused: an https source whose server
// redirects to plain http fails, as bad input, with an error naming the
// source and the target's scheme and host, never the target's user info,
// path or query; the http server is never asked. The client followed the
// redirect and read the file over plain http. Redirects that stay on
// https, or on http, are followed.
func TestHTTPRedirectDowngradeRefused(t *testing.T) {
	const body = "Code,Grouping\n101Y00000X,Behavioral Health\n"
	var plainHits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/nucc_taxonomy_251.csv", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down/nucc_taxonomy_251.csv":
			u, _ := url.Parse(plain.URL)
			u.User = url.UserPassword("loader", "s3cr3t")
			u.Path, u.RawQuery = "/private/nucc_taxonomy_251.csv", "token=tok123"
			http.Redirect(w, r, u.String(), http.StatusFound)
		case "/moved/nucc_taxonomy_251.csv":
			http.Redirect(w, r, "/nucc_taxonomy_251.csv", http.StatusMovedPermanently)
		default:
			_, _ = io.WriteString(w, body)
		}
	}))
	t.Cleanup(secure.Close)
	ctx := context.Background()

	_, err := source.Open(ctx, secure.URL+"/down/nucc_taxonomy_251.csv?sig=abc", source.Options{HTTPClient: secure.Client()})
	if err == nil {
		t.Fatal("a redirect from https to http was followed")
	}
	host := strings.TrimPrefix(plain.URL, "http://")
	for _, want := range []string{"source " + secure.URL + "/down/nucc_taxonomy_251.csv?…", "redirected to http://" + host + ":", "https to plain http"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	for _, leak := range []string{"s3cr3t", "loader", "tok123", "private", "abc"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q repeats %q", err, leak)
		}
	}
	if !errors.Is(err, source.ErrInput) {
		t.Errorf("error %q is not bad input", err)
	}
	if n := plainHits.Load(); n != 0 {
		t.Errorf("the http server was asked %d times, want never", n)
	}

	for _, src := range []string{secure.URL + "/moved/nucc_taxonomy_251.csv", plain.URL + "/hop"} {
		client := secure.Client()
		if strings.HasPrefix(src, "http://") {
			client = plain.Client()
		}
		f, err := source.Open(ctx, src, source.Options{HTTPClient: client})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(b) != body {
			t.Errorf("%s: read %q, %v; want the file", src, b, err)
		}
	}
}

// TestHTTPRedirectCheck: Options.CheckRedirect is asked about each
// redirect's target; one it refuses fails the source with an error that
// names the source and the target's scheme and host, then says why.
func TestHTTPRedirectCheck(t *testing.T) {
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		_, _ = io.WriteString(w, "Code\n")
	}))
	t.Cleanup(other.Close)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/x/nucc.csv?token=tok123", http.StatusFound)
	}))
	t.Cleanup(first.Close)
	var asked []string
	_, err := source.Open(context.Background(), first.URL+"/nucc.csv", source.Options{
		HTTPClient: first.Client(),
		CheckRedirect: func(target *url.URL) error {
			asked = append(asked, target.String())
			return errors.New("not on the list")
		},
	})
	if err == nil {
		t.Fatal("a refused redirect was followed")
	}
	if want := "source " + first.URL + "/nucc.csv: redirected to " + other.URL + ": not on the list"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(asked) != 1 || asked[0] != other.URL+"/x/nucc.csv?token=tok123" {
		t.Errorf("CheckRedirect asked about %q, want the target", asked)
	}
	if !errors.Is(err, source.ErrInput) || otherHits.Load() != 0 {
		t.Errorf("error %q: bad input %v, target asked %d times; want bad input, never asked", err, errors.Is(err, source.ErrInput), otherHits.Load())
	}
}
