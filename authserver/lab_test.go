package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// flip sets a lab switch through the lab page, as a teacher would.
func flip(t *testing.T, ts *testServer, b *browser, defence string, on bool) {
	t.Helper()
	form := formValues(t, body(t, b.get("/lab")))
	form.Set("defence", defence)
	form.Set("on", map[bool]string{true: "true", false: "false"}[on])
	if loc := location(t, b.post("/lab", form)); loc.Path != "/lab" {
		t.Fatalf("lab switch went to %s", loc)
	}
}

func TestLabSwitches(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	b := ts.browser()
	if page := body(t, b.get("/login")); !strings.Contains(page, "LAB MODE") {
		t.Fatal("a page in lab mode does not say so")
	}

	// PKCE off: a code redeems with any verifier; back on: refused.
	flip(t, ts, b, defencePKCE, false)
	code, _ := ts.codeFor(t, b, "openid")
	if status, errCode, _ := tokenError(t, redeem(t, ts, code, oauth2.GenerateVerifier())); status != 200 {
		t.Fatalf("PKCE off, wrong verifier: %d %s, want 200", status, errCode)
	}
	flip(t, ts, b, defencePKCE, true)
	code, _ = ts.codeFor(t, b, "openid")
	if _, errCode, _ := tokenError(t, redeem(t, ts, code, oauth2.GenerateVerifier())); errCode != "invalid_grant" {
		t.Fatalf("PKCE back on, wrong verifier: %s", errCode)
	}

	// Reuse detection off: a spent refresh token still works, nothing revoked.
	rt0 := ts.userToken(t, "alice", "wonderland", "offline_access").RefreshToken
	rt1 := refreshToken(t, refreshWith(t, ts, rt0))
	flip(t, ts, b, defenceReuse, false)
	if status, errCode, _ := tokenError(t, refreshWith(t, ts, rt0)); status != 200 {
		t.Fatalf("reuse detection off, spent token: %d %s, want 200", status, errCode)
	}
	rt2 := refreshToken(t, refreshWith(t, ts, rt1)) // the family lives on
	flip(t, ts, b, defenceReuse, true)
	if _, errCode, _ := tokenError(t, refreshWith(t, ts, rt0)); errCode != "invalid_grant" {
		t.Fatalf("reuse detection back on: %s", errCode)
	}
	if _, errCode, _ := tokenError(t, refreshWith(t, ts, rt2)); errCode != "invalid_grant" {
		t.Fatalf("after the caught reuse the family must be revoked: %s", errCode)
	}
	// The switches need the CSRF token.
	resp := b.post("/lab", url.Values{"defence": {defencePKCE}, "on": {"false"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("lab switch without CSRF token: %d", resp.StatusCode)
	}
}

func TestNoLabOutsideLabMode(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.browser().get("/lab")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/lab outside lab mode: %d", resp.StatusCode)
	}
	if page := body(t, ts.browser().get("/login")); strings.Contains(page, "LAB MODE") {
		t.Fatal("the lab banner shows outside lab mode")
	}
	cfg, _ := parseConfig([]string{"-lab", "-addr", "0.0.0.0:9090"}, env(), io.Discard)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("lab mode on a public address: %v", err)
	}
}
