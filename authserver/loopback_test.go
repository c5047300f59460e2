package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// TestLoopbackRedirectAnyPort: RFC 8252 §7.3 lets a native app's loopback
// redirect URI name any port; nothing else about it may change, and a
// confidential client's may not change at all.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	ts := newDeviceServer(t)
	ctx := context.Background()
	if err := ts.store.CreateClient(ctx, store.Client{ID: "web-on-loopback", SecretHash: oauth.HashToken("secret-0123456789abcdef0123456789"),
		Name: "Confidential", RedirectURIs: []string{"http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code"},
		Scope: "openid", CreatedAt: ts.clock.now()}); err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	challenge := oauth.S256Challenge(verifier)
	tests := []struct {
		client, redirect string
		ok               bool
	}{
		{cliID, "http://127.0.0.1:54321/callback", true},
		{cliID, "http://127.0.0.1/callback", true},
		{cliID, "http://127.0.0.1:54321/callback/", false},
		{cliID, "http://127.0.0.1:54321/other", false},
		{cliID, "http://127.0.0.1:54321/callback?x=1", false},
		{cliID, "http://localhost:54321/callback", false},
		{cliID, "http://127.0.0.2:54321/callback", false},
		{cliID, "https://127.0.0.1:54321/callback", false},
		{cliID, "http://127.0.0.1:54321@evil.example/callback", false},
		{cliID, "http://evil.example:54321/callback", false},
		{"web-on-loopback", "http://127.0.0.1:54321/callback", false},
	}
	for _, tc := range tests {
		t.Run(tc.client+" "+tc.redirect, func(t *testing.T) {
			resp := ts.browser().get(ts.authURL(tc.client, tc.redirect, "openid", "s", challenge))
			resp.Body.Close()
			accepted := resp.StatusCode == http.StatusSeeOther
			if accepted {
				loc, _ := resp.Location()
				accepted = loc.Path == "/login"
			}
			if accepted != tc.ok {
				t.Fatalf("%s for %s: %s (accepted %v), want accepted %v", tc.redirect, tc.client, resp.Status, accepted, tc.ok)
			}
		})
	}
	// The whole flow on an ephemeral port, with PKCE: the code comes back
	// to the port asked for, and redeems only with that same URI.
	redirect := "http://127.0.0.1:54321/callback"
	back := ts.browser().authorize(ts.authURL(cliID, redirect, "openid", "st", challenge), "alice", "wonderland")
	if back.Host != "127.0.0.1:54321" || back.Query().Get("code") == "" {
		t.Fatalf("sent back to %s", back)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	if status, code, _ := tokenError(t, backChannel(t, ts.URL, "/token", cliID, "", cloneValues(form, "redirect_uri", "http://127.0.0.1:1/callback"))); code != "invalid_grant" {
		t.Fatalf("redeemed with another port: %d %s", status, code)
	}
}

func cloneValues(v url.Values, kv ...string) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	return c
}

// TestPublicClientAsksEveryTime: a page or program on this computer sends
// the signed-in user's browser to /authorize for the public command-line
// client, which the user allowed before, with its own loopback port and its
// own PKCE challenge (RFC 8252 §8.6's impersonation). It gets the consent
// page, which names the port, and no code; with prompt=none,
// consent_required. A confidential client the user allowed still gets its
// code without a page.
func TestPublicClientAsksEveryTime(t *testing.T) {
	ts := newDeviceServer(t)
	b := ts.browser()
	// The user's own sign-in with the command: allowed once.
	own := b.authorize(ts.authURL(cliID, "http://127.0.0.1:50123/callback", cliScope, "s", oauth.S256Challenge(oauth2.GenerateVerifier())), "alice", "wonderland")
	if own.Query().Get("code") == "" {
		t.Fatalf("the user's own sign-in: sent to %s", own)
	}

	attacker := "http://127.0.0.1:59298/callback"
	challenge := oauth.S256Challenge(oauth2.GenerateVerifier())
	loc := location(t, b.get(ts.authURL(cliID, attacker, cliScope, "s", challenge)))
	if loc.Path != "/consent" || loc.Query().Get("code") != "" {
		t.Fatalf("another port, consent given before: sent to %s, want the consent page", loc)
	}
	page := body(t, b.get(loc.String()))
	if !strings.Contains(page, "a program on this computer, at port 59298") || !strings.Contains(page, "Allow only if you started this yourself") {
		t.Fatalf("the consent page does not say where the answer goes:\n%s", page)
	}

	loc = location(t, b.get(ts.authURL(cliID, attacker, cliScope, "s", challenge, "prompt", "none")))
	if loc.Host != "127.0.0.1:59298" || loc.Query().Get("error") != "consent_required" || loc.Query().Get("code") != "" {
		t.Fatalf("prompt=none for a public client: sent to %s, want consent_required", loc)
	}

	// A confidential client authenticates at the token endpoint: what the
	// user allowed it before still stands.
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
	c.login(t, b, "alice", "wonderland")
	loc = location(t, b.get(ts.authURL(appID, appRedirect, "openid photos.read", "s", challenge)))
	if loc.Query().Get("code") == "" {
		t.Fatalf("a confidential client allowed before: sent to %s, want a code", loc)
	}
}
