package main

// The device authorization grant (RFC 8628) against a real ImageHost: the
// device authorization endpoint, the device page, and the token endpoint's
// answer to a polling device, with a test for each error, each MUST, and
// each bound, tried the way an attacker would.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
	"oauthdemo/e2e/harness"
)

// The device clients of these tests.
const (
	cliID    = "cli" // public: a command line, with the device grant and a loopback redirect
	cliScope = "openid profile offline_access photos.read photos.write"
	tvID     = "tv" // confidential: a photo frame with a secret of its own
	tvSecret = "tv-secret-for-tests-0123456789abcdef"
)

// newDeviceServer is a test server with the device clients.
func newDeviceServer(t testing.TB, configure ...func(*Config)) *testServer {
	t.Helper()
	ts := newTestServer(t, configure...)
	addDeviceClients(t, ts)
	return ts
}

// addDeviceClients registers the device clients.
func addDeviceClients(t testing.TB, ts *testServer) {
	t.Helper()
	for _, c := range []store.Client{
		{ID: cliID, Name: "Photos CLI", RedirectURIs: []string{"http://127.0.0.1/callback"},
			GrantTypes: []string{oauth.GrantTypeDeviceCode, "authorization_code", "refresh_token"}, Scope: cliScope},
		{ID: tvID, SecretHash: oauth.HashToken(tvSecret), Name: "Photo Frame", GrantTypes: []string{oauth.GrantTypeDeviceCode},
			Scope: "photos.read"},
	} {
		c.CreatedAt = ts.clock.now()
		if err := ts.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// deviceAuth is RFC 8628 §3.2's response.
type deviceAuth struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// backChannel posts form to path as client id: with HTTP Basic when it
// has a secret, else with client_id in the body, as a public client does.
func backChannel(t testing.TB, base, path, id, secret string, form url.Values) *http.Response {
	t.Helper()
	if secret == "" && id != "" {
		form.Set("client_id", id)
		id = ""
	}
	return postBasic(t.(*testing.T), base+path, id, secret, form)
}

// startDevice asks for a device authorization and fails the test unless
// it is granted.
func startDevice(t *testing.T, ts *testServer, id, secret, scope string) deviceAuth {
	t.Helper()
	resp := backChannel(t, ts.URL, "/device_authorization", id, secret, url.Values{"scope": {scope}})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("device authorization: %s %s", resp.Status, b)
	}
	var da deviceAuth
	if err := json.NewDecoder(resp.Body).Decode(&da); err != nil {
		t.Fatal(err)
	}
	return da
}

// poll is one poll of the token endpoint with a device code.
func poll(t *testing.T, base, id, secret, deviceCode string) *http.Response {
	t.Helper()
	return backChannel(t, base, "/token", id, secret, url.Values{"grant_type": {oauth.GrantTypeDeviceCode}, "device_code": {deviceCode}})
}

// pollError polls and returns the status and the error code.
func pollError(t *testing.T, ts *testServer, id, secret, deviceCode string) (int, string) {
	t.Helper()
	status, code, _ := tokenError(t, poll(t, ts.URL, id, secret, deviceCode))
	return status, code
}

// pollTokens polls and fails the test unless tokens come back.
func pollTokens(t *testing.T, ts *testServer, id, secret, deviceCode string) tokenResponse {
	t.Helper()
	resp := poll(t, ts.URL, id, secret, deviceCode)
	defer resp.Body.Close()
	var tr tokenResponse
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("poll: %s %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// enterDeviceCode types code at /device in browser b, signing in as user
// when ImageHost asks, as a person would, and returns the answer to the
// code: the confirmation page, or the form again with an error.
func (b *browser) enterDeviceCode(code, user, pw string) (*http.Response, string) {
	b.t.Helper()
	form := harness.HiddenFields(body(b.t, b.get("/device")))
	form.Set("user_code", code)
	resp := b.post("/device", form)
	if resp.StatusCode == http.StatusSeeOther {
		loc := location(b.t, resp)
		if loc.Path != "/login" {
			b.t.Fatalf("the device page sent the browser to %s, want /login", loc)
		}
		login := harness.HiddenFields(body(b.t, b.get(loc.String())))
		login.Set("username", user)
		login.Set("password", pw)
		back := location(b.t, b.post("/login", login))
		if back.Path != "/device" {
			b.t.Fatalf("after signing in the browser went to %s, want back to /device", back)
		}
		page := body(b.t, b.get(back.String()))
		if !strings.Contains(page, `value="`+html.EscapeString(oauth.FormatUserCode(mustNormalize(b.t, code)))+`"`) {
			b.t.Fatalf("back at /device, the form is not filled in with %s", code)
		}
		form = harness.HiddenFields(page)
		form.Set("user_code", code)
		resp = b.post("/device", form)
	}
	return resp, body(b.t, resp)
}

func mustNormalize(t testing.TB, code string) string {
	t.Helper()
	c, ok := oauth.NormalizeUserCode(code)
	if !ok {
		t.Fatalf("%q is not a user code", code)
	}
	return c
}

// answerDevice enters code as user and answers decision ("allow" or
// "deny") on the confirmation page; it returns the answer's status.
func (b *browser) answerDevice(code, user, pw, decision string) int {
	b.t.Helper()
	resp, page := b.enterDeviceCode(code, user, pw)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/device/decision"`) {
		b.t.Fatalf("entering %s: %s, not the confirmation page", code, resp.Status)
	}
	form := harness.HiddenFields(page)
	form.Set("decision", decision)
	resp = b.post("/device/decision", form)
	resp.Body.Close()
	return resp.StatusCode
}

func TestDeviceAuthorizationResponse(t *testing.T) {
	ts := newDeviceServer(t)
	resp := backChannel(t, ts.URL, "/device_authorization", cliID, "", url.Values{"scope": {"openid photos.read"}})
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("device authorization: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
	}
	var da deviceAuth
	json.NewDecoder(resp.Body).Decode(&da)
	if len(da.DeviceCode) != 43 {
		t.Errorf("device_code %q: want 256 random bits (RFC 8628 §5.2)", da.DeviceCode)
	}
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(da.UserCode) {
		t.Errorf("user_code %q: want 8 letters of RFC 8628 §6.1's base-20 set, as XXXX-XXXX", da.UserCode)
	}
	if da.VerificationURI != ts.URL+"/device" || da.VerificationURIComplete != ts.URL+"/device?user_code="+da.UserCode {
		t.Errorf("verification URIs %q, %q", da.VerificationURI, da.VerificationURIComplete)
	}
	if da.ExpiresIn != 600 || da.Interval != 5 {
		t.Errorf("expires_in %d, interval %d; want 600 and 5", da.ExpiresIn, da.Interval)
	}
	// RFC 8628 §4: the endpoint is in the metadata, and so is the grant.
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		var md struct {
			Endpoint string   `json:"device_authorization_endpoint"`
			Grants   []string `json:"grant_types_supported"`
		}
		getJSON(t, http.DefaultClient, ts.URL+path, &md)
		if md.Endpoint != ts.URL+"/device_authorization" || !strings.Contains(strings.Join(md.Grants, " "), oauth.GrantTypeDeviceCode) {
			t.Errorf("%s: device_authorization_endpoint %q, grant types %v", path, md.Endpoint, md.Grants)
		}
	}
}

func TestDeviceAuthorizationErrors(t *testing.T) {
	ts := newDeviceServer(t)
	scope := url.Values{"scope": {"photos.read"}}
	tests := []struct {
		name   string
		send   func() *http.Response
		status int
		err    string
	}{
		// RFC 8628 §3.1: "The client authentication requirements of Section
		// 3.2.1 of [RFC6749] apply to requests on this endpoint".
		{"unknown client", func() *http.Response { return backChannel(t, ts.URL, "/device_authorization", "nobody", "", scope) }, 401, "invalid_client"},
		{"confidential client without its secret", func() *http.Response {
			return backChannel(t, ts.URL, "/device_authorization", tvID, "", url.Values{"scope": {"photos.read"}})
		}, 401, "invalid_client"},
		{"confidential client with a wrong secret", func() *http.Response {
			return backChannel(t, ts.URL, "/device_authorization", tvID, "wrong", url.Values{"scope": {"photos.read"}})
		}, 401, "invalid_client"},
		{"public client sending a secret", func() *http.Response {
			return postBasic(t, ts.URL+"/device_authorization", cliID, "made-up", url.Values{"scope": {"photos.read"}})
		}, 401, "invalid_client"},
		{"client without the device grant", func() *http.Response {
			return backChannel(t, ts.URL, "/device_authorization", spaID, "", url.Values{"scope": {"photos.read"}})
		}, 400, "unauthorized_client"},
		{"no scope", func() *http.Response { return backChannel(t, ts.URL, "/device_authorization", cliID, "", url.Values{}) }, 400, "invalid_scope"},
		{"scope the client may not ask for", func() *http.Response {
			return backChannel(t, ts.URL, "/device_authorization", tvID, tvSecret, url.Values{"scope": {"photos.read photos.write"}})
		}, 400, "invalid_scope"},
		{"malformed scope", func() *http.Response {
			return backChannel(t, ts.URL, "/device_authorization", cliID, "", url.Values{"scope": {`photos."read`}})
		}, 400, "invalid_scope"},
		{"scope twice", func() *http.Response {
			req, _ := http.NewRequest("POST", ts.URL+"/device_authorization", strings.NewReader("client_id=cli&scope=openid&scope=photos.read"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, code, _ := tokenError(t, tc.send())
			if status != tc.status || code != tc.err {
				t.Fatalf("got %d %q, want %d %q", status, code, tc.status, tc.err)
			}
		})
	}
	// A confidential client that authenticates gets its codes.
	startDevice(t, ts, tvID, tvSecret, "photos.read")
}

// TestDeviceGrant runs the whole grant with golang.org/x/oauth2's
// DeviceAuth and DeviceAccessToken, polling in real time while the user
// answers in a browser; the ID token is verified with go-oidc.
func TestDeviceGrant(t *testing.T) {
	ts := newDeviceServer(t, func(c *Config) { c.DevicePollInterval = time.Second })
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: cliID, Endpoint: provider.Endpoint(), Scopes: strings.Fields(cliScope)}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := cfg.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()
	b := ts.browser()
	if status := b.answerDevice(strings.ToLower(da.UserCode), "alice", "wonderland", "allow"); status != http.StatusOK {
		t.Fatalf("allow: %d", status)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no tokens 30 s after the user allowed")
	}
	if r.err != nil {
		t.Fatalf("DeviceAccessToken: %v", r.err)
	}
	if r.tok.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}
	rawID, _ := r.tok.Extra("id_token").(string)
	idToken, err := provider.Verifier(&oidc.Config{ClientID: cliID, Now: ts.clock.now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var claims idTokenClaims
	idToken.Claims(&claims)
	if claims.Subject != "sub-alice" || claims.PreferredUsername != "alice" || claims.Nonce != "" || claims.SessionID != "" || claims.AuthTime == nil {
		t.Errorf("ID token claims %+v: want alice, auth_time, and no nonce or sid", claims)
	}
	if err := idToken.VerifyAccessToken(r.tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if resp := apiCall(t, "GET", ts.URL+"/api/photos", r.tok.AccessToken); resp.StatusCode != 200 {
		t.Fatalf("photos API with the device's token: %s", resp.Status)
	}
	// The device keeps access with its refresh token, as any client does.
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: r.tok.RefreshToken}).Token()
	if err != nil || refreshed.AccessToken == "" {
		t.Fatalf("refresh: %v", err)
	}
	// And the account page lists the device's client, with Revoke access.
	if page := body(t, b.get("/account")); !strings.Contains(page, "Photos CLI") {
		t.Error("the account page does not list the device's client")
	}
}

// TestDeviceGrantErrors polls with the injected clock, so that each answer
// of RFC 8628 §3.5 comes when the RFC says, without waiting for real time.
func TestDeviceGrantErrors(t *testing.T) {
	ts := newDeviceServer(t)
	interval := ts.cfg.DevicePollInterval
	want := func(t *testing.T, da deviceAuth, id, secret string, status int, code string) {
		t.Helper()
		if got, gotCode := pollError(t, ts, id, secret, da.DeviceCode); got != status || gotCode != code {
			t.Fatalf("poll: %d %q, want %d %q", got, gotCode, status, code)
		}
	}

	t.Run("authorization_pending, then slow_down raising the interval by 5 s each time", func(t *testing.T) {
		da := startDevice(t, ts, cliID, "", "openid photos.read")
		ts.clock.advance(interval)
		want(t, da, cliID, "", 400, "authorization_pending")
		// RFC 8628 §3.5: "the client MUST wait at least the number of
		// seconds specified by the "interval" parameter".
		want(t, da, cliID, "", 400, "slow_down")
		// slow_down: "the interval MUST be increased by 5 seconds for this
		// and all subsequent requests": the old interval is too soon now.
		ts.clock.advance(interval)
		want(t, da, cliID, "", 400, "slow_down")
		ts.clock.advance(interval + 2*slowDownStep)
		want(t, da, cliID, "", 400, "authorization_pending")
	})
	t.Run("access_denied", func(t *testing.T) {
		da := startDevice(t, ts, cliID, "", "openid photos.read")
		if status := ts.browser().answerDevice(da.UserCode, "alice", "wonderland", "deny"); status != 200 {
			t.Fatalf("deny: %d", status)
		}
		ts.clock.advance(interval)
		want(t, da, cliID, "", 400, "access_denied")
		ts.clock.advance(interval)
		want(t, da, cliID, "", 400, "access_denied")
	})
	t.Run("expired_token, pending", func(t *testing.T) {
		da := startDevice(t, ts, cliID, "", "openid photos.read")
		ts.clock.advance(ts.cfg.DeviceCodeTTL)
		want(t, da, cliID, "", 400, "expired_token")
	})
	t.Run("expired_token, allowed but not picked up in time", func(t *testing.T) {
		da := startDevice(t, ts, cliID, "", "openid photos.read")
		ts.browser().answerDevice(da.UserCode, "alice", "wonderland", "allow")
		ts.clock.advance(ts.cfg.DeviceCodeTTL)
		want(t, da, cliID, "", 400, "expired_token")
	})
	t.Run("an unknown device code", func(t *testing.T) {
		want(t, deviceAuth{DeviceCode: oauth.NewToken()}, cliID, "", 400, "invalid_grant")
	})
	t.Run("no device code", func(t *testing.T) {
		want(t, deviceAuth{}, cliID, "", 400, "invalid_request")
	})
	t.Run("a device code issued to another client", func(t *testing.T) {
		da := startDevice(t, ts, tvID, tvSecret, "photos.read")
		ts.clock.advance(interval)
		want(t, da, cliID, "", 400, "invalid_grant")
	})
	t.Run("a client without the device grant", func(t *testing.T) {
		da := startDevice(t, ts, cliID, "", "photos.read")
		want(t, da, spaID, "", 400, "unauthorized_client")
	})
	t.Run("a confidential client polling without its secret", func(t *testing.T) {
		// RFC 8628 §3.4: "If the client was issued client credentials ...
		// the client MUST authenticate with the authorization server".
		da := startDevice(t, ts, tvID, tvSecret, "photos.read")
		ts.clock.advance(interval)
		want(t, da, tvID, "", 401, "invalid_client")
		want(t, da, tvID, "wrong", 401, "invalid_client")
		want(t, da, tvID, tvSecret, 400, "authorization_pending")
	})
	t.Run("the device code is single use", func(t *testing.T) {
		da := startDevice(t, ts, cliID, "", cliScope)
		ts.browser().answerDevice(da.UserCode, "alice", "wonderland", "allow")
		ts.clock.advance(interval)
		tr := pollTokens(t, ts, cliID, "", da.DeviceCode)
		ts.clock.advance(interval)
		want(t, da, cliID, "", 400, "invalid_grant")
		// A second redemption means the device code leaked: what it bought
		// is revoked.
		if status, code, _ := tokenError(t, backChannel(t, ts.URL, "/token", cliID, "", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {tr.RefreshToken}})); status != 400 || code != "invalid_grant" {
			t.Errorf("the refresh token of a reused device code still works: %d %s", status, code)
		}
		waitRefused(t, ts, tr.AccessToken)
	})
}

// waitRefused waits, for at most a second, until the photos API refuses
// token.
func waitRefused(t *testing.T, ts *testServer, token string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		resp := apiCall(t, "GET", ts.URL+"/api/photos", token)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the photos API still accepts the token: %s", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeviceCodeRedeemedOnceAcrossInstances polls with one device code at
// several instances of ImageHost on one store, at once, as a thief racing
// the device would: each instance paces its own polls, so each poll reaches
// the store, and the store's single-use redemption decides. Exactly one
// poll gets tokens; the others find the code used, which revokes them.
func TestDeviceCodeRedeemedOnceAcrossInstances(t *testing.T) {
	ts := newDeviceServer(t)
	const instances = 6
	urls := []string{ts.URL}
	for range instances - 1 {
		apiTokens, err := newAPITokenVerifier(context.Background(), ts.cfg, ts.store, ts.keys, ts.revoked, ts.clock.now)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newServer(ts.cfg, ts.store, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, discardLogger()))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	da := startDevice(t, ts, cliID, "", cliScope)
	ts.browser().answerDevice(da.UserCode, "alice", "wonderland", "allow")
	ts.clock.advance(ts.cfg.DevicePollInterval)

	type answer struct {
		status int
		body   tokenResponse
		err    string
	}
	answers := make([]answer, instances)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i, base := range urls {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			resp := poll(t, base, cliID, "", da.DeviceCode)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var e struct {
				Error string `json:"error"`
			}
			json.Unmarshal(raw, &answers[i].body)
			json.Unmarshal(raw, &e)
			answers[i].status, answers[i].err = resp.StatusCode, e.Error
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	var won []tokenResponse
	for i, a := range answers {
		switch {
		case a.status == 200:
			won = append(won, a.body)
		case a.status != 400 || a.err != "invalid_grant":
			t.Fatalf("instance %d: %d %q, want tokens or invalid_grant", i, a.status, a.err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent polls got tokens, want exactly 1", len(won), instances)
	}
	waitRefused(t, ts, won[0].AccessToken)
}

// signedInBrowser signs a browser in as user, at /login.
func signedInBrowser(t *testing.T, ts *testServer, user, pw string) *browser {
	t.Helper()
	b := ts.browser()
	if loc := location(t, loginForm(t, b, user, pw)); loc.Path != "/account" {
		t.Fatalf("sign-in as %s went to %s", user, loc)
	}
	return b
}

// guessBurst sends n user codes from browser b at once (every goroutine
// ready before the first leaves) and counts the answers by status. Each
// guess is a code no device has.
func guessBurst(t *testing.T, b *browser, n int) map[int]int {
	t.Helper()
	form := harness.HiddenFields(body(t, b.get("/device")))
	statuses := make(chan int, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for range n {
		ready.Add(1)
		done.Go(func() {
			guess := url.Values{"csrf_token": {form.Get("csrf_token")}, "user_code": {oauth.NewUserCode()}}
			req, _ := http.NewRequest("POST", b.abs("/device"), strings.NewReader(guess.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			ready.Done()
			<-start
			resp, err := b.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			statuses <- resp.StatusCode
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	return counts
}

// TestDeviceUserCodeGuessing: guesses at user codes, sent all at once, as
// an attacker would. Only the limit of them is looked up, per account and
// per address (RFC 8628 §5.1); the rest are refused before any lookup, and
// then so is the right code, until the window has passed.
func TestDeviceUserCodeGuessing(t *testing.T) {
	ts := newDeviceServer(t)
	ctx := context.Background()
	for i := range 3 {
		name := fmt.Sprint("mallory", i)
		if err := ts.store.CreateUser(ctx, store.User{ID: "sub-" + name, Username: name, PasswordHash: password.Hash("pw-" + name),
			CreatedAt: ts.clock.now()}); err != nil {
			t.Fatal(err)
		}
	}
	alice := signedInBrowser(t, ts, "alice", "wonderland")
	// The right code, looked up many times, is never counted.
	da := startDevice(t, ts, cliID, "", "photos.read")
	for range deviceGuessesPerAccount + 2 {
		if resp, _ := alice.enterDeviceCode(da.UserCode, "", ""); resp.StatusCode != 200 {
			t.Fatalf("the right code: %s", resp.Status)
		}
	}
	// Nor is a link that carries a code: GET /device looks nothing up.
	for range deviceGuessesPerAccount + 2 {
		body(t, alice.get("/device?user_code="+oauth.NewUserCode()))
	}

	counts := guessBurst(t, alice, 50)
	if counts[http.StatusBadRequest] != deviceGuessesPerAccount || counts[http.StatusTooManyRequests] != 50-deviceGuessesPerAccount {
		t.Fatalf("50 guesses at once from one account: %v; want %d looked up (400) and the rest 429", counts, deviceGuessesPerAccount)
	}
	if resp, _ := alice.enterDeviceCode(da.UserCode, "", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right code after the limit: %s, want 429", resp.Status)
	}

	// More accounts from the same address: the address's limit holds.
	looked := deviceGuessesPerAccount
	for i := range 3 {
		name := fmt.Sprint("mallory", i)
		counts := guessBurst(t, signedInBrowser(t, ts, name, "pw-"+name), 20)
		looked += counts[http.StatusBadRequest]
	}
	if looked != deviceGuessesPerAddress {
		t.Fatalf("%d guesses looked up from one address across 4 accounts, want the address's limit, %d", looked, deviceGuessesPerAddress)
	}

	// The block ends by itself.
	ts.clock.advance(deviceGuessWindow)
	da = startDevice(t, ts, cliID, "", "photos.read")
	if resp, _ := alice.enterDeviceCode(da.UserCode, "", ""); resp.StatusCode != 200 {
		t.Fatalf("the right code after the window: %s", resp.Status)
	}
}

// TestDeviceAuthorizationBounds: requests for device codes, all at once.
// One address gets its limit; and however many addresses ask, no more than
// the configured number of device authorizations wait for an answer.
func TestDeviceAuthorizationBounds(t *testing.T) {
	burst := func(t *testing.T, ts *testServer, n int) map[int]int {
		t.Helper()
		statuses := make(chan int, n)
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for range n {
			ready.Add(1)
			done.Go(func() {
				req, _ := http.NewRequest("POST", ts.URL+"/device_authorization", strings.NewReader("client_id=cli&scope=photos.read"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				ready.Done()
				<-start
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.Header.Get("Retry-After") == "" {
					t.Errorf("%s without Retry-After", resp.Status)
				}
				statuses <- resp.StatusCode
			})
		}
		ready.Wait()
		close(start)
		done.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		return counts
	}
	t.Run("per address", func(t *testing.T) {
		ts := newDeviceServer(t)
		counts := burst(t, ts, 2*deviceIssuesPerAddress)
		if counts[200] != deviceIssuesPerAddress || counts[http.StatusTooManyRequests] != deviceIssuesPerAddress {
			t.Fatalf("%d requests at once from one address: %v, want %d granted and the rest 429", 2*deviceIssuesPerAddress, counts, deviceIssuesPerAddress)
		}
	})
	t.Run("pending at once", func(t *testing.T) {
		const maxPending = 5
		ts := newDeviceServer(t, func(c *Config) { c.MaxPendingDeviceCodes = maxPending })
		counts := burst(t, ts, 20)
		if counts[200] != maxPending || counts[http.StatusServiceUnavailable] != 20-maxPending {
			t.Fatalf("20 requests at once with room for %d: %v, want %d granted and the rest 503", maxPending, counts, maxPending)
		}
		// Room again once they have expired.
		ts.clock.advance(ts.cfg.DeviceCodeTTL)
		startDevice(t, ts, cliID, "", "photos.read")
	})
}

// TestDevicePageRefusals: the device page's forms refuse what is not a
// user's answer to a code.
func TestDevicePageRefusals(t *testing.T) {
	ts := newDeviceServer(t)
	da := startDevice(t, ts, cliID, "", "photos.read")
	b := signedInBrowser(t, ts, "alice", "wonderland")
	form := harness.HiddenFields(body(t, b.get("/device")))
	post := func(path string, v url.Values) (int, string) {
		t.Helper()
		resp := b.post(path, v)
		return resp.StatusCode, body(t, resp)
	}
	if status, _ := post("/device", url.Values{"user_code": {da.UserCode}}); status != http.StatusForbidden {
		t.Errorf("a code without the CSRF token: %d, want 403", status)
	}
	if status, page := post("/device", url.Values{"csrf_token": {form.Get("csrf_token")}, "user_code": {"WDJB-MJH0"}}); status != 400 || !strings.Contains(page, "8 letters") {
		t.Errorf("a malformed code: %d", status)
	}
	if status, _ := post("/device/decision", url.Values{"csrf_token": {form.Get("csrf_token")}, "user_code": {da.UserCode}, "decision": {"allow"}, "x": {"1"}}); status != 200 {
		t.Errorf("allow: %d", status)
	}
	// The code was answered: a second answer, say a Deny from another tab, changes nothing.
	if status, _ := post("/device/decision", url.Values{"csrf_token": {form.Get("csrf_token")}, "user_code": {da.UserCode}, "decision": {"deny"}}); status != 400 {
		t.Errorf("a second answer: %d, want 400", status)
	}
	ts.clock.advance(ts.cfg.DevicePollInterval)
	pollTokens(t, ts, cliID, "", da.DeviceCode)

	other := startDevice(t, ts, cliID, "", "photos.read")
	if status, _ := post("/device/decision", url.Values{"csrf_token": {form.Get("csrf_token")}, "user_code": {other.UserCode}, "decision": {"maybe"}}); status != 400 {
		t.Errorf("neither allow nor deny: %d, want 400", status)
	}
	if status, _ := post("/device/decision", url.Values{"user_code": {other.UserCode}, "decision": {"allow"}}); status != http.StatusForbidden {
		t.Errorf("an answer without the CSRF token: %d, want 403", status)
	}
	// Signed out, an answer goes to the sign-in first, and counts for nothing.
	out := ts.browser()
	outForm := harness.HiddenFields(body(t, out.get("/device")))
	if loc := location(t, out.post("/device/decision", url.Values{"csrf_token": {outForm.Get("csrf_token")},
		"user_code": {other.UserCode}, "decision": {"allow"}})); loc.Path != "/login" {
		t.Errorf("a signed-out answer went to %s, want /login", loc)
	}
	ts.clock.advance(ts.cfg.DevicePollInterval)
	if status, code := pollError(t, ts, cliID, "", other.DeviceCode); code != "authorization_pending" {
		t.Fatalf("after refused answers the device hears %d %s, want authorization_pending", status, code)
	}
}

// TestDeviceActivityLog: the user's activity log tells each poll's outcome,
// one line per device authorization however long the device polled.
func TestDeviceActivityLog(t *testing.T) {
	ts := newDeviceServer(t)
	interval := ts.cfg.DevicePollInterval
	da := startDevice(t, ts, cliID, "", cliScope)
	const pending = 40
	for range pending {
		ts.clock.advance(interval)
		pollError(t, ts, cliID, "", da.DeviceCode)
	}
	pollError(t, ts, cliID, "", da.DeviceCode) // too soon: slow_down
	b := ts.browser()
	b.answerDevice(da.UserCode, "alice", "wonderland", "allow")
	ts.clock.advance(interval + slowDownStep)
	pollTokens(t, ts, cliID, "", da.DeviceCode)

	// Whoever keeps polling after the outcome adds no lines: after the
	// tokens (each a second redemption), or after a denial.
	for range 10 {
		ts.clock.advance(time.Minute) // its interval grew with the slow_down
		if _, code := pollError(t, ts, cliID, "", da.DeviceCode); code != "invalid_grant" {
			t.Fatalf("a second redemption: %s, want invalid_grant", code)
		}
	}
	denied := startDevice(t, ts, cliID, "", "photos.read")
	b.answerDevice(denied.UserCode, "alice", "wonderland", "deny")
	for range 10 {
		ts.clock.advance(interval)
		pollError(t, ts, cliID, "", denied.DeviceCode)
	}

	ts.activity.sync(context.Background())
	entries, err := ts.store.ActivityForUser(context.Background(), "sub-alice", 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var issued store.Activity
	for _, e := range entries {
		count[e.Event]++
		if e.Event == "tokens issued for a device" {
			issued = e
		}
	}
	if count["tokens issued for a device"] != 1 || count["device allowed"] != 1 || count["device denied"] != 1 || count["device told it was denied"] != 1 ||
		count["device code used twice"] != 1 {
		t.Fatalf("activity events %v: want one line each for the answer and for the polling's outcome", count)
	}
	if !strings.Contains(issued.Reason, fmt.Sprintf("polled %d time(s)", pending)) || !strings.Contains(issued.Reason, "1 time(s) too soon") ||
		issued.FlowRef != flowRef(da.DeviceCode) {
		t.Fatalf("the tokens' line: %q (flow %s), want the %d pending polls, the slow_down, and the flow reference of the device code", issued.Reason, issued.FlowRef, pending)
	}
}

// TestLoginReturnsOnlyToTheDevicePage: the sign-in's next parameter goes
// back to /device with its code, and nowhere else (no open redirect).
func TestLoginReturnsOnlyToTheDevicePage(t *testing.T) {
	ts := newDeviceServer(t)
	tests := []struct{ next, want string }{
		{"/device?user_code=wdjb-mjht", "/device?user_code=WDJB-MJHT"},
		{"/device", "/device"},
		{"/device?user_code=not-a-code", "/device"},
		{"/account", "/account"},
		{"https://evil.example/device", "/account"},
		{"//evil.example/device", "/account"},
		{"/\\evil.example/device", "/account"},
		{"http:/device", "/account"},
		{"/device/../account", "/account"},
		{"javascript:alert(1)", "/account"},
		{"", "/account"},
	}
	for _, tc := range tests {
		t.Run(tc.next, func(t *testing.T) {
			b := ts.browser()
			page := body(t, b.get("/login?"+url.Values{"next": {tc.next}}.Encode()))
			form := harness.HiddenFields(page)
			form.Set("username", "alice")
			form.Set("password", "wonderland")
			if got := location(t, b.post("/login", form)); got.Host != strings.TrimPrefix(ts.URL, "http://") || got.RequestURI() != tc.want {
				t.Fatalf("after signing in with next=%q: %s, want %s", tc.next, got, tc.want)
			}
			// Signed in already, the login page sends the browser on the same way.
			resp := b.get("/login?" + url.Values{"next": {tc.next}}.Encode())
			if got := location(t, resp); got.Host != strings.TrimPrefix(ts.URL, "http://") || got.RequestURI() != tc.want {
				t.Fatalf("signed in, /login?next=%q: %s, want %s", tc.next, got, tc.want)
			}
		})
	}
}

// TestDevicePollsTableIsBounded: the table of devices' pace keeps at most
// its size, forgetting the device polled least recently; a forgotten
// device is paced again from its next poll.
func TestDevicePollsTableIsBounded(t *testing.T) {
	now := time.Now()
	p := newDevicePolls(3)
	for i := range 10 {
		p.start([]byte(fmt.Sprint(i)), "c", 5*time.Second, now)
	}
	if p.len() != 3 {
		t.Fatalf("table holds %d devices, want 3", p.len())
	}
	if _, _, known := p.poll([]byte("0"), "c", now); known {
		t.Fatal("the device polled least recently is still held")
	}
	if tooSoon, _, known := p.poll([]byte("9"), "c", now.Add(time.Second)); !known || !tooSoon {
		t.Fatalf("the newest device: known %v, too soon %v", known, tooSoon)
	}
	if _, _, known := p.poll([]byte("9"), "other client", now.Add(time.Minute)); known {
		t.Fatal("another client's poll is paced on this device's entry")
	}
}

// TestDevicePollRoundTripsOnPostgres counts the round trips to PostgreSQL
// of a device's polls. A poll answers from memory or with one indexed read
// of the device code, besides the client lookup of every token request:
// several instances in front of one database pay for each poll of every
// device waiting for its user.
func TestDevicePollRoundTripsOnPostgres(t *testing.T) {
	st := newPostgresStore(t, roundTrips{})
	ts := newTestServerOn(t, st)
	addDeviceClients(t, ts)
	bs := benchServerOf(t, ts)
	interval := ts.cfg.DevicePollInterval
	start := func() string {
		rec := httptest.NewRecorder()
		bs.h.ServeHTTP(rec, tokenRequestTo("/device_authorization", "client_id=cli&scope=photos.read", "", ""))
		var da deviceAuth
		if err := json.NewDecoder(rec.Body).Decode(&da); err != nil || da.DeviceCode == "" {
			t.Fatalf("device authorization: %d %v", rec.Code, err)
		}
		return da.DeviceCode
	}
	pollOnce := func(ctx context.Context, deviceCode, want string) {
		t.Helper()
		rec := httptest.NewRecorder()
		bs.h.ServeHTTP(rec, tokenRequest("client_id=cli&grant_type="+url.QueryEscape(oauth.GrantTypeDeviceCode)+"&device_code="+deviceCode, "", "").WithContext(ctx))
		if !strings.Contains(rec.Body.String(), `"`+want+`"`) {
			t.Fatalf("poll: %d %s, want %s", rec.Code, rec.Body.String(), want)
		}
	}
	for range 3 { // each connection prepares a statement once; count what follows
		d := start()
		ts.clock.advance(interval)
		pollOnce(context.Background(), d, "authorization_pending")
	}
	tests := []struct {
		name    string
		want    string
		advance time.Duration
		budget  int64
	}{
		{"a poll that keeps time", "authorization_pending", interval, 2}, // the client, the device code
		{"a poll too soon", "slow_down", 0, 1},                           // the client; the pace is in memory
	}
	d := start()
	for _, tc := range tests {
		ts.clock.advance(tc.advance)
		ctx, n := countRoundTrips(context.Background())
		pollOnce(ctx, d, tc.want)
		t.Logf("%s: %d round trips to PostgreSQL", tc.name, n.Load())
		if n.Load() == 0 || n.Load() > tc.budget {
			t.Fatalf("%s took %d round trips to PostgreSQL, budget %d", tc.name, n.Load(), tc.budget)
		}
	}
}
