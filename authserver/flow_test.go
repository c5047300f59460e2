package main

// These tests drive ImageHost with standard client libraries, unchanged:
// golang.org/x/oauth2 and github.com/coreos/go-oidc. If they can do every
// flow, so can any conforming client.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// standardClient is the test app, configured the way any OIDC client is:
// from discovery.
type standardClient struct {
	ts       *testServer
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newStandardClient(t *testing.T, ts *testServer, clientID, secret, redirectURI string, scopes ...string) *standardClient {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &standardClient{
		ts:       ts,
		provider: provider,
		oauth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: redirectURI, Scopes: scopes},
		verifier: provider.Verifier(&oidc.Config{ClientID: clientID, Now: ts.clock.now}),
	}
}

// login runs the authorization code flow with PKCE and nonce as user and
// returns the tokens and the verified ID token.
func (c *standardClient) login(t *testing.T, b *browser, user, pw string) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	ctx := context.Background()
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	authURL := c.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	back := b.authorize(authURL, user, pw)
	q := back.Query()
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != c.ts.URL {
		t.Fatalf("iss = %q, want %q (RFC 9207)", q.Get("iss"), c.ts.URL)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", back)
	}
	tok, err := c.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := c.verifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	// go-oidc leaves the nonce to the caller.
	if idToken.Nonce != nonce {
		t.Fatalf("nonce = %q, want %q", idToken.Nonce, nonce)
	}
	if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	return tok, idToken
}

func TestStandardClientCodeFlow(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "profile", "email", "offline_access", "photos.read")
	tok, idToken := c.login(t, ts.browser(), "alice", "wonderland")

	if idToken.Subject != "sub-alice" {
		t.Fatalf("sub = %q", idToken.Subject)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}
	if tok.Expiry.IsZero() || tok.TokenType != "Bearer" {
		t.Fatalf("token = %+v", tok)
	}
	var claims struct {
		AuthTime int64  `json:"auth_time"`
		Name     string `json:"name"`
		SID      string `json:"sid"`
		AZP      string `json:"azp"`
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.AuthTime == 0 || claims.Name != "Alice" || claims.SID == "" || claims.AZP != appID {
		t.Fatalf("ID token claims = %+v", claims)
	}

	// UserInfo with the access token.
	info, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != "sub-alice" || info.Email != "alice@example.org" {
		t.Fatalf("userinfo = %+v", info)
	}

	// The photos API accepts the access token.
	photosResp, err := c.oauth.Client(ctx, tok).Get(ts.URL + "/api/photos")
	if err != nil || photosResp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/photos: %v %v", err, photosResp.Status)
	}
	photosResp.Body.Close()

	// Refresh: a token source with only a refresh token must refresh.
	refreshed, err := c.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.AccessToken == tok.AccessToken || refreshed.RefreshToken == tok.RefreshToken || refreshed.RefreshToken == "" {
		t.Fatal("refresh did not rotate the tokens")
	}
	if raw, _ := refreshed.Extra("id_token").(string); raw != "" {
		if _, err := c.verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("refreshed ID token: %v", err)
		}
	}
}

func TestPublicClientWithPKCE(t *testing.T) {
	ts := newTestServer(t)
	c := newStandardClient(t, ts, spaID, "", spaRedirect, "openid", "offline_access", "photos.read")
	c.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tok, idToken := c.login(t, ts.browser(), "bob", "builder")
	if idToken.Subject != "sub-bob" || tok.RefreshToken == "" {
		t.Fatalf("sub %q, refresh %q", idToken.Subject, tok.RefreshToken)
	}
	if _, err := c.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("public client refresh: %v", err)
	}
}

