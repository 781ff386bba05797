package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of IP addresses and
// CIDR networks (TRUSTED_PROXIES): the load balancers whose
// X-Forwarded-For header is believed. An empty list trusts no one.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR network", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR network", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// TrustedProxies returns a handler that, for a request whose peer
// (RemoteAddr) is one of the trusted proxies, replaces RemoteAddr with the
// client address the proxies recorded in X-Forwarded-For before next sees
// it: the rightmost address that is not itself a trusted proxy (a load
// balancer appends the address it received the request from, so entries
// to the left of it are whatever the client sent and may be forged). The
// failed-authentication budget, the audit trail and the access log then
// count and name the client, not the load balancer. Requests from any
// other peer, and every request when trusted is empty, keep their
// RemoteAddr.
//
// X-Forwarded-Proto (the scheme the client used, which shapes absolute
// URLs such as FHIR fullUrls) is likewise believed from trusted proxies
// only: it is removed from every other request.
//
// A response to a request the client sent over HTTPS to the load balancer
// carries Strict-Transport-Security, so that a browser (a clinician's
// dashboard, an operator's) never again sends PHI or a bearer token to
// this host over plain HTTP, where the balancer's port 80 would only
// redirect it after it had crossed the network in clear. Not
// includeSubDomains: the other hosts of the operator's domain are not
// this service's to commit to HTTPS. A request that did not come through
// a trusted proxy gets none: the service itself speaks plain HTTP, and
// the header is meaningless (and ignored by browsers) over it.
func TrustedProxies(next http.Handler, trusted []netip.Prefix) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap().WithZone("")
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err != nil || !isTrusted(peer) {
			r.Header.Del("X-Forwarded-Proto")
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("X-Forwarded-Proto") == "https" { // as the balancer writes it, and as FHIR's base URL reads it
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // malformed: nothing left of it can be believed
			}
			if !isTrusted(a) {
				r2 := r.WithContext(r.Context()) // a shallow copy
				r2.RemoteAddr = net.JoinHostPort(a.Unmap().String(), "0")
				next.ServeHTTP(w, r2)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hstsValue is the Strict-Transport-Security of HTTPS answers: one year,
// the minimum the browsers' preload lists accept.
const hstsValue = "max-age=31536000"
