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

// TestLabAnswersOnlyLoopbackNames: a page on another site that rebinds its
// own host name to 127.0.0.1 (DNS rebinding) reaches the lab with that name
// in the Host header, and can read what the lab answers it: the page, its
// CSRF token and cookie, then post a switch. The lab must answer such a
// request with neither the page nor a switch.
func TestLabAnswersOnlyLoopbackNames(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	b := ts.browser()
	form := formValues(t, body(t, b.get("/lab")))
	form.Set("defence", defencePKCE)
	form.Set("on", "false")
	// The rebinding page's requests: its own Host, and a CSRF cookie and
	// token that match (on its own origin it could read both).
	do := func(method, host string) (*http.Response, string) {
		t.Helper()
		var r io.Reader
		if method == http.MethodPost {
			r = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, ts.URL+"/lab", r)
		req.Host = host
		req.AddCookie(&http.Cookie{Name: csrfCookie, Value: form.Get(csrfField)})
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body(t, resp)
	}
	for _, host := range []string{"attacker.example", "attacker.example:9090", "localhost.attacker.example",
		"127.0.0.1.nip.io:9090", "0.0.0.0:9090"} {
		resp, page := do(http.MethodGet, host)
		if resp.StatusCode < 400 || resp.StatusCode > 499 || strings.Contains(page, `name="csrf_token"`) {
			t.Errorf("GET /lab with Host %q: %d, want a 4xx page without the form", host, resp.StatusCode)
		}
		if resp, _ := do(http.MethodPost, host); resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("POST /lab with Host %q: %d, want 4xx", host, resp.StatusCode)
		}
	}
	if !ts.labOn(t, b, defencePKCE) {
		t.Fatal("a forged Host switched PKCE off")
	}
	for _, host := range []string{"localhost", "LOCALHOST:9090", "127.0.0.1:9090", "127.1.2.3", "[::1]:9090", "[::1]"} {
		if resp, _ := do(http.MethodGet, host); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /lab with Host %q: %d, want 200", host, resp.StatusCode)
		}
	}
}

// labOn reads a switch off the lab page.
func (ts *testServer) labOn(t *testing.T, b *browser, defence string) bool {
	t.Helper()
	page := body(t, b.get("/lab"))
	i := strings.Index(page, `value="`+defence+`"`)
	if i < 0 {
		t.Fatalf("the lab page has no switch %q", defence)
	}
	return !strings.Contains(page[i:min(len(page), i+400)], `name="on" value="true"`)
}
