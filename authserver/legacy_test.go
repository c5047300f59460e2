package main

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
)

// labRedirect is the lab client's redirect URI for a PhotoEditorApp at
// http://localhost:8080.
const labRedirect = "http://localhost:8080/lab/legacy/implicit"

// addLabClient registers the lab's legacy client in ts, as a start of the
// demo in lab mode would (lab_client.go).
func addLabClient(t *testing.T, ts *testServer) {
	t.Helper()
	if err := ts.store.CreateClient(context.Background(), labLegacyClient("http://localhost:8080", ts.clock.now())); err != nil {
		t.Fatal(err)
	}
}

// implicitURL is an authorization request with response_type=token.
func implicitURL(ts *testServer, clientID, redirectURI, state string, extra ...string) string {
	return ts.authURL(clientID, redirectURI, "photos.read", state, "", append([]string{"response_type", "token"}, extra...)...)
}

// passwordGrant sends grant_type=password as client (a public client when
// secret is ""), for username and pw.
func passwordGrant(t *testing.T, ts *testServer, client, secret, username, pw string) *http.Response {
	t.Helper()
	return backChannel(t, ts.URL, "/token", client, secret,
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {pw}})
}

// fragment returns the parameters of a redirect's fragment.
func fragment(t *testing.T, loc *url.URL) url.Values {
	t.Helper()
	f, err := url.ParseQuery(loc.EscapedFragment())
	if err != nil {
		t.Fatalf("fragment of %s: %v", loc.Redacted(), err)
	}
	return f
}

// assertLegacyRefused checks that both legacy grants are refused, each with
// the page that explains why, even for the lab's own client.
func assertLegacyRefused(t *testing.T, ts *testServer) {
	t.Helper()
	b := ts.browser()
	// The implicit grant, for a client registered for the code grant: the
	// error in the query, as every code client gets it.
	loc := location(t, b.get(implicitURL(ts, spaID, spaRedirect, "s")))
	if q := loc.Query(); q.Get("error") != "unsupported_response_type" || q.Get("error_uri") != ts.URL+"/docs/dropped-grants#implicit" || loc.Fragment != "" {
		t.Errorf("response_type=token: redirected to %s, want unsupported_response_type and the page that explains it", loc)
	}
	if _, err := ts.store.ClientByID(context.Background(), labLegacyClientID); err == nil {
		// The lab's client, registered for the implicit grant: in the
		// fragment (RFC 6749 §4.2.2.1), and still refused.
		loc := location(t, b.get(implicitURL(ts, labLegacyClientID, labRedirect, "s")))
		if f := fragment(t, loc); f.Get("error") != "unsupported_response_type" || f.Get("error_uri") != ts.URL+"/docs/dropped-grants#implicit" ||
			f.Get("access_token") != "" || f.Get("state") != "s" {
			t.Errorf("response_type=token for the lab client: redirected to %s, want unsupported_response_type in the fragment", loc.Redacted())
		}
	}
	for _, c := range []struct{ id, secret string }{{labLegacyClientID, ""}, {appID, appSecret}, {spaID, ""}} {
		status, code, uri := tokenError(t, passwordGrant(t, ts, c.id, c.secret, "alice", "wonderland"))
		if c.id == labLegacyClientID && !ts.hasLabClient() {
			if code != "invalid_client" {
				t.Errorf("password grant of a client that does not exist: %d %s, want invalid_client", status, code)
			}
			continue
		}
		if status != 400 || code != "unsupported_grant_type" || uri != ts.URL+"/docs/dropped-grants#password" {
			t.Errorf("password grant of %s: %d %s %q, want 400 unsupported_grant_type and the page that explains it", c.id, status, code, uri)
		}
	}
	page := body(t, b.get("/docs/dropped-grants"))
	for _, want := range []string{`id="implicit"`, `id="password"`, "RFC 9700 §2.1.2", "RFC 9700 §2.4"} {
		if !strings.Contains(page, want) {
			t.Errorf("the explanation page lacks %s", want)
		}
	}
}

func (ts *testServer) hasLabClient() bool {
	_, err := ts.store.ClientByID(context.Background(), labLegacyClientID)
	return err == nil
}

// TestLegacyGrantsRefusedOutsideLabMode: without lab mode there are no
// switches, and both legacy grants are refused with the explanation page,
// even for a client registered for them (a database the lab used once).
func TestLegacyGrantsRefusedOutsideLabMode(t *testing.T) {
	ts := newTestServer(t)
	assertLegacyRefused(t, ts)
	addLabClient(t, ts)
	assertLegacyRefused(t, ts)
}

