package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"oauthdemo/authserver/signing"
)

func TestDiscoveryDocuments(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		var md map[string]any
		getJSON(t, http.DefaultClient, ts.URL+path, &md)
		if md["issuer"] != ts.URL {
			t.Fatalf("%s: issuer %v, want exactly %s", path, md["issuer"], ts.URL)
		}
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "introspection_endpoint",
			"revocation_endpoint", "end_session_endpoint", "registration_endpoint"} {
			if md[k] == nil {
				t.Errorf("%s lacks %s", path, k)
			}
		}
		if md["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("%s: RFC 9207 support not advertised", path)
		}
	}
	var prm map[string]any
	getJSON(t, http.DefaultClient, ts.URL+"/.well-known/oauth-protected-resource", &prm)
	if prm["resource"] != ts.cfg.resource() {
		t.Fatalf("protected resource metadata: %v", prm)
	}
}

func TestJWKS(t *testing.T) {
	ts := newTestServer(t)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, http.DefaultClient, ts.URL+"/jwks", &set)
	algs := map[string]bool{}
	for _, k := range set.Keys {
		if k["kid"] == nil || k["alg"] == nil || k["use"] != "sig" {
			t.Fatalf("key without kid, alg or use: %v", k)
		}
		if k["d"] != nil || k["p"] != nil {
			t.Fatal("the JWKS leaks a private key")
		}
		algs[k["alg"].(string)] = true
	}
	if !algs["RS256"] || !algs["ES256"] {
		t.Fatalf("JWKS algorithms = %v, want RS256 and ES256", algs)
	}
}

func TestKeyRotation(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
	tok, _ := c.login(t, ts.browser(), "alice", "wonderland")
	oldKID := ts.keys.ActiveKeyID(signing.RS256)

	if err := signing.Rotate(ctx, ts.store, ts.clock.now(), 0); err != nil {
		t.Fatal(err)
	}
	if err := ts.keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if ts.keys.ActiveKeyID(signing.RS256) == oldKID {
		t.Fatal("rotation kept the old key active")
	}
	// Tokens signed before the rotation still verify: the old key stays published.
	if _, err := c.verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatalf("old ID token after rotation: %v", err)
	}
	resp := apiCall(t, "GET", ts.URL+"/api/photos", tok.AccessToken)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("old access token after rotation: %s", resp.Status)
	}
	// New tokens use the new key, and a fresh client verifies them.
	fresh := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
	tok2, _ := fresh.login(t, ts.browser(), "bob", "builder")
	raw := tok2.Extra("id_token").(string)
	if kid := headerKID(t, raw); kid != ts.keys.ActiveKeyID(signing.RS256) {
		t.Fatalf("new ID token signed with %s", kid)
	}
	// Once every old token has expired, the old key leaves the JWKS.
	ts.clock.advance(ts.cfg.maxTokenTTL() + 1)
	if err := ts.keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ts.keys.PublicKey(oldKID); ok {
		t.Fatal("retired key still published after its tokens expired")
	}
}

func headerKID(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}
