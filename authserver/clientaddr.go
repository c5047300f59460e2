package main

// Where a request comes from. Two decisions rest on it: the address a
// sign-in is counted against (login.go), and whether a request is local,
// from this machine's own browser, which lab mode, and demo.env's published
// secrets, require.
//
// Behind a reverse proxy every request's TCP peer is the proxy. ImageHost
// then takes the client's address from X-Forwarded-For, but only from a
// peer the operator named a trusted proxy (IMAGEHOST_TRUSTED_PROXIES):
// anyone else can send that header with any address in it. A proxy appends
// the address it saw to the header; the client may have put anything
// before it. So the header is read from the right, and the first address
// that is not itself a trusted proxy is the client.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the networks whose requests ImageHost takes a client
// address from, in X-Forwarded-For.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads a list of CIDRs (or single addresses), separated
// by commas or spaces.
func parseTrustedProxies(s string) (trustedProxies, error) {
	var p trustedProxies
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		prefix, err := netip.ParsePrefix(f)
		if err != nil {
			addr, err2 := netip.ParseAddr(f)
			if err2 != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an address", f)
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		p = append(p, prefix.Masked())
	}
	return p, nil
}

// trusts reports whether a is one of the trusted proxies.
func (p trustedProxies) trusts(a netip.Addr) bool {
	for _, prefix := range p {
		if prefix.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// clientAddr returns the address of the client that sent r: the TCP peer,
// or, when the peer is a trusted proxy, the rightmost address of
// X-Forwarded-For that is not a trusted proxy. An entry that is no address
// ends the walk at the last address known good.
func (p trustedProxies) clientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !p.trusts(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(hops[i]), "[]"))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !p.trusts(client) {
			return client
		}
	}
	return client
}

// peerAddr is the address of r's TCP peer.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// forwardingHeaders are the headers a proxy adds to what it passes on.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Via"}

// forwarded reports whether r carries any header a proxy adds.
func forwarded(r *http.Request) bool {
	for _, h := range forwardingHeaders {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return false
}

// requestSource is what withRequestSource found out about a request.
type requestSource struct {
	addr  netip.Addr // the client's address
	local bool       // sent by this machine's own browser, to ImageHost's loopback address
}

type requestSourceKey struct{}

// withRequestSource finds out, once per request, the client's address and
// whether the request is local. A request is local only when all of these
// hold: ImageHost listens on loopback only (listensOnLoopback); no proxy
// passed it on (no forwarding header, so neither a trusted proxy nor
// anything pretending to be one); its TCP peer is a loopback address; and
// its Host names this machine's loopback. The last is what a DNS-rebinding
// page cannot fake: its requests come from this machine, but with its own
// name in Host. A proxy on this machine that sends none of the forwarding
// headers and rewrites Host to a loopback name (nginx's default proxy_pass
// does both) cannot be told from a local browser: configure it to send
// X-Forwarded-For.
func withRequestSource(proxies trustedProxies, listensOnLoopback bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := requestSource{addr: proxies.clientAddr(r)}
		src.local = listensOnLoopback && !forwarded(r) && peerAddr(r).IsLoopback() && loopbackHost(r.Host)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestSourceKey{}, src)))
	})
}

// sourceOf returns what withRequestSource found out about r; without it,
// the TCP peer, and not local.
func sourceOf(r *http.Request) requestSource {
	if src, ok := r.Context().Value(requestSourceKey{}).(requestSource); ok {
		return src
	}
	return requestSource{addr: peerAddr(r)}
}

// clientIP is the client's address, for logs and the activity log.
func clientIP(r *http.Request) string {
	if a := sourceOf(r).addr; a.IsValid() {
		return a.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isLocal reports whether r is local (withRequestSource).
func isLocal(r *http.Request) bool { return sourceOf(r).local }

// addressKey is the sign-in throttle's key of the client's address: the
// IPv4 address, or the /64 network of an IPv6 one, since a single
// subscriber usually holds a whole /64.
func addressKey(r *http.Request) string {
	a := sourceOf(r).addr
	switch {
	case !a.IsValid():
		return "ip:" + r.RemoteAddr
	case a.Is4():
		return "ip:" + a.String()
	}
	return "ip:" + netip.PrefixFrom(a, 64).Masked().Addr().String()
}

// networkKey is the throttle's key of the network the client's address is
// in, for IPv6: its /48, what a site (a home, an office, a hosting
// customer) is usually given, 65,536 /64s. Without it, one site could make
// 20 guesses from each of its /64s. IPv4 addresses are scarce enough to be
// counted one by one: it returns "" for them.
func networkKey(r *http.Request) string {
	a := sourceOf(r).addr
	if !a.IsValid() || a.Is4() {
		return ""
	}
	return "net:" + netip.PrefixFrom(a, 48).Masked().String()
}