// TestLegacyGrantsRefusedWhileTheirSwitchIsOn: in lab mode the refusals are
// on until the teacher turns one off, and on again when turned back on.
func TestLegacyGrantsRefusedWhileTheirSwitchIsOn(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	addLabClient(t, ts)
	b := ts.browser()
	if !ts.labOn(t, b, defenceNoImplicit) || !ts.labOn(t, b, defenceNoPassword) {
		t.Fatal("a legacy grant is switched on at the start of lab mode")
	}
	assertLegacyRefused(t, ts)
	flip(t, ts, b, defenceNoImplicit, false)
	flip(t, ts, b, defenceNoPassword, false)
	flip(t, ts, b, defenceNoImplicit, true)
	flip(t, ts, b, defenceNoPassword, true)
	assertLegacyRefused(t, ts)
}

// TestImplicitGrantInLabMode: with its switch off, the lab's client gets the
// access token itself in the fragment of the redirect, with no refresh
// token, and the token works; no other client does, and the grant ends with
// the session, as any other.
func TestImplicitGrantInLabMode(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	addLabClient(t, ts)
	b := ts.browser()
	flip(t, ts, b, defenceNoImplicit, false)

	loc := b.authorize(implicitURL(ts, labLegacyClientID, labRedirect, "st"), "alice", "wonderland")
	f := fragment(t, loc)
	if !strings.HasPrefix(loc.String(), labRedirect+"#") || loc.RawQuery != "" {
		t.Fatalf("redirected to %s, want the redirect URI with a fragment and no query", loc.Redacted())
	}
	if f.Get("access_token") == "" || f.Get("token_type") != "Bearer" || f.Get("expires_in") == "" || f.Get("scope") != "photos.read" ||
		f.Get("state") != "st" || f.Get("iss") != ts.URL {
		t.Fatalf("fragment %v: want access_token, token_type, expires_in, scope, state and iss (RFC 6749 §4.2.2, RFC 9207)", slices.Sorted(maps.Keys(f)))
	}
	for _, never := range []string{"refresh_token", "code", "id_token"} {
		if f.Has(never) {
			t.Errorf("the implicit response carries %s", never)
		}
	}
	token := f.Get("access_token")
	if resp := apiCall(t, http.MethodGet, ts.URL+"/api/photos", token); resp.StatusCode != http.StatusOK {
		t.Fatalf("the implicit grant's token at the photos API: %s", resp.Status)
	} else {
		resp.Body.Close()
	}

	// Only the lab's client, and only for response_type=token.
	loc = location(t, b.get(implicitURL(ts, spaID, spaRedirect, "s")))
	if loc.Query().Get("error") != "unauthorized_client" {
		t.Errorf("response_type=token for a code client: %s, want unauthorized_client", loc)
	}
	loc = location(t, b.get(ts.authURL(labLegacyClientID, labRedirect, "photos.read", "s", "")))
	if fragment(t, loc).Get("error") != "unauthorized_client" {
		t.Errorf("response_type=code for the lab client: %s, want unauthorized_client", loc.Redacted())
	}
	loc = location(t, b.get(implicitURL(ts, labLegacyClientID, labRedirect, "s", "response_mode", "query")))
	if f := fragment(t, loc); f.Get("error") != "invalid_request" || f.Has("access_token") || loc.Query().Has("access_token") {
		t.Errorf("response_type=token with response_mode=query: %s, want invalid_request and no token", loc.Redacted())
	}

	// The switch turned back on while the user is at the consent page: the
	// request ends with the refusal, not a token.
	id := pendingAt(t, ts, b, "/consent", implicitURL(ts, labLegacyClientID, labRedirect, "s2", "prompt", "consent"))
	form := consentForm(t, b, id)
	flip(t, ts, b, defenceNoImplicit, true)
	loc = location(t, b.post("/consent", form))
	if f := fragment(t, loc); f.Get("error") != "unsupported_response_type" || f.Has("access_token") {
		t.Errorf("consent after the switch went back on: %s, want unsupported_response_type", loc.Redacted())
	}

	// The grant was made in the login session, without offline_access:
	// signing out ends it, and the token stops at the photos API.
	signOut(t, b)
	eventually(t, time.Second, func() bool {
		resp := apiCall(t, http.MethodGet, ts.URL+"/api/photos", token)
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	}, "the implicit grant's token still works after the session ended")
}

