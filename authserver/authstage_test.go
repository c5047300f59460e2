package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
)

// authTimeOf redeems code and returns the ID token's auth_time.
func authTimeOf(t *testing.T, ts *testServer, code, verifier string) time.Time {
	t.Helper()
	resp := redeem(t, ts, code, verifier)
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("redeem: %s %v", resp.Status, err)
	}
	parts := strings.Split(tok.IDToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	json.Unmarshal(payload, &claims)
	return time.Unix(claims.AuthTime, 0)
}

// pendingAt starts an authorization request in b and returns the request
// id of the login or consent page it is sent to.
func pendingAt(t *testing.T, ts *testServer, b *browser, wantPath, authURL string) string {
	t.Helper()
	loc := location(t, b.get(authURL))
	if loc.Path != wantPath {
		t.Fatalf("authorize went to %s, want %s", loc, wantPath)
	}
	return loc.Query().Get("request")
}

// consentForm is what the consent page's form would post for request id,
// allow, with the browser's CSRF token for its current session, taken from
// a page the browser can open whether the consent page would show or not.
func consentForm(t *testing.T, b *browser, id string) url.Values {
	t.Helper()
	resp := b.get("/account")
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		resp = b.get("/login")
	}
	token := formValues(t, body(t, resp)).Get(csrfField)
	if token == "" {
		t.Fatal("no page gave the browser a CSRF token")
	}
	return url.Values{csrfField: {token}, "request": {id}, "decision": {"allow"}}
}

// TestFreshLoginCannotBeSkipped: with a session open, prompt=login and
// max_age send the browser to /login; going straight to /consent instead
// must not give a code, and the code that the fresh login gives carries the
// fresh auth_time.
func TestFreshLoginCannotBeSkipped(t *testing.T) {
	for _, tc := range []struct{ name, param, value string }{
		{"prompt=login", "prompt", "login"},
		{"max_age=0", "max_age", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			b := ts.browser()
			b.authorize(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier())), "alice", "wonderland")
			ts.clock.advance(time.Minute)

			verifier := oauth2.GenerateVerifier()
			id := pendingAt(t, ts, b, "/login", ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(verifier), tc.param, tc.value))
			resp := b.get("/consent?request=" + url.QueryEscape(id))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("GET /consent before the fresh login: %s, want a redirect to /login", resp.Status)
			}
			if loc := location(t, resp); loc.Path != "/login" {
				t.Fatalf("GET /consent before the fresh login went to %s", loc)
			}
			if loc := location(t, b.post("/consent", consentForm(t, b, id))); loc.Path != "/login" || loc.Query().Has("code") {
				t.Fatalf("POST /consent before the fresh login went to %s, want /login", loc)
			}

			// The fresh login: its time is in the ID token.
			signedInAt := ts.clock.now().Truncate(time.Second)
			back := location(t, loginAt(t, b, "/login?request="+url.QueryEscape(id), "alice", "wonderland"))
			code := back.Query().Get("code")
			if code == "" {
				t.Fatalf("after the fresh login: %s", back)
			}
			if at := authTimeOf(t, ts, code, verifier); at.Before(signedInAt) {
				t.Fatalf("auth_time %v is older than the fresh login at %v", at, signedInAt)
			}
		})
	}
}