func TestSecondAuthorizationNeedsNoLoginOrConsent(t *testing.T) {
	ts := newTestServer(t)
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
	b := ts.browser()
	c.login(t, b, "alice", "wonderland")
	// Same browser, same scopes: straight back to the app with a code.
	back := location(t, b.get(c.oauth.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	if !strings.HasPrefix(back.String(), appRedirect) || back.Query().Get("code") == "" {
		t.Fatalf("second authorization went to %s, want the app with a code", back)
	}
	// A new scope: consent asks only for it.
	c.oauth.Scopes = append(c.oauth.Scopes, "photos.write")
	next := location(t, b.get(c.oauth.AuthCodeURL("s3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	if next.Path != "/consent" {
		t.Fatalf("went to %s, want /consent", next)
	}
	page := body(t, b.get(next.String()))
	newPart, _, _ := strings.Cut(page, "You allowed before")
	if !strings.Contains(newPart, "photos.write") || strings.Contains(newPart, "<code>photos.read</code>") {
		t.Fatalf("consent page should ask for photos.write only:\n%s", page)
	}
}

func TestClientCredentials(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: m2mID, ClientSecret: m2mSecret, TokenURL: ts.URL + "/token", Scopes: []string{"photos.read", "photos.write"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Fatal("client credentials must return neither refresh nor ID token")
	}
	claims, e := parseTestAccessToken(ts, tok.AccessToken)
	if e != nil {
		t.Fatal(e)
	}
	if claims.Subject != m2mID || claims.ClientID != m2mID {
		t.Fatalf("sub %q client_id %q, want both %q", claims.Subject, claims.ClientID, m2mID)
	}
	// The robot sees only its own uploads: at first, none.
	client := cc.Client(ctx)
	var list []map[string]any
	getJSON(t, client, ts.URL+"/api/photos", &list)
	if len(list) != 0 {
		t.Fatalf("robot sees %d photos, want 0", len(list))
	}
	resp := upload(t, client, ts.URL+"/api/photos", "robot.png", pngBytes(t), "From the robot")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", body(t, resp))
	}
	resp.Body.Close()
	getJSON(t, client, ts.URL+"/api/photos", &list)
	if len(list) != 1 || list[0]["title"] != "From the robot" {
		t.Fatalf("after upload: %v", list)
	}
}

func TestIntrospectionAndRevocation(t *testing.T) {
	ts := newTestServer(t)
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "offline_access", "photos.read")
	tok, _ := c.login(t, ts.browser(), "alice", "wonderland")

	introspect := func(token string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(appID, appSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("introspection response is cacheable")
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		return out
	}
	at := introspect(tok.AccessToken)
	if at["active"] != true || at["sub"] != "sub-alice" || at["client_id"] != appID || at["username"] != "alice" {
		t.Fatalf("access token introspection = %v", at)
	}
	if rt := introspect(tok.RefreshToken); rt["active"] != true || rt["token_type"] != "refresh_token" || rt["username"] != "alice" {
		t.Fatalf("refresh token introspection = %v", rt)
	}
	if junk := introspect("not-a-token"); junk["active"] != false || len(junk) != 1 {
		t.Fatalf("junk introspection = %v, want only active=false", junk)
	}

	// RFC 7009: revoking the refresh token ends the grant, access token included.
	form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
	req, _ := http.NewRequest("POST", ts.URL+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(appID, appSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	if rt := introspect(tok.RefreshToken); rt["active"] != false {
		t.Fatalf("revoked refresh token still active: %v", rt)
	}
	if at := introspect(tok.AccessToken); at["active"] != false {
		t.Fatalf("access token of a revoked grant still active: %v", at)
	}
	if _, err := c.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("revoked refresh token still refreshes")
	}
}

func TestRevokeAccessToken(t *testing.T) {
	ts := newTestServer(t)
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
	tok, _ := c.login(t, ts.browser(), "alice", "wonderland")
	resp := postBasic(t, ts.URL+"/revoke", appID, appSecret, url.Values{"token": {tok.AccessToken}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", resp.Status)
	}
	// Userinfo consults the deny list.
	req, _ := http.NewRequest("GET", ts.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("userinfo with a revoked token: %s", resp.Status)
	}
}

func TestDynamicRegistrationThenFlow(t *testing.T) {
	ts := newTestServer(t)
	md := `{"client_name":"Attendee App","redirect_uris":["http://localhost:3000/cb"],"grant_types":["authorization_code","refresh_token"],"scope":"openid photos.read offline_access"}`
	req, _ := http.NewRequest("POST", ts.URL+"/register", strings.NewReader(md))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+iat)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		RedirectURIs []string `json:"redirect_uris"`
		Method       string   `json:"token_endpoint_auth_method"`
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body(t, resp))
	}
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if reg.ClientID == "" || len(reg.ClientSecret) < 43 || reg.Method != "client_secret_basic" {
		t.Fatalf("registration response = %+v", reg)
	}
	stored, err := ts.store.ClientByID(context.Background(), reg.ClientID)
	if err != nil || bytes.Contains(stored.SecretHash, []byte(reg.ClientSecret)) {
		t.Fatal("the secret must be stored hashed")
	}
	c := newStandardClient(t, ts, reg.ClientID, reg.ClientSecret, "http://localhost:3000/cb", "openid", "photos.read", "offline_access")
	tok, idToken := c.login(t, ts.browser(), "bob", "builder")
	if idToken.Subject != "sub-bob" || tok.RefreshToken == "" {
		t.Fatal("registered client could not complete the flow")
	}
}

// --- helpers shared by the API tests ---

func postBasic(t *testing.T, u, id, secret string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func getJSON(t *testing.T, client *http.Client, u string, v any) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func upload(t *testing.T, client *http.Client, u, filename string, data []byte, title string) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(data)
	if title != "" {
		mw.WriteField("title", title)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", u, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// newMultipart writes a one-file multipart body and returns its content type.
func newMultipart(buf *bytes.Buffer, field, filename string, data []byte) string {
	mw := multipart.NewWriter(buf)
	fw, _ := mw.CreateFormFile(field, filename)
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType()
}
