package outbound_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oauthdemo/authserver/outbound"
)

func TestCheckAddr(t *testing.T) {
	public, demo, lan := outbound.Policy{}, outbound.Policy{AllowLoopback: true}, outbound.Policy{AllowLoopback: true, AllowLAN: true}
	tests := []struct {
		addr                  string
		public, demo, withLAN bool // allowed under each policy
	}{
		{"93.184.215.14", true, true, true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true, true, true},
		{"127.0.0.1", false, true, true},
		{"127.1.2.3", false, true, true},
		{"::1", false, true, true},
		{"::ffff:127.0.0.1", false, true, true},
		{"10.0.0.1", false, false, true},
		{"172.16.5.4", false, false, true},
		{"172.31.255.255", false, false, true},
		{"172.32.0.1", true, true, true},
		{"192.168.1.10", false, false, true},
		{"100.64.0.1", false, false, true},
		{"fd12:3456::1", false, false, true},
		{"::ffff:10.0.0.1", false, false, true},
		{"::ffff:192.168.1.1", false, false, true},
		{"64:ff9b::a00:1", false, false, true},      // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false, false, false}, // NAT64 of 169.254.169.254
		{"2002:a9fe:a9fe::1", false, false, false},  // 6to4 of 169.254.169.254
		{"2002:7f00:1::1", false, true, true},       // 6to4 of 127.0.0.1
		// Never, whatever the operator allows.
		{"169.254.169.254", false, false, false},
		{"::ffff:169.254.169.254", false, false, false},
		{"169.254.1.1", false, false, false},
		{"fe80::1", false, false, false},
		{"fe80::1%eth0", false, false, false},
		{"0.0.0.0", false, false, false},
		{"0.1.2.3", false, false, false},
		{"::", false, false, false},
		{"::a00:1", false, false, false}, // IPv4-compatible, deprecated
		{"224.0.0.1", false, false, false},
		{"255.255.255.255", false, false, false},
		{"ff02::1", false, false, false},
		{"100.100.100.200", false, false, false}, // a cloud's metadata service, inside 100.64/10
		{"fd00:ec2::254", false, false, false},   // another's, inside fc00::/7
		// IPv6 addresses that carry an IPv4 address: judged by it.
		{"::ffff:0:a00:1", false, false, true},        // SIIT, IPv4-translated 10.0.0.1
		{"::ffff:0:a9fe:a9fe", false, false, false},   // SIIT, 169.254.169.254
		{"::ffff:0:5db8:d70e", true, true, true},      // SIIT, 93.184.215.14
		{"64:ff9b::5db8:d70e", true, true, true},      // NAT64, 93.184.215.14
		{"64:ff9b:1::5db8:d70e", false, false, false}, // local-use NAT64, its prefix's length unknown
		// Private and special-purpose ranges of IPv6 and IPv4.
		{"fec0::1", false, false, true},                               // site-local, deprecated
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, false, false}, // Teredo
		{"2001:db8::1", false, false, false},                          // documentation
		{"3fff::1", false, false, false},                              // documentation (RFC 9637)
		{"100::1", false, false, false},                               // discard-only
		{"192.0.2.1", false, false, false},                            // TEST-NET-1
		{"198.51.100.7", false, false, false},                         // TEST-NET-2
		{"203.0.113.9", false, false, false},                          // TEST-NET-3
		{"2001:4860:4860::8888", true, true, true},                    // an ordinary public IPv6 address in 2001::/16
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		for _, p := range []struct {
			name   string
			policy outbound.Policy
			want   bool
		}{{"public", public, tc.public}, {"demo", demo, tc.demo}, {"LAN", lan, tc.withLAN}} {
			if err := p.policy.CheckAddr(a); (err == nil) != p.want {
				t.Errorf("%s under %s: err %v, want allowed=%v", tc.addr, p.name, err, p.want)
			}
		}
	}
}

