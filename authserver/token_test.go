package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
)

// tokenError posts to /token and returns the status and RFC 6749 §5.2 error.
func tokenError(t *testing.T, resp *http.Response) (int, string, string) {
	t.Helper()
	defer resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response without Cache-Control: no-store")
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error, e.URI
}

// codeFor runs the front channel and returns a fresh code and its verifier.
func (ts *testServer) codeFor(t *testing.T, b *browser, scope string) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	back := b.authorize(ts.authURL(appID, appRedirect, scope, "st", oauth.S256Challenge(verifier)), "alice", "wonderland")
	return back.Query().Get("code"), verifier
}

func redeem(t *testing.T, ts *testServer, code, verifier string) *http.Response {
	return postBasic(t, ts.URL+"/token", appID, appSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}})
}

func TestAuthorizationCodeErrors(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	form := func(code, verifier string, kv ...string) url.Values {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	tests := []struct {
		name   string
		send   func(code, verifier string) *http.Response
		status int
		err    string
	}{
		{"wrong PKCE verifier", func(code, _ string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, appSecret, form(code, oauth2.GenerateVerifier()))
		}, 400, "invalid_grant"},
		{"missing PKCE verifier", func(code, _ string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, appSecret, form(code, "", "code_verifier", ""))
		}, 400, "invalid_grant"},
		{"redirect_uri differs by one character", func(code, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, appSecret, form(code, v, "redirect_uri", appRedirect+"x"))
		}, 400, "invalid_grant"},
		{"code issued to another client", func(code, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", "", "", form(code, v, "client_id", spaID))
		}, 400, "invalid_grant"},
		{"unknown code", func(_, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, appSecret, form("made-up", v))
		}, 400, "invalid_grant"},
		{"missing code", func(_, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, appSecret, form("", v, "code", ""))
		}, 400, "invalid_request"},
		{"wrong client secret", func(code, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, "wrong", form(code, v))
		}, 401, "invalid_client"},
		{"unknown client", func(code, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", "nobody", "x", form(code, v))
		}, 401, "invalid_client"},
		{"secret in body and header", func(code, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", appID, appSecret, form(code, v, "client_secret", appSecret))
		}, 400, "invalid_request"},
		{"public client sending a secret", func(code, v string) *http.Response {
			return postBasic(t, ts.URL+"/token", "", "", form(code, v, "client_id", spaID, "client_secret", "x"))
		}, 401, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := ts.codeFor(t, b, "openid")
			status, errCode, _ := tokenError(t, tc.send(code, verifier))
			if status != tc.status || errCode != tc.err {
				t.Fatalf("got %d %q, want %d %q", status, errCode, tc.status, tc.err)
			}
			// A failed redemption burns the code: it never works afterwards.
			if tc.err == "invalid_grant" && tc.name != "unknown code" {
				if status, errCode, _ := tokenError(t, redeem(t, ts, code, verifier)); status != 400 || errCode != "invalid_grant" {
					t.Fatalf("code still redeemable after a failed attempt: %d %s", status, errCode)
				}
			}
		})
	}
}

