package main

// What counts as this machine. Loopback is where the demo runs, and what
// several rules single out: RFC 8252 §7.3 lets a redirect URI use plain
// http on a loopback host; lab mode listens on loopback only, and it and
// demo.env's published secrets answer only local requests (clientaddr.go);
// and ImageHost calls a loopback URL a client registered only when it is
// served on loopback itself.

import (
	"net"
	"net/url"
	"slices"
	"strings"

	"oauthdemo/authserver/store"
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

// redirectRegistered reports whether client registered redirectURI. RFC
// 9700 §2.1: servers "MUST utilize exact string matching", with one
// exception, RFC 8252 §7.3: "The authorization server MUST allow any port
// to be specified at the time of the request for loopback IP redirect
// URIs, to accommodate clients that obtain an available ephemeral port
// from the operating system at the time of the request." The exception is
// for native apps, which are public clients, and for loopback IP literals
// only (127.0.0.1, [::1]): RFC 8252 §8.3 advises against "localhost",
// which a resolver may send elsewhere. Everything but the port still
// matches exactly.
func redirectRegistered(client store.Client, redirectURI string) bool {
	if slices.Contains(client.RedirectURIs, redirectURI) {
		return true
	}
	if !client.Public() {
		return false
	}
	asked, ok := withoutLoopbackPort(redirectURI)
	if !ok {
		return false
	}
	for _, registered := range client.RedirectURIs {
		if r, ok := withoutLoopbackPort(registered); ok && r == asked {
			return true
		}
	}
	return false
}

// withoutLoopbackPort returns an http URI on a loopback IP literal with its
// port taken out, and false for any other URI.
func withoutLoopbackPort(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" || u.Fragment != "" || strings.Contains(s, "#") {
		return "", false
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return "", false
	}
	u.Host = u.Hostname()
	if ip.To4() == nil {
		u.Host = "[" + u.Host + "]"
	}
	return u.String(), true
}
