package main

import (
	"io"
	"net/netip"
	"testing"
)

// TestAllowLANURIs: on a workshop LAN the operator lets back-channel URIs
// point at attendees' laptops; the metadata service stays out of reach.
func TestAllowLANURIs(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.AllowLANURIs = true })
	if status, out, _ := register(t, ts, iat, bcMetadata("http://192.168.1.23:3000/backchannel-logout")); status != 201 {
		t.Fatalf("a LAN back-channel URI with IMAGEHOST_ALLOW_LAN_URIS: %d %v", status, out)
	}
	if status, _, _ := register(t, ts, iat, bcMetadata("http://169.254.169.254/latest/meta-data/")); status != 400 {
		t.Fatalf("the metadata service with IMAGEHOST_ALLOW_LAN_URIS: %d, want 400", status)
	}
}

// TestOutboundPolicyFollowsTheIssuer: loopback is this machine; a server
// reachable from elsewhere does not call it unless the operator says so.
func TestOutboundPolicyFollowsTheIssuer(t *testing.T) {
	tests := []struct {
		issuer            string
		lan               bool
		loopback, private bool
	}{
		{"http://127.0.0.1:9090", false, true, false},
		{"http://localhost:9090", false, true, false},
		{"http://[::1]:9090", false, true, false},
		{"https://id.example.com", false, false, false},
		{"http://192.168.1.5:9090", false, false, false},
		{"http://192.168.1.5:9090", true, true, true},
	}
	for _, tc := range tests {
		p := outboundPolicy(Config{Issuer: tc.issuer, AllowLANURIs: tc.lan})
		if p.AllowLoopback != tc.loopback || p.AllowLAN != tc.private {
			t.Errorf("%s, LAN %v: %+v", tc.issuer, tc.lan, p)
		}
	}
}

// TestNAT64PrefixesReachTheChecks: where the network translates IPv6 to
// IPv4 through a prefix of its own (IMAGEHOST_NAT64_PREFIXES), an address
// in it that reaches the metadata service is refused, at registration as
// at connection; an address that reaches a public one is not.
func TestNAT64PrefixesReachTheChecks(t *testing.T) {
	cfg, err := parseConfig(nil, env("IMAGEHOST_NAT64_PREFIXES", "2001:67c:2b0:db64::/96"), io.Discard)
	if err != nil || len(cfg.NAT64Prefixes) != 1 {
		t.Fatalf("IMAGEHOST_NAT64_PREFIXES: %v, %v", cfg.NAT64Prefixes, err)
	}
	if _, err := parseConfig(nil, env("IMAGEHOST_NAT64_PREFIXES", "2001:67c:2b0:db64::/80"), io.Discard); err == nil {
		t.Fatal("a NAT64 prefix of 80 bits, which RFC 6052 does not allow, was accepted")
	}
	ts := newTestServer(t, func(c *Config) { c.NAT64Prefixes = cfg.NAT64Prefixes })
	if status, out, _ := register(t, ts, iat, bcMetadata("https://[2001:67c:2b0:db64::a9fe:a9fe]/bc")); status != 400 {
		t.Fatalf("the metadata address through the network's NAT64 prefix: %d %v", status, out)
	}
	if status, out, _ := register(t, ts, iat, bcMetadata("https://[2001:67c:2b0:db64::5db8:d70e]/bc")); status != 201 {
		t.Fatalf("a public address through the network's NAT64 prefix: %d %v", status, out)
	}
	if err := outboundPolicy(ts.cfg).CheckAddr(netip.MustParseAddr("2001:67c:2b0:db64::a00:1")); err == nil {
		t.Fatal("the connection-time check lets a private address through the network's NAT64 prefix")
	}
}