func TestBasicAuthChallenge(t *testing.T) {
	ts := newTestServer(t)
	resp := postBasic(t, ts.URL+"/token", appID, "wrong", url.Values{"grant_type": {"client_credentials"}})
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("bad Basic credentials: %s, WWW-Authenticate %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestCodeReplayRevokesTokens(t *testing.T) {
	ts := newTestServer(t)
	code, verifier := ts.codeFor(t, ts.browser(), "openid offline_access photos.read")
	resp := redeem(t, ts, code, verifier)
	var tok struct{ AccessToken, RefreshToken string }
	json.NewDecoder(resp.Body).Decode(&struct {
		A *string `json:"access_token"`
		R *string `json:"refresh_token"`
	}{&tok.AccessToken, &tok.RefreshToken})
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.RefreshToken == "" {
		t.Fatalf("first redemption: %s", resp.Status)
	}
	if status, errCode, _ := tokenError(t, redeem(t, ts, code, verifier)); status != 400 || errCode != "invalid_grant" {
		t.Fatalf("replay: %d %s", status, errCode)
	}
	// RFC 6749 §4.1.2: the tokens issued from the code are revoked.
	refresh := postBasic(t, ts.URL+"/token", appID, appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status, errCode, _ := tokenError(t, refresh); status != 400 || errCode != "invalid_grant" {
		t.Fatalf("refresh token of a replayed code: %d %s", status, errCode)
	}
	if _, e := (tokenChecker{issuer: ts.URL, keys: ts.keys, store: ts.store, now: ts.clock.now}).check(context.Background(), tok.AccessToken); e == nil {
		t.Fatal("access token of a replayed code is still active")
	}
}

// TestCodeReplayedByAnotherClient: a used code comes back from a client it
// was never issued to, as from anyone who saw it in a log or a Referer: a
// public client, which authenticates with nothing but a client_id, or a
// confidential one registered for the purpose. The replay is refused and
// revokes nothing: the app's tokens keep working. Only the app itself,
// presenting its code again, revokes them (TestCodeReplayRevokesTokens).
func TestCodeReplayedByAnotherClient(t *testing.T) {
	ts := newTestServer(t)
	_, registered, _ := register(t, ts, iat, `{"redirect_uris":["https://other.example/cb"]}`)
	tests := []struct {
		name     string
		id, pass string
		form     url.Values
	}{
		{"public client", "", "", url.Values{"client_id": {spaID}, "redirect_uri": {spaRedirect}}},
		{"registered confidential client", registered["client_id"].(string), registered["client_secret"].(string),
			url.Values{"redirect_uri": {"https://other.example/cb"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := aliceTokens(t, ts, "openid offline_access photos.read")
			tc.form.Set("grant_type", "authorization_code")
			tc.form.Set("code", tok.code)
			if status, errCode, _ := tokenError(t, postBasic(t, ts.URL+"/token", tc.id, tc.pass, tc.form)); status != 400 || errCode != "invalid_grant" {
				t.Fatalf("another client's replay of the code: %d %s", status, errCode)
			}
			if s := apiStatus(t, ts, tok.access); s != http.StatusOK {
				t.Fatalf("after another client replayed the app's code, the app's access token gets %d at the photos API", s)
			}
			if active := introspectAs(t, ts, appID, appSecret, tok.access)["active"]; active != true {
				t.Fatalf("after another client replayed the app's code, introspection says active=%v", active)
			}
			refreshToken(t, refreshWith(t, ts, tok.refresh))
		})
	}
}

// TestCodeReplayedByAPublicClient: a public client authenticates with
// nothing but its client_id, so whoever holds one of its used codes (from
// the browser's history at a loopback redirect URI, or a log) can send
// both. Such a replay revokes the grant only if it also proves what the
// first redemption proved: the code_verifier of the code's challenge and,
// for a grant bound to a DPoP key, a proof of that key. Without them it is
// refused and the user's grant stays, also after the code's lifetime.
func TestCodeReplayedByAPublicClient(t *testing.T) {
	ts := newTestServer(t)
	owner, thief := newDPoPKey(t), newDPoPKey(t)
	tokenURL := ts.URL + "/token"
	const (
		noVerifier = iota
		wrongVerifier
		rightVerifier
	)
	tests := []struct {
		name     string
		bound    bool     // the grant is bound to the owner's key
		late     bool     // the replay comes after the code's lifetime
		verifier int      // what the replay sends as code_verifier
		key      *dpopKey // whose DPoP proof the replay sends; nil for none
		revokes  bool
	}{
		{"no verifier, no proof", true, false, noVerifier, nil, false},
		{"no verifier, no proof, after the code's lifetime", true, true, noVerifier, nil, false},
		{"a wrong verifier", true, false, wrongVerifier, nil, false},
		{"the verifier, without a proof of the grant's key", true, false, rightVerifier, nil, false},
		{"the verifier, with a proof of another key", true, false, rightVerifier, thief, false},
		{"the verifier and a proof of the grant's key", true, false, rightVerifier, owner, true},
		{"the verifier and a proof of the grant's key, after the code's lifetime", true, true, rightVerifier, owner, true},
		{"a grant bound to no key: no verifier", false, false, noVerifier, nil, false},
		{"a grant bound to no key: the verifier", false, false, rightVerifier, nil, true},
	}
	// The proofs' iat follows the server's clock, as a client's would, and
	// their nonce is the server's current one.
	var nonce string
	proof := func(k *dpopKey) string {
		if k == nil {
			return ""
		}
		c := k.claims("POST", tokenURL, nonce, "")
		c["iat"] = ts.clock.now().Unix()
		return sign(t, k.header(), c, k.priv)
	}
	newNonce := func() {
		nonce = ""
		a := robotTokenRequest(t, ts, proof(owner))
		if a.err != "use_dpop_nonce" || a.nonce == "" {
			t.Fatalf("a proof without a nonce: %+v, want use_dpop_nonce", a)
		}
		nonce = a.nonce
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := owner
			if !tc.bound {
				key = nil
			}
			newNonce()
			verifier := oauth2.GenerateVerifier()
			back := ts.browser().authorize(ts.authURL(spaID, spaRedirect, "openid offline_access photos.read", "st", oauth.S256Challenge(verifier)), "alice", "wonderland")
			code := back.Query().Get("code")
			tok := answerOf(t, dpopRequest(t, "POST", tokenURL, proof(key), "", "", url.Values{"grant_type": {"authorization_code"},
				"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}, "client_id": {spaID}}))
			if tok.status != 200 || tok.refreshToken == "" || (tok.tokenType == "DPoP") != tc.bound {
				t.Fatalf("the SPA's redemption: %+v", tok)
			}
			if tc.late {
				ts.clock.advance(ts.cfg.CodeTTL + time.Minute)
				newNonce()
			}

			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {spaID}}
			switch tc.verifier {
			case wrongVerifier:
				form.Set("code_verifier", oauth2.GenerateVerifier())
			case rightVerifier:
				form.Set("code_verifier", verifier)
			}
			if a := answerOf(t, dpopRequest(t, "POST", tokenURL, proof(tc.key), "", "", form)); a.status != 400 || a.err != "invalid_grant" {
				t.Fatalf("the replay: %+v, want 400 invalid_grant", a)
			}

			_, e := (tokenChecker{issuer: ts.URL, keys: ts.keys, store: ts.store, now: ts.clock.now}).check(context.Background(), tok.accessToken)
			refresh := answerOf(t, dpopRequest(t, "POST", tokenURL, proof(key), "", "", url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {tok.refreshToken}, "client_id": {spaID}}))
			switch {
			case tc.revokes && (e == nil || refresh.status != 400 || refresh.err != "invalid_grant"):
				t.Fatalf("after the rightful client's replay, the access token's check says %v and the refresh %+v; want both refused (RFC 6749 §4.1.2)", e, refresh)
			case !tc.revokes && (e != nil || refresh.status != 200):
				t.Fatalf("a replay without proof ended the grant: the access token's check says %v, the owner's refresh %+v; want both to work", e, refresh)
			}
		})
	}

	// While the first redemption is minting its tokens, its grant is not
	// stored yet and has no key to prove: the verifier decides whether the
	// replay keeps the grant from being created (TestCodeReplayedDuringRedemption
	// races a confidential client's).
	t.Run("while the first redemption is in flight", func(t *testing.T) {
		ctx := context.Background()
		for _, tc := range []struct {
			name     string
			verifier bool
			want     error // what creating the first redemption's grant gets after the replay
		}{
			{"no verifier", false, nil},
			{"the verifier", true, store.ErrAlreadyUsed},
		} {
			code, verifier, grantID := oauth.NewToken(), oauth2.GenerateVerifier(), oauth.NewID()
			now := ts.clock.now()
			if err := ts.store.SaveAuthCode(ctx, store.AuthCode{CodeHash: oauth.HashToken(code), ClientID: spaID, UserID: "sub-alice",
				RedirectURI: spaRedirect, Scope: "openid", CodeChallenge: oauth.S256Challenge(verifier), CodeChallengeMethod: oauth.MethodS256,
				AuthTime: now, ExpiresAt: now.Add(ts.cfg.CodeTTL)}); err != nil {
				t.Fatal(err)
			}
			if _, err := ts.store.ConsumeAuthCode(ctx, oauth.HashToken(code), grantID, now); err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {spaID}}
			if tc.verifier {
				form.Set("code_verifier", verifier)
			}
			if a := answerOf(t, dpopRequest(t, "POST", tokenURL, "", "", "", form)); a.status != 400 || a.err != "invalid_grant" {
				t.Fatalf("%s: the replay: %+v, want 400 invalid_grant", tc.name, a)
			}
			err := ts.store.CreateGrant(ctx, store.Grant{ID: grantID, ClientID: spaID, UserID: "sub-alice", Scope: "openid", AuthTime: now, CreatedAt: now}, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: creating the first redemption's grant after the replay: %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

func TestCodeExpires(t *testing.T) {
	ts := newTestServer(t)
	code, verifier := ts.codeFor(t, ts.browser(), "openid")
	ts.clock.advance(ts.cfg.CodeTTL + time.Second)
	if status, errCode, _ := tokenError(t, redeem(t, ts, code, verifier)); status != 400 || errCode != "invalid_grant" {
		t.Fatalf("expired code: %d %s", status, errCode)
	}
}

func TestCodeWithoutPKCEForConfidentialClient(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	back := b.authorize(ts.authURL(appID, appRedirect, "openid", "st", ""), "alice", "wonderland")
	code := back.Query().Get("code")
	// RFC 9700 §2.1.1: a verifier for a code issued without challenge is refused.
	if status, errCode, _ := tokenError(t, redeem(t, ts, code, oauth2.GenerateVerifier())); errCode != "invalid_grant" {
		t.Fatalf("verifier without challenge: %d %s", status, errCode)
	}
	back = b.authorize(ts.authURL(appID, appRedirect, "openid", "st", ""), "alice", "wonderland")
	resp := postBasic(t, ts.URL+"/token", appID, appSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {appRedirect}})
	if resp.StatusCode != 200 {
		t.Fatalf("confidential client without PKCE: %s", body(t, resp))
	}
	resp.Body.Close()
}

func refreshWith(t *testing.T, ts *testServer, rt string, extra ...string) *http.Response {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return postBasic(t, ts.URL+"/token", appID, appSecret, form)
}

func refreshToken(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var out struct {
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || out.RefreshToken == "" {
		t.Fatalf("refresh: %s", resp.Status)
	}
	return out.RefreshToken
}

func TestRefreshRotationAndReuse(t *testing.T) {
	ts := newTestServer(t)
	rt0 := ts.userToken(t, "alice", "wonderland", "offline_access", "photos.read").RefreshToken
	rt1 := refreshToken(t, refreshWith(t, ts, rt0))
	rt2 := refreshToken(t, refreshWith(t, ts, rt1))

	// rt0 comes back: someone kept a copy. The whole family dies, rt2 too.
	if status, errCode, _ := tokenError(t, refreshWith(t, ts, rt0)); status != 400 || errCode != "invalid_grant" {
		t.Fatalf("reuse: %d %s", status, errCode)
	}
	if status, errCode, _ := tokenError(t, refreshWith(t, ts, rt2)); status != 400 || errCode != "invalid_grant" {
		t.Fatalf("newest token after reuse: %d %s, want invalid_grant", status, errCode)
	}
}

func TestRefreshRules(t *testing.T) {
	ts := newTestServer(t)
	rt := ts.userToken(t, "alice", "wonderland", "offline_access", "photos.read").RefreshToken
	if status, errCode, _ := tokenError(t, refreshWith(t, ts, rt, "scope", "openid photos.write")); errCode != "invalid_scope" {
		t.Fatalf("widening the scope: %d %s", status, errCode)
	}
	// Another client cannot use it (and does not burn it).
	other := postBasic(t, ts.URL+"/token", m2mID, m2mSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if status, errCode, _ := tokenError(t, other); errCode != "unauthorized_client" && errCode != "invalid_grant" {
		t.Fatalf("another client's refresh: %d %s", status, errCode)
	}
	// Narrowing is fine; the new refresh token keeps the full scope.
	resp := refreshWith(t, ts, rt, "scope", "photos.read")
	var out struct {
		Scope        string `json:"scope"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if out.Scope != "photos.read" || out.IDToken != "" {
		t.Fatalf("narrowed refresh = %+v", out)
	}
	refreshToken(t, refreshWith(t, ts, out.RefreshToken, "scope", "openid offline_access photos.read"))

	ts.clock.advance(ts.cfg.RefreshTokenTTL + time.Hour)
	rt = ts.userToken(t, "alice", "wonderland", "offline_access").RefreshToken
	ts.clock.advance(ts.cfg.RefreshTokenTTL + time.Second)
	if _, errCode, _ := tokenError(t, refreshWith(t, ts, rt)); errCode != "invalid_grant" {
		t.Fatalf("expired refresh token: %s", errCode)
	}
}

func TestConcurrentRefreshOfOneToken(t *testing.T) {
	ts := newTestServer(t)
	rt := ts.userToken(t, "alice", "wonderland", "offline_access").RefreshToken
	const n = 4
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			resp := refreshWith(t, ts, rt)
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case 400:
		default:
			t.Fatalf("status %d", s)
		}
	}
	if ok > 1 {
		t.Fatalf("%d concurrent refreshes of one token succeeded; rotation allows at most one", ok)
	}
}

func TestTokenRequestErrors(t *testing.T) {
	ts := newTestServer(t)
	post := func(contentType, body string) *http.Response {
		req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.SetBasicAuth(m2mID, m2mSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, contentType, body string
		status                  int
		err, uri                string
	}{
		{"password grant", form, "grant_type=password&username=alice&password=wonderland", 400, "unsupported_grant_type", "/docs/dropped-grants#password"},
		{"unknown grant", form, "grant_type=urn:example:magic", 400, "unsupported_grant_type", ""},
		{"no grant type", form, "scope=photos.read", 400, "invalid_request", ""},
		{"grant the client may not use", form, "grant_type=authorization_code&code=x", 400, "unauthorized_client", ""},
		{"duplicated parameter", form, "grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request", ""},
		{"JSON body", "application/json", `{"grant_type":"client_credentials"}`, 400, "invalid_request", ""},
		{"invalid UTF-8", form, "grant_type=client_credentials&scope=%ff%fe", 400, "invalid_request", ""},
		{"bad percent-encoding", form, "grant_type=client_credentials&scope=%zz", 400, "invalid_request", ""},
		{"SQL-looking scope", form, "grant_type=client_credentials&scope=photos.read'%20OR%201=1--", 400, "invalid_scope", ""},
		{"scope beyond the client's", form, "grant_type=client_credentials&scope=openid", 400, "invalid_scope", ""},
		{"oversized body", form, "grant_type=client_credentials&x=" + strings.Repeat("a", 10<<20), 413, "invalid_request", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, errCode, uri := tokenError(t, post(tc.contentType, tc.body))
			if tc.uri != "" {
				tc.uri = ts.URL + tc.uri // error_uri is absolute
			}
			if status != tc.status || errCode != tc.err || uri != tc.uri {
				t.Fatalf("got %d %q %q, want %d %q %q", status, errCode, uri, tc.status, tc.err, tc.uri)
			}
		})
	}
	// And the server still serves.
	resp := post(form, "grant_type=client_credentials")
	if resp.StatusCode != 200 {
		t.Fatalf("after the bad requests: %s", body(t, resp))
	}
	resp.Body.Close()
}

// TestCodeReplayedDuringRedemption redeems each code twice at the same
// moment, as an attacker holding a stolen code would race the app (RFC 6749
// §4.1.2), round after round, on each store and with the photos API
// checking tokens either way. A replay that lands while the first
// redemption is still minting its tokens revokes a grant not yet stored:
// the first redemption must then be refused too, or every token it got
// must be refused everywhere (userinfo, introspection, refresh, the photos
// API), also by an instance started afterwards, which knows only what the
// store recorded.
func TestCodeReplayedDuringRedemption(t *testing.T) {
	stores := []struct {
		name string
		// open starts an ImageHost on a fresh store, and returns it with a
		// function that starts another on the same database: a restart.
		open func(t *testing.T, configure func(*Config)) (*testServer, func() *testServer)
	}{
		{"sqlite", func(t *testing.T, configure func(*Config)) (*testServer, func() *testServer) {
			ts := newTestServer(t, configure)
			return ts, func() *testServer {
				st, err := sqlite.Open(context.Background(), filepath.Join(ts.dataDir, "imagehost.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return anotherInstance(t, ts, st, nil)
			}
		}},
		{"postgres", func(t *testing.T, configure func(*Config)) (*testServer, func() *testServer) {
			dbURL := newPostgresDatabase(t)
			ts := newTestServerOn(t, openPostgres(t, dbURL, nil), configure)
			return ts, func() *testServer { return anotherInstance(t, ts, openPostgres(t, dbURL, nil), nil) }
		}},
	}
	for _, sc := range stores {
		for _, check := range []string{"jwt", "introspect"} {
			t.Run(sc.name+", photos API "+check, func(t *testing.T) {
				ts, restart := sc.open(t, func(c *Config) {
					c.APITokenCheck, c.APIClientSecret = check, "photos-api-secret-for-tests-0123456789"
				})
				raceCodeRedemptions(t, ts, restart)
			})
		}
	}
}

// raceCodeRedemptions is TestCodeReplayedDuringRedemption on one server.
// It runs rounds until the replay has landed during the first redemption
// (both refused) a few times, at most maxRounds.
func raceCodeRedemptions(t *testing.T, ts *testServer, restart func() *testServer) {
	const maxRounds, wantRaces = 500, 2
	type redemption struct {
		status int
		tok    struct{ AccessToken, RefreshToken string }
	}
	redeemAsync := func(code, verifier string) (r redemption, err error) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}
		req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(appID, appSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return r, err
		}
		defer resp.Body.Close()
		r.status = resp.StatusCode
		return r, json.NewDecoder(resp.Body).Decode(&struct {
			A *string `json:"access_token"`
			R *string `json:"refresh_token"`
		}{&r.tok.AccessToken, &r.tok.RefreshToken})
	}
	// refusedEverywhere checks that the tokens a first redemption got open
	// nothing at srv.
	refusedEverywhere := func(srv *testServer, round int, access, refresh string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("round %d: userinfo answers %s to the first redemption's access token", round, resp.Status)
		}
		if active := introspectAs(t, srv, appID, appSecret, access)["active"]; active != false {
			t.Fatalf("round %d: introspection says active=%v of the first redemption's access token", round, active)
		}
		if s := apiStatus(t, srv, access); s != http.StatusUnauthorized {
			t.Fatalf("round %d: the photos API (%s) answers %d to the first redemption's access token", round, srv.cfg.APITokenCheck, s)
		}
		if status, errCode, _ := tokenError(t, refreshWith(t, srv, refresh)); status != 400 || errCode != "invalid_grant" {
			t.Fatalf("round %d: the first redemption's refresh token is refreshed: %d %s", round, status, errCode)
		}
	}

	type issuedTokens struct {
		round           int
		access, refresh string
	}
	var got []issuedTokens
	races, rounds := 0, 0
	for ; rounds < maxRounds && races < wantRaces; rounds++ {
		code, verifier := oauth.NewToken(), oauth2.GenerateVerifier()
		now := ts.clock.now()
		err := ts.store.SaveAuthCode(context.Background(), store.AuthCode{CodeHash: oauth.HashToken(code), ClientID: appID, UserID: "sub-alice",
			RedirectURI: appRedirect, Scope: "openid offline_access photos.read", Nonce: "n", CodeChallenge: oauth.S256Challenge(verifier),
			CodeChallengeMethod: "S256", AuthTime: now, ExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var results [2]redemption
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range results {
			wg.Go(func() { <-start; results[i], errs[i] = redeemAsync(code, verifier) })
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		switch a, b := results[0].status, results[1].status; {
		case a == 200 && b == 200:
			t.Fatalf("round %d: one code was redeemed twice", rounds)
		case a == 400 && b == 400:
			races++ // the replay revoked the grant before it was stored
		case a == 200 || b == 200:
			first := results[0]
			if b == 200 {
				first = results[1]
			}
			refusedEverywhere(ts, rounds, first.tok.AccessToken, first.tok.RefreshToken)
			got = append(got, issuedTokens{rounds, first.tok.AccessToken, first.tok.RefreshToken})
		default:
			t.Fatalf("round %d: the redemptions answered %d and %d", rounds, a, b)
		}
	}
	t.Logf("%d rounds: the replay landed during the first redemption in %d, after it in %d", rounds, races, len(got))
	if races < wantRaces {
		t.Fatalf("in %d rounds the replay landed during the first redemption only %d times; the test did not test the race", rounds, races)
	}
	restarted := restart()
	for _, tok := range got {
		refusedEverywhere(restarted, tok.round, tok.access, tok.refresh)
	}
}
