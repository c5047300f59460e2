package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// loginForm fills in the login page as user and posts it.
func loginForm(t *testing.T, b *browser, user, pw string) *http.Response {
	t.Helper()
	return loginAt(t, b, "/login", user, pw)
}

// loginAt fills in the login page at page, /login or a pending request's,
// as user and posts it.
func loginAt(t *testing.T, b *browser, page, user, pw string) *http.Response {
	t.Helper()
	form := formValues(t, body(t, b.get(page)))
	form.Set("username", user)
	form.Set("password", pw)
	return b.post("/login", form)
}

func TestLogin(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	resp := loginForm(t, b, "alice", "wonderland")
	if loc := location(t, resp); loc.Path != "/account" {
		t.Fatalf("login went to %s", loc)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure || session.Path != "/" {
		t.Fatalf("session cookie = %+v: want HttpOnly, SameSite=Lax (and Secure only under TLS)", session)
	}
	page := body(t, b.get("/account"))
	if !strings.Contains(page, "Hello, Alice") {
		t.Fatalf("account page:\n%s", page)
	}
	// A second login in the same browser gets a new session id.
	resp = loginForm(t, b, "alice", "wonderland")
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value == session.Value {
			t.Fatal("the session id was not renewed at login")
		}
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	ts := newTestServer(t)
	wrongPW := loginForm(t, ts.browser(), "alice", "not-her-password")
	unknown := loginForm(t, ts.browser(), "mallory", "whatever")
	a, b := body(t, wrongPW), body(t, unknown)
	if wrongPW.StatusCode != 401 || unknown.StatusCode != 401 {
		t.Fatalf("statuses %d, %d; want 401", wrongPW.StatusCode, unknown.StatusCode)
	}
	msg := "Wrong username or password."
	if !strings.Contains(a, msg) || !strings.Contains(b, msg) {
		t.Fatal("an unknown user and a wrong password must get the same message")
	}
	for _, c := range wrongPW.Cookies() {
		if c.Name == sessionCookie {
			t.Fatal("a failed login set a session cookie")
		}
	}
}

func TestLoginWithoutCSRFToken(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	b.get("/login").Body.Close() // the browser has a CSRF cookie, the forged form has no token
	resp := b.post("/login", map[string][]string{"username": {"alice"}, "password": {"wonderland"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF token: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			t.Fatal("a CSRF-less login set a session cookie")
		}
	}
}

func TestLoginThrottling(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	for i := range 5 {
		resp := loginForm(t, b, "alice", "guess")
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %s", i+1, resp.Status)
		}
	}
	// The sixth, even with the right password, waits.
	resp := loginForm(t, b, "alice", "wonderland")
	page := body(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many failed sign-ins") {
		t.Fatalf("after 5 failures: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	// Bob is not affected by guesses at alice's account.
	if resp := loginForm(t, ts.browser(), "bob", "builder"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another account: %s", resp.Status)
	}
	// The block ends by itself.
	ts.clock.advance(5*time.Minute + time.Second)
	if resp := loginForm(t, b, "alice", "wonderland"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %s", resp.Status)
	}
}

// TestLoginThrottleUnderABurst: 40 wrong passwords for alice at once are
// counted before any is checked, so only the limit of them is; once the
// block ends, her right password works again.
func TestLoginThrottleUnderABurst(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	form := formValues(t, body(t, b.get("/login")))
	form.Set("username", "alice")
	const n = 40
	counts := burst(t, n, func(i int) func() (*http.Response, error) {
		f := url.Values{"csrf_token": form["csrf_token"], "username": {"alice"}, "password": {fmt.Sprintf("guess-%d", i)}}
		return func() (*http.Response, error) { return b.client.PostForm(ts.URL+"/login", f) }
	})
	if counts[http.StatusUnauthorized] != accountAttempts || counts[http.StatusTooManyRequests] != n-accountAttempts {
		t.Fatalf("answers %v: want %d wrong-password answers and 429 for the rest", counts, accountAttempts)
	}
	if resp := loginForm(t, b, "alice", "wonderland"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right password during the block: %s", resp.Status)
	}
	ts.clock.advance(signInWindow + time.Second)
	if resp := loginForm(t, b, "alice", "wonderland"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right password after the block: %s", resp.Status)
	}
}

// TestLoginLongUsername: a username longer than any account's is refused
// with the usual answer, and never becomes a throttle key.
func TestLoginLongUsername(t *testing.T) {
	ts := newTestServer(t)
	resp := loginForm(t, ts.browser(), strings.Repeat("a", 10_000), "whatever")
	if page := body(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Wrong username or password.") {
		t.Fatalf("a 10,000-character username: %s", resp.Status)
	}
	out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", t.TempDir()), "correct horse\n", "users", "add", "-username", strings.Repeat("a", maxUsernameLength+1))
	if err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Fatalf("users add with a long username: %v\n%s", err, out)
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct{ name, remote, want string }{
		{"IPv4", "192.0.2.7:5555", "ip:192.0.2.7"},
		{"IPv6: its /64", "[2001:db8:1:2:3:4:5:6]:5555", "ip:2001:db8:1:2::"},
		{"another address of the same /64", "[2001:db8:1:2:ffff::1]:80", "ip:2001:db8:1:2::"},
		{"another /64", "[2001:db8:1:3::1]:80", "ip:2001:db8:1:3::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := addressKey(&http.Request{RemoteAddr: tc.remote}); got != tc.want {
				t.Fatalf("addressKey(%s) = %s, want %s", tc.remote, got, tc.want)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/login", "/", "/docs/dropped-grants", "/account"} {
		resp := ts.browser().get(path)
		resp.Body.Close()
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: missing security headers: %v", path, h)
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.browser().get("/token")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /token: %s Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
	resp = ts.browser().get("/nothing-here")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %s", resp.Status)
	}
}
