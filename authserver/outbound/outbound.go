// Package outbound guards the requests ImageHost sends to URLs that clients
// registered: back-channel logout tokens. Whoever registers a client
// chooses that URL, so without a guard ImageHost would post wherever an
// outsider points it, including places only ImageHost's machine can reach:
// its own admin ports, the LAN, a cloud's metadata service
// (server-side request forgery).
//
// A Policy names the addresses that are fair game. CheckURL applies it when
// a client registers a URL; Client applies it again at every connection,
// to the address a DNS name resolved to, since a name can point anywhere
// and can change after registration. The client follows no redirect and
// uses no proxy, so the address checked is the address reached.
package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy says which addresses requests may go to. The zero Policy allows
// public addresses only.
type Policy struct {
	// AllowLoopback lets requests reach this machine (127.0.0.0/8, ::1),
	// as the demo needs when ImageHost and the apps share a laptop.
	AllowLoopback bool
	// AllowLAN lets requests reach private networks (10.0.0.0/8,
	// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7), for a
	// workshop whose apps run on the attendees' laptops.
	AllowLAN bool
}

// Address ranges, by what they are.
var (
	loopback = prefixes("127.0.0.0/8", "::1/128")
	lan      = prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
	// never is refused whatever the Policy: "this network", link-local
	// (169.254.169.254, the cloud metadata service, lives there),
	// multicast, reserved and special-purpose ranges, and cloud metadata
	// addresses that sit inside ranges a LAN may use.
	never = prefixes("0.0.0.0/8", "169.254.0.0/16", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/96", "fe80::/10", "ff00::/8", "100.100.100.200/32", "fd00:ec2::254/128")
	// embedding are IPv6 ranges that carry an IPv4 address: NAT64
	// (RFC 6052, RFC 8215) in the last 32 bits, 6to4 (RFC 3056) in bits
	// 16 to 48. The IPv4 address inside is what gets reached.
	nat64  = prefixes("64:ff9b::/96", "64:ff9b:1::/48")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func within(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CheckAddr reports why a request must not go to a, or nil if it may.
func (p Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("") // ::ffff:10.0.0.1 is 10.0.0.1
	switch {
	case !a.IsValid():
		return errors.New("no address")
	case a.Is6() && within(a, nat64):
		b := a.As16()
		return p.CheckAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case a.Is6() && sixTo4.Contains(a):
		b := a.As16()
		return p.CheckAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case within(a, loopback):
		if !p.AllowLoopback {
			return fmt.Errorf("%s is a loopback address", a)
		}
	case within(a, never):
		return fmt.Errorf("%s is a link-local, metadata or reserved address", a)
	case within(a, lan):
		if !p.AllowLAN {
			return fmt.Errorf("%s is a private address (IMAGEHOST_ALLOW_LAN_URIS allows it)", a)
		}
	}
	return nil
}

// CheckURL applies the Policy to a URL a client registers for ImageHost to
// call: absolute, no fragment; https, or http only to a loopback host (as
// RFC 8252 §7.3 allows for redirect URIs) or, on a LAN, to a private
// address; a host written as an IP address must pass CheckAddr. A DNS name
// is checked when it is called, by Client.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return errors.New("must be an absolute http or https URL")
	case len(raw) > 2000:
		return errors.New("is too long")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case u.User != nil:
		return errors.New("must not carry a user name or password")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("must be an http or https URL")
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if numericHost(host) {
			return fmt.Errorf("host %q looks like an IP address in an unusual form; write it in the usual one", host)
		}
		if u.Scheme == "http" {
			return errors.New("http is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]); use https")
		}
		return nil
	}
	if err := p.CheckAddr(addr); err != nil {
		return err
	}
	if u.Scheme == "http" && !within(addr.Unmap(), loopback) && !within(addr.Unmap(), lan) {
		return errors.New("http is allowed only for loopback and, on a LAN, private addresses; use https")
	}
	return nil
}

// numericHost reports whether a host that is no IP literal ends in an
// all-numeric label, decimal or 0x-hex, as an IPv4 address in a form some
// resolvers accept does ("2130706433", "0x7f.1"). No real domain does.
func numericHost(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// Client returns an HTTP client for requests to registered URLs: at every
// connection it checks the address a name resolved to against the Policy;
// it follows no redirect (a 3xx is the answer, as any other status); it
// uses no proxy, which would connect on its behalf to an address it never
// saw; and each request, body included, ends after timeout.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("outbound: dial %s: %w", address, err)
			}
			if err := p.CheckAddr(ap.Addr()); err != nil {
				return fmt.Errorf("outbound: refused to connect: %w", err)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       time.Minute,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
