package main

// What counts as this machine. Loopback is where the demo runs, and what
// several rules single out: RFC 8252 §7.3 lets a redirect URI use plain
// http on a loopback host; lab mode listens on loopback only, and it and
// demo.env's published secrets answer only local requests (clientaddr.go);
// and ImageHost calls a loopback URL a client registered only when it is
// served on loopback itself.

import (
	"net"
	"strings"
)

// isLoopback reports whether host (a name or an IP address, without port or
// brackets) is localhost or a loopback address: 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackOnly reports whether addr, a listen address, listens on a
// loopback address only.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopback(host)
}

// loopbackHost reports whether a Host header (host, or host:port) names a
// loopback address or localhost.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]") // no port
	}
	return strings.EqualFold(host, "localhost") || isLoopback(host)
}