// TestPasswordGrantInLabMode: with its switch off, the lab's client gets an
// access token for a user's username and password, with no refresh token;
// a wrong password gets nothing, and no other client may use the grant.
func TestPasswordGrantInLabMode(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	addLabClient(t, ts)
	b := ts.browser()
	flip(t, ts, b, defenceNoPassword, false)

	resp := passwordGrant(t, ts, labLegacyClientID, "", "alice", "wonderland")
	var tok tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("password grant: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.IDToken != "" || tok.Scope != "photos.read" {
		t.Fatalf("password grant answered %+v: want an access token for photos.read, nothing more", tok)
	}
	claims, e := parseTestAccessToken(ts, tok.AccessToken)
	if e != nil || claims.Subject != "sub-alice" || claims.ClientID != labLegacyClientID {
		t.Fatalf("the token's claims %+v (%v): want alice's, for the lab client", claims, e)
	}
	if resp := apiCall(t, http.MethodGet, ts.URL+"/api/photos", tok.AccessToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("the password grant's token at the photos API: %s", resp.Status)
	} else {
		resp.Body.Close()
	}

	tests := []struct {
		name, client, secret, username, pw string
		status                             int
		code                               string
	}{
		{"wrong password", labLegacyClientID, "", "alice", "not-her-password", 400, "invalid_grant"},
		{"unknown user", labLegacyClientID, "", "mallory", "wonderland", 400, "invalid_grant"},
		{"no password", labLegacyClientID, "", "alice", "", 400, "invalid_request"},
		{"a name no account has", labLegacyClientID, "", strings.Repeat("a", 65), "wonderland", 400, "invalid_grant"},
		{"a public code client", spaID, "", "bob", "builder", 400, "unauthorized_client"},
		{"a confidential code client", appID, appSecret, "bob", "builder", 400, "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, code, _ := tokenError(t, passwordGrant(t, ts, tc.client, tc.secret, tc.username, tc.pw))
			if status != tc.status || code != tc.code {
				t.Fatalf("%d %s, want %d %s", status, code, tc.status, tc.code)
			}
		})
	}
	// A disabled user's right password gets no token either, as at /login.
	if err := ts.store.SetUserDisabled(context.Background(), "sub-bob", true, ts.clock.now()); err != nil {
		t.Fatal(err)
	}
	if status, code, _ := tokenError(t, passwordGrant(t, ts, labLegacyClientID, "", "bob", "builder")); status != 400 || code != "invalid_grant" {
		t.Fatalf("a disabled user's password: %d %s, want 400 invalid_grant", status, code)
	}
}

// TestPasswordGrantUnderABurst: a guesser who sends passwords to the token
// endpoint instead of the login form meets the login form's throttle (RFC
// 6749 §4.3.2: "the authorization server MUST protect the endpoint against
// brute force attacks"). Of a burst of guesses released together, exactly
// the account's limit is checked; the account is then blocked at the login
// form too, and the right password gets nothing either.
func TestPasswordGrantUnderABurst(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	addLabClient(t, ts)
	flip(t, ts, ts.browser(), defenceNoPassword, false)

	const n = 30
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[string]int{}
	)
	for range n {
		wg.Go(func() {
			<-start
			status, code, _ := tokenError(t, passwordGrant(t, ts, labLegacyClientID, "", "alice", "a-guess"))
			mu.Lock()
			answers[http.StatusText(status)+" "+code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if answers["Bad Request invalid_grant"] != accountAttempts || answers["Too Many Requests temporarily_unavailable"] != n-accountAttempts {
		t.Fatalf("a burst of %d guesses: %v; want %d checked and the rest 429", n, answers, accountAttempts)
	}
	if status, code, _ := tokenError(t, passwordGrant(t, ts, labLegacyClientID, "", "alice", "wonderland")); status != http.StatusTooManyRequests {
		t.Errorf("the right password after the burst: %d %s, want 429", status, code)
	}
	if status := signInStatus(t, ts.URL, "alice", "wonderland"); status != http.StatusTooManyRequests {
		t.Errorf("the login form after the burst at the token endpoint: %d, want 429 (one throttle for both)", status)
	}
}

// TestLabClientOnlyInLabMode: the demo seeds the lab's legacy client only
// when it runs in lab mode, and a start without lab mode removes one an
// earlier lab start left in the database.
func TestLabClientOnlyInLabMode(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	lookUp := func() (store.Client, error) {
		t.Helper()
		st, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "imagehost.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		return st.ClientByID(context.Background(), labLegacyClientID)
	}
	serve := func(lab bool) string {
		t.Helper()
		extra := []string{}
		if lab {
			extra = append(extra, "IMAGEHOST_LAB", "true")
		}
		_, printed, stop := serveDemo(t, "127.0.0.1:0", dataDir, extra...)
		stop()
		return printed
	}

	if printed := serve(false); strings.Contains(printed, labLegacyClientID) {
		t.Errorf("the demo without lab mode mentions the lab client:\n%s", printed)
	}
	if _, err := lookUp(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the demo without lab mode: %v, want no lab client", err)
	}
	if printed := serve(true); !strings.Contains(printed, labLegacyClientID) {
		t.Errorf("the demo in lab mode does not say it seeded the lab client:\n%s", printed)
	}
	c, err := lookUp()
	if err != nil || !c.Public() || !slices.Equal(c.GrantTypes, []string{"implicit", "password"}) || c.Scope != "photos.read" {
		t.Fatalf("after the demo in lab mode: %+v %v, want the public lab client for the legacy grants, reading photos", c, err)
	}
	serve(false)
	if _, err := lookUp(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the demo ran again without lab mode: %v, want the lab client gone", err)
	}
}
