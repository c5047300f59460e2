package main

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"oauthdemo/authserver/oauth"
)

// logoutReceiver is an app's back-channel logout endpoint: it records the
// logout tokens ImageHost posts to it.
type logoutReceiver struct {
	mu     sync.Mutex
	tokens []string
	srv    *httptest.Server
}

func newLogoutReceiver(t *testing.T, ts *testServer) *logoutReceiver {
	lr := &logoutReceiver{}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		lr.mu.Lock()
		lr.tokens = append(lr.tokens, r.PostForm.Get("logout_token"))
		lr.mu.Unlock()
	}))
	t.Cleanup(lr.srv.Close)
	c, _ := ts.store.ClientByID(context.Background(), appID)
	c.BackchannelLogoutURI = lr.srv.URL + "/backchannel-logout"
	// Deleting a client revokes the tokens issued up to then, to the
	// second; dated a minute back, the deletion spares the new client's.
	ts.store.DeleteClient(context.Background(), appID, ts.clock.now().Add(-time.Minute))
	if err := ts.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return lr
}

// claims verifies the i-th logout token with the JWKS and returns its claims.
func (lr *logoutReceiver) claims(t *testing.T, ts *testServer, i int) logoutTokenClaims {
	t.Helper()
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if len(lr.tokens) <= i {
		t.Fatalf("got %d logout tokens, want at least %d", len(lr.tokens), i+1)
	}
	payload, _, e := oauth.VerifyJWT(lr.tokens[i], ts.keys, jose.RS256)
	if e != nil {
		t.Fatalf("logout token: %v", e)
	}
	var c logoutTokenClaims
	json.Unmarshal(payload, &c)
	if c.Issuer != ts.URL || len(c.Audience) != 1 || c.Audience[0] != appID || c.Events[backchannelLogoutEvent] == nil {
		t.Fatalf("logout token claims = %+v", c)
	}
	if strings.Contains(string(payload), "nonce") {
		t.Fatal("a logout token must not contain a nonce")
	}
	return c
}

func TestRPInitiatedLogoutWithBackChannel(t *testing.T) {
	ts := newTestServer(t)
	lr := newLogoutReceiver(t, ts)
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
	b := ts.browser()
	tok, idToken := c.login(t, b, "alice", "wonderland")
	var sid struct {
		SID string `json:"sid"`
	}
	idToken.Claims(&sid)

	rawID := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"bye"}}
	loc := location(t, b.get("/logout?"+q.Encode()))
	if loc.String() != appLoggedOut+"?state=bye" {
		t.Fatalf("logout redirected to %s", loc)
	}
	got := lr.claims(t, ts, 0)
	if got.Subject != "sub-alice" || got.SID != sid.SID {
		t.Fatalf("logout token sub %q sid %q, want sub-alice and the ID token's sid %q", got.Subject, got.SID, sid.SID)
	}
	// The ImageHost session is gone.
	loc = location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge("x"+strings.Repeat("y", 42)), "prompt", "none")))
	if loc.Query().Get("error") != "login_required" {
		t.Fatalf("after logout, prompt=none: %s", loc)
	}
}

func TestLogoutRefusesUnregisteredRedirect(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	for _, q := range []url.Values{
		{"client_id": {appID}, "post_logout_redirect_uri": {"https://evil.example/"}},
		{"post_logout_redirect_uri": {appLoggedOut}}, // no client to check it against
		{"id_token_hint": {"not.a.token"}},
	} {
		resp := b.get("/logout?" + q.Encode())
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("%v: %s Location %q", q, resp.Status, resp.Header.Get("Location"))
		}
	}
}