// TestConsentNeedsThisRequestsLogin: a login for a request binds it to that
// login's session. Another session, even of the same user, must sign in
// again; a session that ended must too; another browser cannot use the
// request at all.
func TestConsentNeedsThisRequestsLogin(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	id := pendingAt(t, ts, b, "/login", ts.authURL(appID, appRedirect, "openid photos.read", "s",
		oauth.S256Challenge(oauth2.GenerateVerifier()), "prompt", "login"))
	if loc := location(t, loginAt(t, b, "/login?request="+url.QueryEscape(id), "alice", "wonderland")); loc.Path != "/consent" {
		t.Fatalf("after the login for the request: %s", loc)
	}

	// Another browser's session opens the consent page: refused.
	other := ts.browser()
	loginForm(t, other, "alice", "wonderland").Body.Close()
	resp := other.get("/consent?request=" + url.QueryEscape(id))
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "another browser") {
		t.Fatalf("another browser's consent page: %s", resp.Status)
	}

	// The other session's cookie, carried into this browser: alice still,
	// but not the login this request had.
	issuer, _ := url.Parse(ts.URL)
	for _, c := range other.client.Jar.Cookies(issuer) {
		if c.Name == sessionCookie {
			b.client.Jar.SetCookies(issuer, []*http.Cookie{{Name: sessionCookie, Value: c.Value, Path: "/"}})
		}
	}
	if loc := location(t, b.post("/consent", consentForm(t, b, id))); loc.Path != "/login" {
		t.Fatalf("consent from another session of the same user went to %s, want /login", loc)
	}

	// Log in for the request again, then the session ends before Allow.
	if loc := location(t, loginAt(t, b, "/login?request="+url.QueryEscape(id), "alice", "wonderland")); loc.Path != "/consent" {
		t.Fatalf("after logging in again: %s", loc)
	}
	for _, c := range b.client.Jar.Cookies(issuer) {
		if c.Name == sessionCookie {
			sess, err := ts.store.SessionByTokenHash(context.Background(), oauth.HashToken(c.Value))
			if err != nil {
				t.Fatal(err)
			}
			ts.store.EndSession(context.Background(), sess.ID, "test", ts.clock.now())
		}
	}
	if loc := location(t, b.post("/consent", consentForm(t, b, id))); loc.Path != "/login" {
		t.Fatalf("consent after the session ended went to %s, want /login", loc)
	}
}

// warmClient is b with n connections open to the server already, so that a
// burst's requests reach it together rather than one dial after another.
func warmClient(t *testing.T, b *browser, n int) *http.Client {
	t.Helper()
	c := *b.client
	c.Transport = &http.Transport{MaxIdleConnsPerHost: n}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := c.Get(b.ts.URL + "/healthz"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return &c
}

// TestConsentGivesOneCode: the consent form posted many times at once, as
// a double click or a replay would, ends the request once.
func TestConsentGivesOneCode(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	id := pendingAt(t, ts, b, "/login", ts.authURL(appID, appRedirect, "openid photos.read", "s", oauth.S256Challenge(oauth2.GenerateVerifier())))
	if loc := location(t, loginAt(t, b, "/login?request="+url.QueryEscape(id), "alice", "wonderland")); loc.Path != "/consent" {
		t.Fatalf("after login: %s", loc)
	}
	allow := consentForm(t, b, id)

	const n = 20
	client := warmClient(t, b, n)
	codes := make(chan string, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			resp, err := client.PostForm(ts.URL+"/consent", allow)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if loc, err := resp.Location(); err == nil && loc.Query().Get("code") != "" {
				codes <- loc.Query().Get("code")
			} else if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("a consent that gave no code: %s, want 400", resp.Status)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(codes)
	if got := len(codes); got != 1 {
		t.Fatalf("%d codes for one authorization request, want 1", got)
	}
	// And replayed later: the request has ended.
	resp := b.post("/consent", allow)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "expired") {
		t.Fatalf("consent replayed after the code: %s", resp.Status)
	}
}

// TestConsentForARemovedClient: a client deleted while its request waits
// for consent gets no code, and the user an error page, not a 500.
func TestConsentForARemovedClient(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	id := pendingAt(t, ts, b, "/login", ts.authURL(appID, appRedirect, "openid photos.read", "s", oauth.S256Challenge(oauth2.GenerateVerifier())))
	location(t, loginAt(t, b, "/login?request="+url.QueryEscape(id), "alice", "wonderland"))
	if err := ts.store.DeleteClient(context.Background(), appID, ts.clock.now()); err != nil {
		t.Fatal(err)
	}
	resp := b.post("/consent", consentForm(t, b, id))
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("consent for a removed client: %s %s", resp.Status, resp.Header.Get("Location"))
	}
}