func TestCheckURL(t *testing.T) {
	public, demo, lan := outbound.Policy{}, outbound.Policy{AllowLoopback: true}, outbound.Policy{AllowLoopback: true, AllowLAN: true}
	tests := []struct {
		url                   string
		public, demo, withLAN bool
	}{
		{"https://app.example/backchannel-logout", true, true, true},
		{"https://app.example:8443/bc?x=1", true, true, true},
		{"http://localhost:8080/backchannel-logout", false, true, true},
		{"http://127.0.0.1:8080/bc", false, true, true},
		{"http://[::1]:8080/bc", false, true, true},
		{"http://app.example/bc", false, false, false},
		{"http://192.168.1.23:3000/bc", false, false, true},
		{"https://10.0.0.1/bc", false, false, true},
		{"https://[::ffff:10.0.0.1]/bc", false, false, true},
		{"https://169.254.169.254/latest/meta-data/", false, false, false},
		{"http://[fe80::1%25eth0]/bc", false, false, false},
		{"https://0.0.0.0/bc", false, false, false},
		{"http://2130706433/bc", false, false, false}, // 127.0.0.1 to some resolvers
		{"http://0x7f.1/bc", false, false, false},
		{"https://0177.0.0.1/bc", false, false, false},
		{"https://10.1/bc", false, false, false},
		{"https://app.example/bc#frag", false, false, false},
		{"https://user:pw@app.example/bc", false, false, false},
		{"com.example.app:/bc", false, false, false},
		{"ftp://app.example/bc", false, false, false},
		{"/bc", false, false, false},
		{"https:///bc", false, false, false},
		{"https://app.example/" + strings.Repeat("a", 2000), false, false, false},
		// The ports of the web: 80, 443, or 1024 and up, save the ones
		// browsers refuse.
		{"https://app.example:443/bc", true, true, true},
		{"https://app.example:80/bc", true, true, true},
		{"https://app.example:1024/bc", true, true, true},
		{"https://app.example:25/bc", false, false, false},   // SMTP
		{"https://app.example:22/bc", false, false, false},   // SSH
		{"https://app.example:1023/bc", false, false, false}, // a system service's
		{"https://app.example:6667/bc", false, false, false}, // IRC: a bad port to browsers
		{"http://localhost:5060/bc", false, false, false},    // SIP: a bad port to browsers
		{"https://app.example:0/bc", false, false, false},
		{"https://app.example:70000/bc", false, false, false},
		{"http://[::ffff:0:7f00:1]:8080/bc", false, false, false}, // SIIT of 127.0.0.1: an unusual form
	}
	for _, tc := range tests {
		for _, p := range []struct {
			name   string
			policy outbound.Policy
			want   bool
		}{{"public", public, tc.public}, {"demo", demo, tc.demo}, {"LAN", lan, tc.withLAN}} {
			if err := p.policy.CheckURL(tc.url); (err == nil) != p.want {
				t.Errorf("%.60s under %s: err %v, want allowed=%v", tc.url, p.name, err, p.want)
			}
		}
	}
}

// hits is a loopback listener that counts requests.
func hits(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestClientFollowsNoRedirect: a registered URL answers 302 to another
// address. The client reports the 302 and never goes there.
func TestClientFollowsNoRedirect(t *testing.T) {
	second, secondHits := hits(t, nil)
	first, firstHits := hits(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+"/internal", http.StatusFound)
	})
	c := outbound.Policy{AllowLoopback: true}.Client(2 * time.Second)
	resp, err := c.Post(first.URL+"/bc", "application/x-www-form-urlencoded", strings.NewReader("logout_token=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || firstHits.Load() != 1 || secondHits.Load() != 0 {
		t.Fatalf("status %d, first hit %d times, second %d times; want the 302 and the second never", resp.StatusCode, firstHits.Load(), secondHits.Load())
	}
}

// TestClientChecksResolvedAddress: a DNS name is checked where it points
// at the moment of the call. "localhost" resolves to loopback, which a
// server reachable from elsewhere must not call.
func TestClientChecksResolvedAddress(t *testing.T) {
	srv, n := hits(t, nil)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := outbound.Policy{}.Client(2 * time.Second)
	for _, u := range []string{"http://localhost:" + port + "/bc", srv.URL + "/bc"} {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", u, strings.NewReader("logout_token=x"))
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: %s, want the connection refused", u, resp.Status)
		}
		if !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%s: %v, want a refusal naming loopback", u, err)
		}
	}
	if n.Load() != 0 {
		t.Fatalf("the loopback server was hit %d times", n.Load())
	}
}

