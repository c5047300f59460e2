package main

// The workshop's attack buttons, pressed as a new user would on the default
// demo: each shows the refusal it promises, whatever ran before it, and the
// gallery works afterwards.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"oauthdemo/e2e/harness"
)

// TestCodeInjectionUsesARealCode: outside lab mode, the injected code is a
// real one, from another login of this browser, so ImageHost refuses it
// for what the button says (PKCE: a verifier for a code issued without a
// challenge), and the page says so with a 4xx, not a 502.
func TestCodeInjectionUsesARealCode(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	_, page := u.get(a.URL + "/flow")
	resp, page := u.post(a.URL+"/flow/attack/code-injection", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "invalid_grant") || !strings.Contains(page, "no code_challenge") {
		t.Fatalf("code injection ended with %d, want 400 with ImageHost's PKCE refusal:\n%s", resp.StatusCode, page)
	}
	if _, page := u.get(a.URL + "/photos"); !strings.Contains(page, "Sunset over the sea") {
		t.Fatal("after the code injection the gallery no longer works")
	}
}

// TestAttacksDoNotInterfere: the demonstrations that make ImageHost revoke
// a grant (a replayed code, a reused refresh token) run on grants of their
// own; the ones after them still show their own refusal, and the gallery
// keeps working.
func TestAttacksDoNotInterfere(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	for _, tc := range []struct{ attack, want string }{
		{"replay-code", "ImageHost answered 400 invalid_grant"},
		{"read-token-write", "ImageHost answered 403 insufficient_scope"},
		{"reuse-refresh", "ImageHost answered 400 invalid_grant"},
		{"wrong-verifier", "ImageHost answered 400 invalid_grant"},
		{"altered-signature", "ImageHost answered 401 invalid_token"},
		{"read-token-write", "ImageHost answered 403 insufficient_scope"},
		{"replay-code", "ImageHost answered 400 invalid_grant"},
	} {
		if page := a.attack(u, tc.attack); !strings.Contains(page, tc.want) {
			t.Fatalf("%s: %q is not on the page:\n%s", tc.attack, tc.want, page)
		}
	}
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.Path != "/photos" || !strings.Contains(page, "Sunset over the sea") {
		t.Fatalf("after the attacks the gallery ended at %s:\n%s", resp.Request.URL, page)
	}
	// The HAR export gives each redirect its redirectURL, Connect's too.
	if _, har := u.get(a.URL + "/flow/export.har"); !strings.Contains(har, `"redirectURL": "`+a.imageHost.URL+`/authorize?`) {
		t.Fatal("the HAR export's redirect to ImageHost has no redirectURL")
	}
}

// TestExpiredTokenNeverShowsALiveOne: the expired-token button sends only a
// token past its exp. Right after a refresh the older token is still valid
// at ImageHost: the button says when it expires instead of showing
// ImageHost accept it.
func TestExpiredTokenNeverShowsALiveOne(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	_, page := u.get(a.URL + "/flow")
	u.post(a.URL+"/flow/expire", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
	u.get(a.URL + "/photos") // refreshes: the app now holds a newer token
	page = a.attack(u, "expired-token")
	if strings.Contains(page, "ImageHost answered 200") || !strings.Contains(page, "has reached its exp yet") {
		t.Fatalf("the expired-token button with no expired token:\n%s", page)
	}
}

// TestTokenChangesTakeTurns: with an expired access token, gallery
// requests (which refresh) and the read-token-write narrowing (which
// rotates the refresh token too), released together on one session, change
// its tokens one at a time (tokenKeeper.update). Had two sent the same
// refresh token, ImageHost would have revoked the family (RFC 9700
// §4.14.2) and the gallery would fail afterwards.
func TestTokenChangesTakeTurns(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	_, page := u.get(a.URL + "/flow")
	csrf := url.Values{"_csrf": {hidden(page).Get("_csrf")}}
	u.post(a.URL+"/flow/expire", csrf)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			<-start
			var resp *http.Response
			var err error
			if i%2 == 0 {
				resp, err = u.client.PostForm(a.URL+"/flow/attack/read-token-write", csrf)
			} else {
				resp, err = u.client.Get(a.URL + "/photos")
			}
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	close(start)
	wg.Wait()
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.Path != "/photos" || !strings.Contains(page, "Sunset over the sea") {
		t.Fatalf("after the burst the gallery ended at %s:\n%s", resp.Request.URL, page)
	}
	// One refresh for the expired token, and three narrowings.
	if n := a.session(u).Refreshes; n != 4 {
		t.Fatalf("the session's tokens were rotated %d times, want 4", n)
	}
}

// TestExpiredTokenAtOnce: on the default demo, whose tokens live 5
// minutes, the expired-token button shows ImageHost's real refusal of a
// token past its exp at once: a token of the expiry client, which lives a
// second, waited out. The refusal is recorded with its WWW-Authenticate.
func TestExpiredTokenAtOnce(t *testing.T) {
	a := newTestAppWith(t, func(c *Config) {
		c.ExpiryClientID, c.ExpiryClientSecret = harness.ExpiryClientID, harness.ExpiryClientSecret
	})
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	page := a.attack(u, "expired-token")
	for _, want := range []string{"ImageHost answered 401 invalid_token", "the token has expired", `WWW-Authenticate: Bearer`} {
		if !strings.Contains(htmlUnescape(page), want) {
			t.Fatalf("the expired-token button: %q is not on the page:\n%s", want, page)
		}
	}
	_, md := u.get(a.URL + "/flow/export.md")
	if !strings.Contains(md, "401") || !strings.Contains(md, "Www-Authenticate") {
		t.Fatalf("the recorded flow lacks the API's 401 and its challenge:\n%s", md)
	}
}