func TestLogoutWithoutHintAsksFirst(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	loginForm(t, b, "alice", "wonderland").Body.Close()
	resp := b.get("/logout")
	page := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, "Sign out of ImageHost?") {
		t.Fatalf("logout link without hint: %d", resp.StatusCode)
	}
	if !strings.Contains(body(t, b.get("/account")), "Hello, Alice") {
		t.Fatal("a GET without confirmation signed the user out")
	}
	form := formValues(t, page)
	resp = b.post("/logout", form)
	if page := body(t, resp); !strings.Contains(page, "You are signed out") {
		t.Fatalf("confirmed logout: %d", resp.StatusCode)
	}
	if loc := location(t, b.get("/account")); loc.Path != "/login" {
		t.Fatal("still signed in after logout")
	}
}

func TestAccountRevokeAccess(t *testing.T) {
	ts := newTestServer(t)
	lr := newLogoutReceiver(t, ts)
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "offline_access", "photos.read")
	b := ts.browser()
	tok, _ := c.login(t, b, "alice", "wonderland")

	page := body(t, b.get("/account"))
	if !strings.Contains(page, "Test App") || !strings.Contains(page, "Revoke access") {
		t.Fatalf("account page does not list the app:\n%s", page)
	}
	form := formValues(t, page)
	form.Set("client_id", appID)
	loc := location(t, b.post("/account/revoke", form))
	if !strings.Contains(body(t, b.get(loc.String())), "Test App no longer has access") {
		t.Fatal("no confirmation after revoking")
	}
	if _, errCode, _ := tokenError(t, refreshWith(t, ts, tok.RefreshToken)); errCode != "invalid_grant" {
		t.Fatalf("refresh after revoke: %s", errCode)
	}
	if got := lr.claims(t, ts, 0); got.Subject != "sub-alice" || got.SID != "" {
		t.Fatalf("revoke's logout token: %+v", got)
	}
	// Consent is forgotten: the next authorization asks again.
	next := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(strings.Repeat("v", 43)))))
	if next.Path != "/consent" {
		t.Fatalf("after revoke, authorization went to %s, want /consent", next)
	}
}

func TestActivityLog(t *testing.T) {
	ts := newTestServer(t)
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "offline_access", "photos.read")
	b := ts.browser()
	tok, _ := c.login(t, b, "alice", "wonderland")
	// A wrong PKCE verifier, and a refresh token reused.
	code, _ := ts.codeFor(t, b, "openid")
	tokenError(t, redeem(t, ts, code, oauth.NewToken())) // a well-formed verifier of another login
	refreshToken(t, refreshWith(t, ts, tok.RefreshToken))
	tokenError(t, refreshWith(t, ts, tok.RefreshToken))

	page := body(t, b.get("/account"))
	for _, want := range []string{"signed in", "consent given", "authorization code issued", "tokens issued for a code",
		"PKCE: BASE64URL(SHA256(code_verifier))", "refresh token rotated", "refresh token reuse detected", `id="req-`} {
		if !strings.Contains(page, want) {
			t.Errorf("the account page's activity lacks %q", want)
		}
	}
	if strings.Contains(page, tok.RefreshToken) || strings.Contains(page, code) {
		t.Fatal("the activity log shows a token or code")
	}
	// Bob sees none of it.
	other := ts.browser()
	loginForm(t, other, "bob", "builder").Body.Close()
	if strings.Contains(body(t, other.get("/account")), "refresh token reuse detected") {
		t.Fatal("bob sees alice's activity")
	}
}

