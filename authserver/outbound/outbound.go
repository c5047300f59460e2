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
// uses no proxy, so the address checked is the address reached. An IPv6
// address that carries an IPv4 one (NAT64, SIIT, 6to4) is judged by the
// IPv4 address it reaches, and the ports are those of the web.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
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
	// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7, fec0::/10),
	// for a workshop whose apps run on the attendees' laptops.
	AllowLAN bool
	// NAT64 lists the network-specific NAT64 prefixes (RFC 6052 §2.2) of
	// the network ImageHost runs in, each 32, 40, 48, 56, 64 or 96 bits
	// long: an address in one is an IPv4 address translated, and that IPv4
	// address is checked in its place. The well-known prefixes need not be
	// listed. DiscoverNAT64 finds the local one, where DNS64 is in use.
	NAT64 []netip.Prefix
}

// Address ranges, by what they are.
var (
	loopback = prefixes("127.0.0.0/8", "::1/128")
	lan      = prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
		"fec0::/10") // site-local: deprecated (RFC 3879), yet still routed inside some sites
	// never is refused whatever the Policy: "this network", link-local
	// (169.254.169.254, the cloud metadata service, lives there),
	// multicast, reserved and special-purpose ranges (the ones IANA's
	// special-purpose registries list as not globally reachable:
	// documentation, benchmarking, the discard prefix, Teredo, ORCHID,
	// SRv6 segment identifiers), and cloud metadata addresses that sit
	// inside ranges a LAN may use.
	never = prefixes("0.0.0.0/8", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/96", "100::/64", "2001::/32", "2001:2::/48", "2001:10::/28", "2001:20::/28", "2001:db8::/32", "3fff::/20",
		"5f00::/16", "fe80::/10", "ff00::/8", "100.100.100.200/32", "fd00:ec2::254/128")
	// Ranges that carry an IPv4 address, which is what gets reached.
	// NAT64 (RFC 6052): the well-known prefix, with the IPv4 address in
	// the last 32 bits; the local-use prefix (RFC 8215), which a network
	// divides into prefixes of its own, of lengths no one outside it can
	// know: an address in it is refused unless one of the network's own
	// prefixes (Policy.NAT64) says where its IPv4 address sits.
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")
	// SIIT's IPv4-translated addresses (RFC 2765 §2.1, ::ffff:0:a.b.c.d);
	// IPv4-mapped ones (::ffff:a.b.c.d) are unmapped before any check.
	siit = netip.MustParsePrefix("::ffff:0:0:0/96")
	// 6to4 (RFC 3056), with the IPv4 address in bits 16 to 48.
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

// embeddedIPv4 returns the IPv4 address that a NAT64 prefix of bits bits
// (32, 40, 48, 56, 64 or 96) carries in a, as RFC 6052 §2.2 places it:
// right after the prefix, skipping bits 64 to 71 (the "u" octet).
func embeddedIPv4(a netip.Addr, bits int) netip.Addr {
	b := a.As16()
	var v4 [4]byte
	switch bits {
	case 32:
		v4 = [4]byte{b[4], b[5], b[6], b[7]}
	case 40:
		v4 = [4]byte{b[5], b[6], b[7], b[9]}
	case 48:
		v4 = [4]byte{b[6], b[7], b[9], b[10]}
	case 56:
		v4 = [4]byte{b[7], b[9], b[10], b[11]}
	case 64:
		v4 = [4]byte{b[9], b[10], b[11], b[12]}
	default:
		v4 = [4]byte{b[12], b[13], b[14], b[15]}
	}
	return netip.AddrFrom4(v4)
}

// ownNAT64 returns the longest of the network's own NAT64 prefixes that
// holds a, if one does.
func (p Policy) ownNAT64(a netip.Addr) (netip.Prefix, bool) {
	var best netip.Prefix
	for _, nsp := range p.NAT64 {
		if nsp.Contains(a) && (!best.IsValid() || nsp.Bits() > best.Bits()) {
			best = nsp
		}
	}
	return best, best.IsValid()
}

// nat64Lengths are the prefix lengths RFC 6052 §2.2 allows.
var nat64Lengths = []int{32, 40, 48, 56, 64, 96}

