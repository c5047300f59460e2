package outbound_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