// TestLogoutRedirectsOnlyWithAHint: RP-Initiated Logout §3 forbids
// post-logout redirection unless the OP can confirm the target. A client_id
// with one of its registered post_logout_redirect_uris is no confirmation
// (anyone may register a client at /register, and so an open redirect
// through ImageHost): the visitor, signed in or not, gets ImageHost's
// signed-out page and no redirect. With the client's ID token as hint,
// expired or not, the app gets its user back.
func TestLogoutRedirectsOnlyWithAHint(t *testing.T) {
	ts := newTestServer(t)
	q := url.Values{"client_id": {appID}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"x"}}

	resp := ts.browser().get("/logout?" + q.Encode())
	if page := body(t, resp); resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || !strings.Contains(page, "You are signed out") {
		t.Fatalf("no hint, signed out: %s Location %q, want 200 and the signed-out page", resp.Status, resp.Header.Get("Location"))
	}

	b := ts.browser()
	loginForm(t, b, "alice", "wonderland").Body.Close()
	form := formValues(t, body(t, b.get("/logout?"+q.Encode())))
	resp = b.post("/logout", form)
	if page := body(t, resp); resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || !strings.Contains(page, "You are signed out") {
		t.Fatalf("no hint, confirmed: %s Location %q, want 200 and the signed-out page", resp.Status, resp.Header.Get("Location"))
	}

	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid")
	tok, _ := c.login(t, b, "alice", "wonderland")
	ts.clock.advance(2 * time.Hour) // the ID token has expired: it still names the app
	q.Set("id_token_hint", tok.Extra("id_token").(string))
	if loc := location(t, b.get("/logout?"+q.Encode())); loc.String() != appLoggedOut+"?state=x" {
		t.Fatalf("with the app's expired ID token as hint: sent to %s", loc)
	}
}

