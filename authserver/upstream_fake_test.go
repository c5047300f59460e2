package main

// A small OpenID provider for the tests of signing in through an upstream:
// real HTTP, real keys and signatures, and knobs that make it answer the way
// a broken or hostile provider would. The happy path runs against a real
// ImageHost as the upstream instead (upstream_test.go).

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/upstream"
)

const (
	fakeClientID     = "imagehost"
	fakeClientSecret = "fake-upstream-secret-0123456789"
)

// fakeUpstream is an OpenID provider that signs every user in at once.
type fakeUpstream struct {
	t      testing.TB
	URL    string // its issuer: http://localhost:<port>, a host name of its own for cookies
	key    *rsa.PrivateKey
	forged *rsa.PrivateKey // a key it does not publish
	now    func() time.Time

	mu    sync.Mutex
	codes map[string]url.Values // code → the authorization request
	// tokenRequests counts the token requests that got past client
	// authentication.
	tokenRequests int
	// inFlight and maxInFlight count token requests being answered.
	inFlight, maxInFlight int

	// The knobs, set before a test signs in.
	advertiseISS bool                                              // authorization_response_iss_parameter_supported
	iss          func(issuer string) string                        // the iss parameter of answers; nil: the issuer
	claims       map[string]any                                    // claims of the ID token over the defaults
	editClaims   func(c map[string]any, request url.Values)        // a last change to the ID token's claims
	signForged   bool                                              // sign with the unpublished key
	token        func(w http.ResponseWriter, r *http.Request) bool // answers the token request instead, if it returns true
	authorize    func(w http.ResponseWriter, r *http.Request, q url.Values) bool
	discovery    func(md map[string]any) // changes the discovery document
}

func newFakeUpstream(t testing.TB, now func() time.Time) *fakeUpstream {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUpstream{t: t, key: key, forged: forged, now: now, codes: map[string]url.Values{}, advertiseISS: true,
		claims: map[string]any{"sub": "carol-at-fake", "preferred_username": "carol", "name": "Carol Fake", "amr": []string{"pwd", "otp"}}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f.URL = "http://localhost:" + port
	return f
}

// set changes the knobs under the lock.
func (f *fakeUpstream) set(change func(f *fakeUpstream)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		f.mu.Lock()
		md := map[string]any{"issuer": f.URL, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
			"jwks_uri": f.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}, "code_challenge_methods_supported": []string{"S256"},
			"authorization_response_iss_parameter_supported": f.advertiseISS}
		if f.discovery != nil {
			f.discovery(md)
		}
		f.mu.Unlock()
		json.NewEncoder(w).Encode(md)
	case "/jwks":
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "fake-1", Algorithm: "RS256", Use: "sig"}}})
	case "/authorize":
		f.serveAuthorize(w, r)
	case "/token":
		f.serveToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveAuthorize signs the user in at once and sends the browser back
// with a code, the state and iss.
func (f *fakeUpstream) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	hook := f.authorize
	f.mu.Unlock()
	if hook != nil && hook(w, r, q) {
		return
	}
	code := oauth.NewToken()
	f.mu.Lock()
	f.codes[code] = q
	iss := f.URL
	if f.iss != nil {
		iss = f.iss(f.URL)
	}
	f.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	if iss != "" {
		back.Set("iss", iss)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusSeeOther)
}

// serveToken checks the client, the code and the PKCE verifier, and
// answers with an ID token.
func (f *fakeUpstream) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != fakeClientID || secret != fakeClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	// Reading the form lets the server notice when ImageHost gives up and
	// closes the connection: the request's context ends.
	r.ParseForm()
	f.mu.Lock()
	f.tokenRequests++
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	hook := f.token
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	if hook != nil && hook(w, r) {
		return
	}
	f.mu.Lock()
	req, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	f.mu.Unlock()
	if !ok || !oauth.VerifyPKCE(req.Get("code_challenge"), r.PostForm.Get("code_verifier")) || req.Get("code_challenge_method") != "S256" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	f.mu.Lock()
	now := f.now()
	f.mu.Unlock()
	c := map[string]any{"iss": f.URL, "aud": fakeClientID, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"auth_time": now.Unix(), "nonce": req.Get("nonce")}
	f.mu.Lock()
	for k, v := range f.claims {
		c[k] = v
	}
	key, kid := f.key, "fake-1"
	if f.signForged {
		key = f.forged
	}
	edit := f.editClaims
	f.mu.Unlock()
	if edit != nil {
		edit(c, req)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		f.t.Error(err)
		return
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		f.t.Error(err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

// fakeConfig configures ImageHost with the fake upstream as "fake".
func fakeConfig(f *fakeUpstream) func(*Config) {
	return func(c *Config) {
		c.Upstreams = append(c.Upstreams, upstream.Config{Name: "fake", DisplayName: "Fake SSO", Issuer: f.URL,
			ClientID: fakeClientID, ClientSecret: fakeClientSecret})
	}
}

// fakeUpstreamServer is an ImageHost whose users may sign in through a
// fake upstream.
func fakeUpstreamServer(t *testing.T) (*testServer, *fakeUpstream) {
	t.Helper()
	clock := &testClock{}
	f := newFakeUpstream(t, clock.now)
	ts := newTestServer(t, fakeConfig(f))
	f.set(func(f *fakeUpstream) { f.now = ts.clock.now })
	return ts, f
}

// upstreamStart opens the login page at loginURL and presses "Continue
// with" the upstream name, and returns where ImageHost sends the browser:
// the upstream's authorization endpoint.
func (b *browser) upstreamStart(loginURL, name string) *url.URL {
	b.t.Helper()
	page := body(b.t, b.get(loginURL))
	if !strings.Contains(page, `action="/upstream/`+name+`/start"`) {
		b.t.Fatalf("the login page offers no sign-in through %s:\n%s", name, page)
	}
	form := formValues(b.t, page)
	if next, err := url.Parse(loginURL); err == nil && next.Query().Get("next") != "" {
		form.Set("next", next.Query().Get("next"))
	}
	return location(b.t, b.post("/upstream/"+name+"/start", form))
}

// throughFake signs in through the fake upstream from loginURL and returns
// ImageHost's answer to the callback the fake sends the browser to.
func (b *browser) throughFake(loginURL string) *http.Response {
	b.t.Helper()
	callback := location(b.t, b.get(b.upstreamStart(loginURL, "fake").String()))
	return b.get(callback.String())
}
