package main

import (
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
