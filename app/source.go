package main

// Where a request comes from: the client's address (for the log), and
// whether the request is local, from this machine's own browser, which the
// lab's switches and the inspector's Reveal require.
//
// Behind a reverse proxy every request's TCP peer is the proxy. The app then
// takes the client's address from X-Forwarded-For, but only from a peer the
// operator named a trusted proxy (PHOTOEDITOR_TRUSTED_PROXIES): anyone else
// can send that header with any address in it. A proxy appends the address
// it saw; the client may have put anything before it. So the header is read
// from the right, and the first address that is not a trusted proxy is the
// client.

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// trustedProxies are the networks whose requests the app takes a client
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
// ends the walk at the last address known good. It is the app's
// echo.IPExtractor, so c.RealIP() is this address.
func (p trustedProxies) clientAddr(r *http.Request) string {
	peer := peerAddr(r)
	if !p.trusts(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(hops[i]), "[]"))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !p.trusts(client) {
			break
		}
	}
	return client.String()
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

// localRequest reports whether req is local: the app listens on loopback
// only (listensOnLoopback), no proxy passed req on (it has no forwarding
// header, so neither a trusted proxy nor anything pretending to be one),
// its TCP peer is a loopback address, and its Host names this machine's
// loopback. The last is what a DNS-rebinding page cannot fake: its requests
// come from this machine, but with its own name in Host. A proxy on this
// machine that sends none of the forwarding headers and rewrites Host to a
// loopback name (nginx's default proxy_pass does both) cannot be told from
// a local browser: configure it to send X-Forwarded-For.
func localRequest(req *http.Request, listensOnLoopback bool) bool {
	for _, h := range forwardingHeaders {
		if _, ok := req.Header[h]; ok {
			return false
		}
	}
	return listensOnLoopback && peerAddr(req).IsLoopback() && loopbackHost(req.Host)
}

// localKey is where withLocality keeps whether the request is local.
const localKey = "local"

// withLocality decides once per request whether it is local.
func withLocality(listensOnLoopback bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(localKey, localRequest(c.Request(), listensOnLoopback))
			return next(c)
		}
	}
}

// isLocal reports whether withLocality found the request local.
func isLocal(c echo.Context) bool {
	local, _ := c.Get(localKey).(bool)
	return local
}

// loopbackHost reports whether a Host header names this machine:
// localhost, an address in 127.0.0.0/8 or [::1], with any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // [::1] without a port
	}
	return isLoopback(strings.ToLower(host))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