// CheckAddr reports why a request must not go to a, or nil if it may. An
// IPv6 address that carries an IPv4 address is judged by that IPv4 address.
func (p Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("") // ::ffff:10.0.0.1 is 10.0.0.1
	if !a.IsValid() {
		return errors.New("no address")
	}
	if a.Is6() {
		var carried netip.Addr
		switch nsp, own := p.ownNAT64(a); {
		case nat64WellKnown.Contains(a), siit.Contains(a):
			carried = embeddedIPv4(a, 96)
		case own:
			carried = embeddedIPv4(a, nsp.Bits())
		case nat64LocalUse.Contains(a):
			// Where in the address the IPv4 address sits depends on the
			// length of the prefix the network carved out of this one.
			return fmt.Errorf("%s is in the local-use NAT64 prefix, with no prefix of this network's around it (IMAGEHOST_NAT64_PREFIXES)", a)
		case sixTo4.Contains(a):
			b := a.As16()
			carried = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if carried.IsValid() {
			if err := p.CheckAddr(carried); err != nil {
				return fmt.Errorf("%s carries %s: %w", a, carried, err)
			}
			return nil
		}
	}
	switch {
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

// CheckPort reports why a request must not go to port, or nil if it may:
// the port of http or https (80, 443), or one from 1024 up, except those
// the WHATWG Fetch standard blocks ("bad ports"). Below 1024 live the
// services of the machine itself, SSH, SMTP and their kin, and an HTTP
// request that a registrant aims at one could be read as that protocol's
// commands: browsers refuse these ports for the same reason.
func CheckPort(port uint16) error {
	switch {
	case port == 80 || port == 443:
		return nil
	case port < 1024:
		return fmt.Errorf("port %d is a system service's; use 443, 80, or a port from 1024 up", port)
	case badPorts[port]:
		return fmt.Errorf("port %d is one browsers refuse (WHATWG Fetch, bad ports)", port)
	}
	return nil
}

// badPorts are the WHATWG Fetch standard's bad ports from 1024 up
// (https://fetch.spec.whatwg.org/#bad-port).
var badPorts = map[uint16]bool{1719: true, 1720: true, 1723: true, 2049: true, 3659: true, 4045: true, 4190: true,
	5060: true, 5061: true, 6000: true, 6566: true, 6665: true, 6666: true, 6667: true, 6668: true, 6669: true,
	6679: true, 6697: true, 10080: true}

// ParseNAT64 reads a list of network-specific NAT64 prefixes, separated by
// commas or spaces, each of a length RFC 6052 §2.2 allows.
func ParseNAT64(s string) ([]netip.Prefix, error) {
	var list []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(f)
		switch {
		case err != nil:
			return nil, fmt.Errorf("NAT64 prefix %q: %w", f, err)
		case !p.Addr().Is6() || p.Addr().Is4In6() || !slices.Contains(nat64Lengths, p.Bits()):
			return nil, fmt.Errorf("NAT64 prefix %q: an IPv6 prefix of 32, 40, 48, 56, 64 or 96 bits", f)
		}
		list = append(list, p.Masked())
	}
	return list, nil
}

// DiscoverNAT64 asks r for the IPv6 addresses of ipv4only.arpa, as RFC 7050
// describes: the name has IPv4 addresses only (192.0.0.170 and
// 192.0.0.171), so an IPv6 address for it was made up by DNS64, and shows
// the NAT64 prefix it was made with, and that prefix's length, by where
// one of the two sits in it. It returns the prefixes found, none on a
// network without DNS64.
func DiscoverNAT64(ctx context.Context, r *net.Resolver) ([]netip.Prefix, error) {
	addrs, err := r.LookupNetIP(ctx, "ip6", "ipv4only.arpa")
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil, nil // no DNS64 here
	}
	if err != nil {
		return nil, fmt.Errorf("outbound: discover NAT64 (RFC 7050): %w", err)
	}
	wellKnown := []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 0, 170}), netip.AddrFrom4([4]byte{192, 0, 0, 171})}
	var found []netip.Prefix
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			continue
		}
		for _, bits := range nat64Lengths {
			if slices.Contains(wellKnown, embeddedIPv4(a, bits)) {
				p, _ := a.Prefix(bits)
				if !slices.Contains(found, p) {
					found = append(found, p)
				}
				break
			}
		}
	}
	return found, nil
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
	if port := u.Port(); port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return fmt.Errorf("port %q is not a port number", port)
		}
		if err := CheckPort(uint16(n)); err != nil {
			return err
		}
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
			if err := CheckPort(ap.Port()); err != nil {
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