// TestLogoutRedirectsUserRegisteredClientOnlyForItsOwnSession: whoever
// registers a client at /register with a post_logout_redirect_uri of theirs
// can sign in to it with their own account and keep its ID token as a hint
// for ever (an expired hint still names the client). A link to /logout
// with that hint must not send anyone else's browser on to the registrant's
// page: not one with no session, not another user's after they confirm. The
// hint of the session being ended, the app signing out its own user, still
// goes back to the app; so does the operator's app, as before.
func TestLogoutRedirectsUserRegisteredClientOnlyForItsOwnSession(t *testing.T) {
	ts := newTestServer(t)
	const (
		rpRedirect = "https://rp.example/cb"
		evil       = "https://evil.example/phish"
	)
	status, reg, _ := register(t, ts, iat, `{"client_name":"Totally ImageHost","redirect_uris":["`+rpRedirect+`"],`+
		`"post_logout_redirect_uris":["`+evil+`"],"scope":"openid"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	rp := newStandardClient(t, ts, reg["client_id"].(string), reg["client_secret"].(string), rpRedirect, "openid")
	attacker := ts.browser()
	tok, _ := rp.login(t, attacker, "bob", "builder")
	hint := tok.Extra("id_token").(string)
	ts.clock.advance(2 * time.Hour) // expired, the hint still names the client
	link := "/logout?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {evil}, "state": {"x"}}.Encode()

	signedOutPage := func(t *testing.T, resp *http.Response) {
		t.Helper()
		page := body(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || !strings.Contains(page, "You are signed out") {
			t.Fatalf("%s Location %q: want ImageHost's signed-out page and no redirect", resp.Status, resp.Header.Get("Location"))
		}
	}
	t.Run("a browser with no session", func(t *testing.T) {
		signedOutPage(t, ts.browser().get(link))
	})
	t.Run("another user, signed in, who confirms", func(t *testing.T) {
		alice := ts.browser()
		loginForm(t, alice, "alice", "wonderland").Body.Close()
		page := body(t, alice.get(link))
		if !strings.Contains(page, "Sign out of ImageHost?") {
			t.Fatal("another user's hint signed alice out without asking")
		}
		form := hiddenFields(page)
		if form.Get("id_token_hint") != hint || form.Get("post_logout_redirect_uri") != evil {
			t.Fatalf("the confirmation does not carry the request on: %v", form)
		}
		signedOutPage(t, alice.post("/logout", form))
		if loc := location(t, alice.get("/account")); loc.Path != "/login" {
			t.Fatal("alice confirmed, and is still signed in")
		}
	})
	t.Run("the same user, in another session, who confirms", func(t *testing.T) {
		bob := ts.browser()
		loginForm(t, bob, "bob", "builder").Body.Close()
		page := body(t, bob.get(link)) // the hint's sub is bob, its sid another session's
		if !strings.Contains(page, "Sign out of ImageHost?") {
			t.Fatal("the hint of another session signed bob out without asking")
		}
		signedOutPage(t, bob.post("/logout", hiddenFields(page)))
	})
	t.Run("the app signing out its own user's session", func(t *testing.T) {
		if loc := location(t, attacker.get(link)); loc.String() != evil+"?state=x" {
			t.Fatalf("the hint of the session being ended: sent to %s, want the app's post-logout URI", loc)
		}
		if loc := location(t, attacker.get("/account")); loc.Path != "/login" {
			t.Fatal("still signed in after logout")
		}
	})
	t.Run("the operator's app, its hint with no session", func(t *testing.T) {
		app := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid")
		tok, _ := app.login(t, ts.browser(), "alice", "wonderland")
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"y"}}
		if loc := location(t, ts.browser().get("/logout?"+q.Encode())); loc.String() != appLoggedOut+"?state=y" {
			t.Fatalf("the operator's app: sent to %s", loc)
		}
	})
}

// TestLogoutAsksUnlessTheHintNamesThisSession: an app the user once signed
// in to keeps their ID token, and an expired one still verifies. Were a
// hint naming the user enough, a link with it, from any site, would sign
// them out without asking in every later session, and end, by back-channel
// logout, their sessions at every app. Only the hint of the session being
// ended skips the question; one of an earlier session, or one naming no
// session (as the device grant's does), is asked about.
func TestLogoutAsksUnlessTheHintNamesThisSession(t *testing.T) {
	ts := newTestServer(t)
	app := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid")
	alice := ts.browser()
	tok, _ := app.login(t, alice, "alice", "wonderland")
	oldHint := tok.Extra("id_token").(string)
	confirm := func(t *testing.T, b *browser, hint string) {
		t.Helper()
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {appLoggedOut}}
		resp := b.get("/logout?" + q.Encode())
		if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Sign out of ImageHost?") {
			t.Fatalf("%s Location %q: want the confirmation page", resp.Status, resp.Header.Get("Location"))
		}
		if !strings.Contains(body(t, b.get("/account")), "Hello, Alice") {
			t.Fatal("signed out without confirming")
		}
	}

	// Alice signs out and in again: a new session, with a new sid.
	form := formValues(t, body(t, alice.get("/logout")))
	alice.post("/logout", form).Body.Close()
	loginForm(t, alice, "alice", "wonderland").Body.Close()
	ts.clock.advance(2 * time.Hour) // expired, the hint still verifies
	t.Run("a hint of an earlier session", func(t *testing.T) {
		confirm(t, alice, oldHint)
	})
	t.Run("a hint naming no session", func(t *testing.T) {
		m := minter{issuer: ts.URL, keys: ts.keys, idTTL: time.Hour}
		user, err := ts.store.UserByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		client, _ := ts.store.ClientByID(context.Background(), appID)
		noSID, err := m.idToken(ts.clock.now(), client, user, oauth.Scope{"openid"}, "", "", signInMethod{authTime: ts.clock.now()}, "")
		if err != nil {
			t.Fatal(err)
		}
		confirm(t, alice, noSID)
	})
	t.Run("the hint of this session", func(t *testing.T) {
		tok, _ := app.login(t, alice, "alice", "wonderland") // the app's own sign-in, in this session
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {appLoggedOut}}
		if loc := location(t, alice.get("/logout?"+q.Encode())); loc.String() != appLoggedOut {
			t.Fatalf("the app signing out its own session: sent to %s", loc)
		}
		if loc := location(t, alice.get("/account")); loc.Path != "/login" {
			t.Fatal("still signed in after logout")
		}
	})
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)"`)

// hiddenFields reads every hidden field of a page, as the browser posts
// them back with its form.
func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}