// TestCheckAddrNetworkSpecificNAT64: a network's own NAT64 prefix (RFC 6052
// §2.2), of each length, carries an IPv4 address where the RFC puts it,
// skipping the "u" octet: a metadata or private address inside is refused,
// a public one allowed. Without the prefix known, the address is public.
func TestCheckAddrNetworkSpecificNAT64(t *testing.T) {
	metadata, public := netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("93.184.215.14")
	for _, bits := range []int{32, 40, 48, 56, 64, 96} {
		nsp := netip.PrefixFrom(netip.MustParseAddr("2001:67c:2b0::"), bits).Masked()
		if bits >= 48 { // also carved out of the local-use prefix (RFC 8215)
			local := netip.PrefixFrom(netip.MustParseAddr("64:ff9b:1:ab00::"), bits).Masked()
			if err := (outbound.Policy{NAT64: []netip.Prefix{local}}).CheckAddr(synthesize(local, metadata)); err == nil {
				t.Errorf("/%d: %s, the metadata address through a local-use prefix, is allowed", bits, synthesize(local, metadata))
			}
			if err := (outbound.Policy{NAT64: []netip.Prefix{local}}).CheckAddr(synthesize(local, public)); err != nil {
				t.Errorf("/%d: %s, a public address through a local-use prefix: %v", bits, synthesize(local, public), err)
			}
		}
		policy := outbound.Policy{NAT64: []netip.Prefix{nsp}}
		if err := policy.CheckAddr(synthesize(nsp, metadata)); err == nil {
			t.Errorf("/%d: %s, the metadata address through the network's NAT64, is allowed", bits, synthesize(nsp, metadata))
		}
		if err := policy.CheckAddr(synthesize(nsp, public)); err != nil {
			t.Errorf("/%d: %s, a public address through the network's NAT64: %v", bits, synthesize(nsp, public), err)
		}
		if err := (outbound.Policy{}).CheckAddr(synthesize(nsp, metadata)); err != nil {
			t.Errorf("/%d: without the prefix known, %s is refused: %v", bits, synthesize(nsp, metadata), err)
		}
	}
}

// synthesize is what DNS64 does (RFC 6052 §2.2): v4 embedded in nsp.
func synthesize(nsp netip.Prefix, v4 netip.Addr) netip.Addr {
	b, v := nsp.Addr().As16(), v4.As4()
	at := nsp.Bits() / 8
	for _, x := range v {
		if at == 8 { // bits 64 to 71 stay zero
			at++
		}
		b[at] = x
		at++
	}
	return netip.AddrFrom16(b)
}

func TestParseNAT64(t *testing.T) {
	got, err := outbound.ParseNAT64("2001:67c:2b0::/96, 64:ff9b:1:1::/64")
	if err != nil || len(got) != 2 || got[1] != netip.MustParsePrefix("64:ff9b:1:1::/64") {
		t.Fatalf("ParseNAT64 = %v, %v", got, err)
	}
	for _, bad := range []string{"2001:67c:2b0::/80", "10.0.0.0/8", "::ffff:0:0/96", "nonsense"} {
		if _, err := outbound.ParseNAT64(bad); err == nil {
			t.Errorf("ParseNAT64(%q) accepted it", bad)
		}
	}
}

// TestDiscoverNAT64 asks a DNS server on loopback that does DNS64 for
// ipv4only.arpa, as RFC 7050 says: the answer shows the network's prefix
// and its length. A server without DNS64 answers with no IPv6 address,
// and nothing is found.
func TestDiscoverNAT64(t *testing.T) {
	nsp := netip.MustParsePrefix("2001:67c:2b0:db64::/64")
	tests := []struct {
		name    string
		answers []netip.Addr
		want    []netip.Prefix
	}{
		{"DNS64", []netip.Addr{synthesize(nsp, netip.MustParseAddr("192.0.0.170")), synthesize(nsp, netip.MustParseAddr("192.0.0.171"))}, []netip.Prefix{nsp}},
		{"no DNS64", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := outbound.DiscoverNAT64(context.Background(), dnsServer(t, tc.answers))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("DiscoverNAT64 = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// dnsServer answers every query on a loopback UDP port with answers as
// AAAA records, and returns a resolver that asks it alone.
func dnsServer(t *testing.T, answers []netip.Addr) *net.Resolver {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			end := 12 // the header, then the question: labels, a zero, type and class
			for end < len(q) && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > len(q) {
				continue
			}
			resp := append([]byte{}, q[:end]...)
			resp[2], resp[3] = 0x81, 0x80 // a response, recursion desired and available, no error
			resp[6], resp[7] = 0, byte(len(answers))
			resp[8], resp[9], resp[10], resp[11] = 0, 0, 0, 0
			for _, a := range answers {
				ip := a.As16()
				resp = append(resp, 0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16) // the question's name, AAAA, IN, TTL 60, 16 bytes
				resp = append(resp, ip[:]...)
			}
			conn.WriteTo(resp, from)
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", conn.LocalAddr().String())
	}}
}

// TestClientRefusesPorts: at connection too, only the web's ports. A name
// may resolve anywhere, but its port is the URL's, checked again where the
// connection is made.
func TestClientRefusesPorts(t *testing.T) {
	c := outbound.Policy{AllowLoopback: true}.Client(2 * time.Second)
	for _, u := range []string{"http://127.0.0.1:25/bc", "http://localhost:6667/bc"} {
		resp, err := c.Post(u, "application/x-www-form-urlencoded", strings.NewReader("logout_token=x"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: %s, want no connection", u, resp.Status)
		}
		if !strings.Contains(err.Error(), "refused to connect: port") {
			t.Fatalf("%s: %v, want a refusal naming the port", u, err)
		}
	}
}
