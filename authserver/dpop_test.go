package main

// DPoP (RFC 9449) against a real ImageHost: every MUST of the proof checks
// at the token endpoint and at the photos API, the downgrade, another key's
// proof, a replayed proof (also from goroutines released together, at two
// instances on one PostgreSQL database), the nonces, and the refresh token
// of a public client bound to its key.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"oauthdemo/authserver/dpop"
	"oauthdemo/authserver/oauth"
)

// dpopKey is a client's DPoP key pair, and the proofs it signs.
type dpopKey struct {
	priv crypto.Signer
	alg  string
	jwk  map[string]any // the public key, as the jwk header carries it
	jkt  string
}

func newDPoPKey(t testing.TB) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return dpopKeyOf(t, priv, "ES256")
}

func dpopKeyOf(t testing.TB, priv crypto.Signer, alg string) *dpopKey {
	t.Helper()
	pub := jose.JSONWebKey{Key: priv.Public()}
	raw, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, alg: alg, jwk: m, jkt: base64.RawURLEncoding.EncodeToString(thumb)}
}

// proofClaims are a proof's claims, which a test may change before signing.
type proofClaims map[string]any

// claims are the claims of a good proof for method and u, with nonce and,
// at a resource, the access token's hash.
func (k *dpopKey) claims(method, u, nonce, accessToken string) proofClaims {
	c := proofClaims{"jti": oauth.NewID(), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if accessToken != "" {
		c["ath"] = dpop.TokenHash(accessToken)
	}
	return c
}

// sign makes a proof of header and claims, signed with signer (nil: no
// signature, for alg none).
func sign(t testing.TB, header map[string]any, claims proofClaims, signer crypto.Signer) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch key := signer.(type) {
	case nil:
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// header is a good proof's JOSE header.
func (k *dpopKey) header() map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.jwk}
}

// proof signs a good proof for method and u.
func (k *dpopKey) proof(t testing.TB, method, u, nonce, accessToken string) string {
	return sign(t, k.header(), k.claims(method, u, nonce, accessToken), k.priv)
}

// dpopRequest sends a request with a DPoP header (none when proof is ""),
// a form body when form is not nil, and the access token with scheme
// ("" for none).
func dpopRequest(t testing.TB, method, u, proof, scheme, token string, form url.Values, basic ...string) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	if scheme != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// oauthAnswer is a response's status and RFC 6749 §5.2 or RFC 6750 §3 error.
type oauthAnswer struct {
	status       int
	err, desc    string
	nonce        string // DPoP-Nonce
	challenges   []string
	accessToken  string
	refreshToken string
	tokenType    string
}

func answerOf(t testing.TB, resp *http.Response) oauthAnswer {
	t.Helper()
	defer resp.Body.Close()
	var b struct {
		Error        string `json:"error"`
		Description  string `json:"error_description"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
	}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &b)
	return oauthAnswer{status: resp.StatusCode, err: b.Error, desc: b.Description, nonce: resp.Header.Get("DPoP-Nonce"),
		challenges: resp.Header.Values("WWW-Authenticate"), accessToken: b.AccessToken, refreshToken: b.RefreshToken, tokenType: b.TokenType}
}

// robotTokenRequest is a client-credentials request of the robot with
// proof.
func robotTokenRequest(t testing.TB, ts *testServer, proof string) oauthAnswer {
	t.Helper()
	return answerOf(t, dpopRequest(t, "POST", ts.URL+"/token", proof, "", "", url.Values{"grant_type": {"client_credentials"}}, m2mID, m2mSecret))
}

// tokenNonce asks the token endpoint for its nonce, as a client's first
// proof does: it has none, and is answered use_dpop_nonce with one.
func tokenNonce(t testing.TB, ts *testServer, k *dpopKey) string {
	t.Helper()
	a := robotTokenRequest(t, ts, k.proof(t, "POST", ts.URL+"/token", "", ""))
	if a.status != 400 || a.err != "use_dpop_nonce" || a.nonce == "" {
		t.Fatalf("a proof without a nonce: %+v, want 400 use_dpop_nonce with a DPoP-Nonce header (RFC 9449 §8)", a)
	}
	return a.nonce
}

// boundRobotToken gets an access token of the robot bound to k.
func boundRobotToken(t testing.TB, ts *testServer, k *dpopKey) string {
	t.Helper()
	a := robotTokenRequest(t, ts, k.proof(t, "POST", ts.URL+"/token", tokenNonce(t, ts, k), ""))
	if a.status != 200 || a.tokenType != "DPoP" {
		t.Fatalf("client credentials with a DPoP proof: %+v, want 200 with token_type DPoP", a)
	}
	return a.accessToken
}

// apiNonce asks the photos API for its nonce, with a proof that has none.
func apiNonce(t testing.TB, ts *testServer, k *dpopKey, token string) string {
	t.Helper()
	a := answerOf(t, dpopRequest(t, "GET", ts.URL+"/api/photos", k.proof(t, "GET", ts.URL+"/api/photos", "", token), "DPoP", token, nil))
	if a.status != 401 || a.nonce == "" || !strings.HasPrefix(a.challenges[len(a.challenges)-1], `DPoP realm="imagehost", error="use_dpop_nonce"`) {
		t.Fatalf("a proof without a nonce at the photos API: %+v, want 401, WWW-Authenticate: DPoP error=\"use_dpop_nonce\", DPoP-Nonce (RFC 9449 §9)", a)
	}
	return a.nonce
}

// TestDPoPTokenRequestChecks sends the token endpoint one bad proof for
// each check of RFC 9449 §4.3: each is refused with invalid_dpop_proof (or
// use_dpop_nonce), and a good one gets a token bound to its key.
func TestDPoPTokenRequestChecks(t *testing.T) {
	ts := newTestServer(t)
	k := newDPoPKey(t)
	other := newDPoPKey(t)
	tokenURL := ts.URL + "/token"
	nonce := tokenNonce(t, ts, k)
	good := func() proofClaims { return k.claims("POST", tokenURL, nonce, "") }
	without := func(claim string) string {
		c := good()
		delete(c, claim)
		return sign(t, k.header(), c, k.priv)
	}
	with := func(claim string, v any) string {
		c := good()
		c[claim] = v
		return sign(t, k.header(), c, k.priv)
	}
	headerWith := func(name string, v any) string {
		h := k.header()
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
		return sign(t, h, good(), k.priv)
	}
	rsaKey := func(bits int) *dpopKey {
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return dpopKeyOf(t, priv, "RS256")
	}
	privateJWK := func() map[string]any {
		raw, _ := (&jose.JSONWebKey{Key: k.priv}).MarshalJSON()
		var m map[string]any
		json.Unmarshal(raw, &m)
		return m
	}()
	replayed := k.proof(t, "POST", tokenURL, nonce, "")
	if a := robotTokenRequest(t, ts, replayed); a.status != 200 {
		t.Fatalf("a good proof: %+v", a)
	}
	small := rsaKey(1024)
	big := rsaKey(2048)
	tests := []struct {
		name  string
		proof func() string
		err   string
	}{
		// Check 1: "There is not more than one DPoP HTTP request header field."
		{"two DPoP headers", nil, "invalid_dpop_proof"},
		// Check 2: "a single and well-formed JWT".
		{"not a JWT", func() string { return "not-a-jwt" }, "invalid_dpop_proof"},
		{"longer than 4 KiB", func() string { return with("pad", strings.Repeat("x", 4<<10)) }, "invalid_dpop_proof"},
		// Check 3: "All required claims per Section 4.2 are contained in the JWT."
		{"no jti", func() string { return without("jti") }, "invalid_dpop_proof"},
		{"no htm", func() string { return without("htm") }, "invalid_dpop_proof"},
		{"no htu", func() string { return without("htu") }, "invalid_dpop_proof"},
		{"no iat", func() string { return without("iat") }, "invalid_dpop_proof"},
		{"no jwk", func() string { return headerWith("jwk", nil) }, "invalid_dpop_proof"},
		// Check 4: typ dpop+jwt (RFC 9449 §11.5).
		{"typ JWT", func() string { return headerWith("typ", "JWT") }, "invalid_dpop_proof"},
		{"typ at+jwt", func() string { return headerWith("typ", "at+jwt") }, "invalid_dpop_proof"},
		// Check 5: an asymmetric algorithm, not none, on the allow list.
		{"alg none", func() string {
			h := k.header()
			h["alg"] = "none"
			return sign(t, h, good(), nil)
		}, "invalid_dpop_proof"},
		{"alg HS256", func() string { return headerWith("alg", "HS256") }, "invalid_dpop_proof"},
		{"alg ES512, not on the list", func() string { return headerWith("alg", "ES512") }, "invalid_dpop_proof"},
		// Check 6: the signature verifies with the jwk.
		{"signed by another key than its jwk", func() string { return sign(t, k.header(), good(), other.priv) }, "invalid_dpop_proof"},
		{"alg ES256 with an RSA jwk", func() string {
			h := big.header()
			h["alg"] = "ES256"
			return sign(t, h, big.claims("POST", tokenURL, nonce, ""), big.priv)
		}, "invalid_dpop_proof"},
		// Check 7: "The jwk JOSE Header Parameter does not contain a private key."
		{"jwk with the private key", func() string { return headerWith("jwk", privateJWK) }, "invalid_dpop_proof"},
		{"RSA key of 1,024 bits", func() string { return small.proof(t, "POST", tokenURL, nonce, "") }, "invalid_dpop_proof"},
		// Check 8: htm.
		{"htm GET", func() string { return with("htm", "GET") }, "invalid_dpop_proof"},
		{"htm post", func() string { return with("htm", "post") }, "invalid_dpop_proof"},
		// Check 9: htu.
		{"htu of another endpoint", func() string { return with("htu", ts.URL+"/introspect") }, "invalid_dpop_proof"},
		{"htu of another host", func() string { return with("htu", strings.Replace(tokenURL, "127.0.0.1", "localhost", 1)) }, "invalid_dpop_proof"},
		{"htu over https", func() string { return with("htu", strings.Replace(tokenURL, "http:", "https:", 1)) }, "invalid_dpop_proof"},
		{"htu not a URL", func() string { return with("htu", "token") }, "invalid_dpop_proof"},
		// Check 10 and §11.3: the server's nonce.
		{"no nonce", func() string { return without("nonce") }, "use_dpop_nonce"},
		{"a nonce of its own", func() string { return with("nonce", "made-up") }, "use_dpop_nonce"},
		// Check 11: iat within the window.
		{"iat two minutes ago", func() string { return with("iat", time.Now().Add(-2*time.Minute).Unix()) }, "invalid_dpop_proof"},
		{"iat two minutes ahead", func() string { return with("iat", time.Now().Add(2*time.Minute).Unix()) }, "invalid_dpop_proof"},
		// §11.1: each proof once.
		{"a proof used before", func() string { return replayed }, "invalid_dpop_proof"},
		{"jti of 300 characters", func() string { return with("jti", strings.Repeat("j", 300)) }, "invalid_dpop_proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.proof == nil {
				req, _ := http.NewRequest("POST", tokenURL, strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(m2mID, m2mSecret)
				req.Header.Add("DPoP", k.proof(t, "POST", tokenURL, nonce, ""))
				req.Header.Add("DPoP", k.proof(t, "POST", tokenURL, nonce, ""))
				var err error
				if resp, err = http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				}
			} else {
				resp = dpopRequest(t, "POST", tokenURL, tc.proof(), "", "", url.Values{"grant_type": {"client_credentials"}}, m2mID, m2mSecret)
			}
			a := answerOf(t, resp)
			if a.status != 400 || a.err != tc.err {
				t.Fatalf("%d %s (%s), want 400 %s", a.status, a.err, a.desc, tc.err)
			}
			if tc.err == "use_dpop_nonce" && a.nonce != nonce {
				t.Fatalf("use_dpop_nonce came with DPoP-Nonce %q, want the current nonce", a.nonce)
			}
		})
	}

	t.Run("good proofs", func(t *testing.T) {
		for name, proof := range map[string]string{
			"ES256":                         k.proof(t, "POST", tokenURL, nonce, ""),
			"RS256, 2,048 bits":             big.proof(t, "POST", tokenURL, nonce, ""),
			"htu with a query":              with("htu", tokenURL+"?x=1#f"),
			"htu with an upper-case scheme": with("htu", strings.Replace(tokenURL, "http://", "HTTP://", 1)),
		} {
			a := robotTokenRequest(t, ts, proof)
			if a.status != 200 || a.tokenType != "DPoP" {
				t.Fatalf("%s: %+v, want a DPoP-bound token", name, a)
			}
		}
		// The access token says which key: cnf.jkt (RFC 9449 §6.1).
		c, e := parseTestAccessToken(ts, boundRobotToken(t, ts, k))
		if e != nil || c.BoundKey() != k.jkt {
			t.Fatalf("the bound token's cnf.jkt is %q (%v), want the key's thumbprint %q", c.BoundKey(), e, k.jkt)
		}
	})
}

// TestDPoPURINormalization: the htu comparison of RFC 9449 §4.3 check 9,
// with RFC 3986's syntax- and scheme-based normalization.
func TestDPoPURINormalization(t *testing.T) {
	want := "http://127.0.0.1:9090/api/photos/p1"
	for htu, same := range map[string]bool{
		want:                                  true,
		"HTTP://127.0.0.1:9090/api/photos/p1": true,
		"http://127.0.0.1:9090/api/photos/p1?x=1":  true,
		"http://127.0.0.1:9090/api/photos/p1#f":    true,
		"http://127.0.0.1:9090/api/photos/%70%31":  true,
		"http://127.0.0.1:9090/api/photos/P1":      false,
		"http://127.0.0.1:9091/api/photos/p1":      false,
		"https://127.0.0.1:9090/api/photos/p1":     false,
		"http://user@127.0.0.1:9090/api/photos/p1": false,
		"/api/photos/p1":                           false,
		"":                                         false,
	} {
		if got := dpop.SameURI(htu, want); got != same {
			t.Errorf("SameURI(%q, %q) = %v, want %v", htu, want, got, same)
		}
	}
	if !dpop.SameURI("https://Example.org:443", "https://example.org/") || !dpop.SameURI("http://[::1]:80/a", "http://[::1]/a") {
		t.Error("default ports and empty paths are not normalized")
	}
}

// TestDPoPCodeNotSpentOnANonceRequest: a code redemption whose proof has no
// nonce is answered use_dpop_nonce before the code is looked at, so the
// client's retry with the nonce redeems it.
func TestDPoPCodeNotSpentOnANonceRequest(t *testing.T) {
	ts := newTestServer(t)
	k := newDPoPKey(t)
	code, verifier := ts.codeFor(t, ts.browser(), "openid photos.read")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}
	first := answerOf(t, dpopRequest(t, "POST", ts.URL+"/token", k.proof(t, "POST", ts.URL+"/token", "", ""), "", "", form, appID, appSecret))
	if first.err != "use_dpop_nonce" {
		t.Fatalf("first redemption: %+v, want use_dpop_nonce", first)
	}
	second := answerOf(t, dpopRequest(t, "POST", ts.URL+"/token", k.proof(t, "POST", ts.URL+"/token", first.nonce, ""), "", "", form, appID, appSecret))
	if second.status != 200 || second.tokenType != "DPoP" {
		t.Fatalf("the retry with the nonce: %+v, want the code redeemed for a DPoP-bound token", second)
	}
}

// TestDPoPAtThePhotosAPI presents a token bound to a key at the photos API
// in every way a thief, or a broken client, could, in both token-check
// modes: each is refused with the error RFC 9449 §7 names, in the challenge
// of the scheme the request used.
func TestDPoPAtThePhotosAPI(t *testing.T) {
	for _, mode := range []string{"jwt", "introspect"} {
		t.Run(mode, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.APITokenCheck = mode })
			k, thief := newDPoPKey(t), newDPoPKey(t)
			token := boundRobotToken(t, ts, k)
			bearer := mintRobotToken(t, ts)
			api := ts.URL + "/api/photos"
			nonce := apiNonce(t, ts, k, token)
			tokenEndpointNonce := tokenNonce(t, ts, k)
			used := k.proof(t, "GET", api, nonce, token)
			if a := answerOf(t, dpopRequest(t, "GET", api, used, "DPoP", token, nil)); a.status != 200 {
				t.Fatalf("a good proof: %+v", a)
			}
			good := func() proofClaims { return k.claims("GET", api, nonce, token) }
			with := func(claim string, v any) string {
				c := good()
				c[claim] = v
				return sign(t, k.header(), c, k.priv)
			}
			tests := []struct {
				name          string
				proof, scheme string
				token         string
				status        int
				err           string
				challenge     string // the scheme whose challenge carries the error
			}{
				// RFC 9449 §7.2: "MUST reject a DPoP-bound access token
				// received as a bearer token".
				{"the bound token as a bearer token", "", "Bearer", token, 401, "invalid_token", "Bearer"},
				{"the bound token as a bearer token, with a good proof", k.proof(t, "GET", api, nonce, token), "Bearer", token, 401, "invalid_token", "Bearer"},
				// §7.1: "MUST check that a DPoP proof was also received".
				{"the DPoP scheme without a proof", "", "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				// §6, §4.3 check 12: the proof's key is the token's.
				{"a proof of the thief's key", thief.proof(t, "GET", api, nonce, token), "DPoP", token, 401, "invalid_token", "DPoP"},
				// §11.1: a proof once.
				{"a proof used before", used, "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				// §4.3 checks 8, 9, 12: htm, htu, ath.
				{"a proof for POST", with("htm", "POST"), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				{"a proof for another URL", with("htu", api+"/p1"), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				{"a proof for the token endpoint", with("htu", ts.URL+"/token"), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				{"a proof for another access token", with("ath", dpop.TokenHash(bearer)), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				{"a proof without ath", func() string { c := good(); delete(c, "ath"); return sign(t, k.header(), c, k.priv) }(), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				{"a proof signed by the thief with the owner's jwk", sign(t, k.header(), good(), thief.priv), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				// §9: the resource's nonce, not the token endpoint's.
				{"the token endpoint's nonce", with("nonce", tokenEndpointNonce), "DPoP", token, 401, "use_dpop_nonce", "DPoP"},
				{"a proof too old", with("iat", time.Now().Add(-5*time.Minute).Unix()), "DPoP", token, 401, "invalid_dpop_proof", "DPoP"},
				// A bearer token is not bound: the DPoP scheme is a mistake.
				{"a bearer token with the DPoP scheme", k.proof(t, "GET", api, nonce, bearer), "DPoP", bearer, 401, "invalid_token", "DPoP"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					a := answerOf(t, dpopRequest(t, "GET", api, tc.proof, tc.scheme, tc.token, nil))
					if a.status != tc.status || a.err != tc.err {
						t.Fatalf("%d %s (%s), want %d %s", a.status, a.err, a.desc, tc.status, tc.err)
					}
					if len(a.challenges) != 2 || !strings.HasPrefix(a.challenges[0], "Bearer ") || !strings.HasPrefix(a.challenges[1], "DPoP ") ||
						!strings.Contains(a.challenges[1], `algs="ES256 EdDSA PS256 RS256"`) {
						t.Fatalf("WWW-Authenticate %q, want a Bearer and a DPoP challenge with algs (RFC 9449 §7.1)", a.challenges)
					}
					carrier := a.challenges[0]
					if tc.challenge == "DPoP" {
						carrier = a.challenges[1]
					}
					if !strings.Contains(carrier, `error="`+tc.err+`"`) {
						t.Fatalf("WWW-Authenticate %q: the %s challenge should carry the error (RFC 9449 §7.2)", a.challenges, tc.challenge)
					}
				})
			}
			// A bearer token still works as one.
			if s := apiStatus(t, ts, bearer); s != 200 {
				t.Fatalf("a bearer token: %d", s)
			}
		})
	}
}

// TestDPoPAtUserinfo: userinfo holds a bound token to its key as the photos
// API does.
func TestDPoPAtUserinfo(t *testing.T) {
	ts := newTestServer(t)
	k := newDPoPKey(t)
	code, verifier := ts.codeFor(t, ts.browser(), "openid profile")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}
	tok := answerOf(t, dpopRequest(t, "POST", ts.URL+"/token", k.proof(t, "POST", ts.URL+"/token", tokenNonce(t, ts, k), ""), "", "", form, appID, appSecret))
	if tok.tokenType != "DPoP" {
		t.Fatalf("redemption: %+v", tok)
	}
	u := ts.URL + "/userinfo"
	if a := answerOf(t, dpopRequest(t, "GET", u, "", "Bearer", tok.accessToken, nil)); a.status != 401 || a.err != "invalid_token" {
		t.Fatalf("userinfo with the bound token as a bearer token: %+v, want 401 invalid_token", a)
	}
	nonce := answerOf(t, dpopRequest(t, "GET", u, k.proof(t, "GET", u, "", tok.accessToken), "DPoP", tok.accessToken, nil)).nonce
	if a := answerOf(t, dpopRequest(t, "GET", u, k.proof(t, "GET", u, nonce, tok.accessToken), "DPoP", tok.accessToken, nil)); a.status != 200 {
		t.Fatalf("userinfo with a good proof: %+v", a)
	}
}

// TestDPoPReplayedAtOnce presents one proof from goroutines released
// together, as a thief racing the client with a copy would: exactly one is
// served. On PostgreSQL, half of them go to each of two instances with
// their own pools: the proofs are remembered in the database they share.
func TestDPoPReplayedAtOnce(t *testing.T) {
	run := func(t *testing.T, instances []*testServer) {
		ts := instances[0]
		k := newDPoPKey(t)
		token := boundRobotToken(t, ts, k)
		api := ts.URL + "/api/photos"
		nonce := apiNonce(t, ts, k, token)
		for round := range 5 {
			// Made for the first instance's URL, the issuer's: every
			// instance is ImageHost at the same address behind a balancer.
			proof := k.proof(t, "GET", api, nonce, token)
			const n = 16
			statuses := make([]int, n)
			var ready, done sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				ready.Add(1)
				done.Go(func() {
					ready.Done()
					<-start
					req, _ := http.NewRequest("GET", instances[i%len(instances)].URL+"/api/photos", nil)
					req.Header.Set("Authorization", "DPoP "+token)
					req.Header.Set("DPoP", proof)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			ready.Wait()
			close(start)
			done.Wait()
			served, refused := 0, 0
			for _, s := range statuses {
				switch s {
				case 200:
					served++
				case 401:
					refused++
				}
			}
			if served != 1 || refused != n-1 {
				t.Fatalf("round %d: one proof presented %d times at once: %d served, %d refused (%v); want exactly one served", round, n, served, refused, statuses)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) { run(t, []*testServer{newTestServer(t)}) })
	t.Run("postgres, two instances", func(t *testing.T) {
		dbURL := newPostgresDatabase(t)
		first := newTestServerOn(t, openPostgres(t, dbURL, nil))
		run(t, []*testServer{first, anotherInstance(t, first, openPostgres(t, dbURL, nil), nil)})
	})
}

// TestDPoPNonces: a nonce is good for its five minutes and the next, after
// which the server names the new one; a nonce of ten minutes ago is
// refused (RFC 9449 §8.2, §11.2).
func TestDPoPNonces(t *testing.T) {
	ts := newTestServer(t)
	k := newDPoPKey(t)
	nonce := tokenNonce(t, ts, k)
	if a := robotTokenRequest(t, ts, k.proof(t, "POST", ts.URL+"/token", nonce, "")); a.status != 200 || a.nonce != "" {
		t.Fatalf("a proof with the current nonce: %+v, want 200 without a new nonce", a)
	}
	ts.clock.advance(dpop.NoncePeriod)
	// The proofs' iat follows the server's clock, as a client's would.
	late := func(nonce string) string {
		c := k.claims("POST", ts.URL+"/token", nonce, "")
		c["iat"] = ts.clock.now().Unix()
		return sign(t, k.header(), c, k.priv)
	}
	a := robotTokenRequest(t, ts, late(nonce))
	if a.status != 200 || a.nonce == "" || a.nonce == nonce {
		t.Fatalf("a proof with the last period's nonce: %+v, want 200 with the new nonce in DPoP-Nonce (RFC 9449 §8.2)", a)
	}
	next := a.nonce
	ts.clock.advance(dpop.NoncePeriod)
	if a := robotTokenRequest(t, ts, late(nonce)); a.err != "use_dpop_nonce" || a.nonce == nonce {
		t.Fatalf("a nonce two periods old: %+v, want use_dpop_nonce with a new nonce", a)
	}
	if a := robotTokenRequest(t, ts, late(next)); a.status != 200 {
		t.Fatalf("the nonce the server named last: %+v", a)
	}
}

// TestDPoPRefreshTokenBinding: a public client's refresh token is bound to
// its key (RFC 9449 §5): without a proof, or with another key's, it is
// refused, and the grant stays for the rightful client. A confidential
// client's is not bound: its credentials constrain it, and it may change
// keys.
func TestDPoPRefreshTokenBinding(t *testing.T) {
	ts := newTestServer(t)
	k, thief := newDPoPKey(t), newDPoPKey(t)
	tokenURL := ts.URL + "/token"
	nonce := tokenNonce(t, ts, k)
	redeemWith := func(clientID, secret, redirect string, scope string) (refresh string) {
		_, refresh = redeemBound(t, ts, k, nonce, clientID, secret, redirect, scope)
		return refresh
	}
	refresh := func(clientID, secret, rt string, key *dpopKey) oauthAnswer {
		proof := ""
		if key != nil {
			proof = key.proof(t, "POST", tokenURL, nonce, "")
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
		var basic []string
		if secret != "" {
			basic = []string{clientID, secret}
		}
		return answerOf(t, dpopRequest(t, "POST", tokenURL, proof, "", "", form, basic...))
	}

	t.Run("public client", func(t *testing.T) {
		rt := redeemWith(spaID, "", spaRedirect, "openid offline_access photos.read")
		if a := refresh(spaID, "", rt, nil); a.status != 400 || a.err != "invalid_grant" {
			t.Fatalf("the bound refresh token without a proof: %+v, want invalid_grant", a)
		}
		if a := refresh(spaID, "", rt, thief); a.status != 400 || a.err != "invalid_grant" {
			t.Fatalf("the bound refresh token with the thief's proof: %+v, want invalid_grant", a)
		}
		a := refresh(spaID, "", rt, k)
		if a.status != 200 || a.tokenType != "DPoP" {
			t.Fatalf("the rightful client's refresh after the thief's tries: %+v, want 200 DPoP (the grant is intact)", a)
		}
		if c, _ := parseTestAccessToken(ts, a.accessToken); c.BoundKey() != k.jkt {
			t.Fatalf("the refreshed access token is bound to %q, want %q", c.BoundKey(), k.jkt)
		}
	})
	t.Run("confidential client", func(t *testing.T) {
		rt := redeemWith(appID, appSecret, appRedirect, "openid offline_access photos.read")
		a := refresh(appID, appSecret, rt, thief)
		if a.status != 200 || a.tokenType != "DPoP" {
			t.Fatalf("a confidential client's refresh with a new key: %+v, want 200", a)
		}
		if c, _ := parseTestAccessToken(ts, a.accessToken); c.BoundKey() != thief.jkt {
			t.Fatalf("the new access token is bound to %q, want the new key %q", c.BoundKey(), thief.jkt)
		}
	})
}

// redeemBound runs the code flow for clientID as alice, and redeems the
// code with a proof of k (and the client's secret, unless it is public):
// it returns the access token and refresh token, bound to k.
func redeemBound(t *testing.T, ts *testServer, k *dpopKey, nonce, clientID, secret, redirect, scope string) (access, refresh string) {
	t.Helper()
	tokenURL := ts.URL + "/token"
	verifier := oauth2.GenerateVerifier()
	back := ts.browser().authorize(ts.authURL(clientID, redirect, scope, "st", oauth.S256Challenge(verifier)), "alice", "wonderland")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect},
		"code_verifier": {verifier}, "client_id": {clientID}}
	var basic []string
	if secret != "" {
		basic = []string{clientID, secret}
	}
	resp := dpopRequest(t, "POST", tokenURL, k.proof(t, "POST", tokenURL, nonce, ""), "", "", form, basic...)
	defer resp.Body.Close()
	var out struct {
		TokenType    string `json:"token_type"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if out.TokenType != "DPoP" || out.RefreshToken == "" {
		t.Fatalf("%s's redemption: %d %+v", clientID, resp.StatusCode, out)
	}
	return out.AccessToken, out.RefreshToken
}

// TestDPoPRevocationNeedsTheKey: a public client's tokens bound to its key
// are revoked only with a proof of that key, made for /revoke with
// ImageHost's nonce. Whoever copied the refresh token, or the access token,
// cannot revoke them to sign the user out: without a proof, or with a
// proof of their own key, the answer is invalid_dpop_proof and the grant
// stays. The owner's proof revokes them. A confidential client's bound
// tokens are revoked with its credentials alone, as before.
func TestDPoPRevocationNeedsTheKey(t *testing.T) {
	ts := newTestServer(t)
	k, thief := newDPoPKey(t), newDPoPKey(t)
	tokenURL, revokeURL, apiURL := ts.URL+"/token", ts.URL+"/revoke", ts.URL+"/api/photos"
	nonce := tokenNonce(t, ts, k)
	revoke := func(clientID, secret, token string, proof string) oauthAnswer {
		var basic []string
		if secret != "" {
			basic = []string{clientID, secret}
		}
		return answerOf(t, dpopRequest(t, "POST", revokeURL, proof, "", "", url.Values{"token": {token}, "client_id": {clientID}}, basic...))
	}
	refresh := func(clientID, secret, rt string, key *dpopKey) oauthAnswer {
		var basic []string
		if secret != "" {
			basic = []string{clientID, secret}
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
		return answerOf(t, dpopRequest(t, "POST", tokenURL, key.proof(t, "POST", tokenURL, nonce, ""), "", "", form, basic...))
	}
	// api calls the photos API with the access token and a proof of k.
	api := func(access, apiNonce string) int {
		resp := dpopRequest(t, "GET", apiURL, k.proof(t, "GET", apiURL, apiNonce, access), "DPoP", access, nil)
		resp.Body.Close()
		return resp.StatusCode
	}
	// refusedSoon fails the test unless the photos API refuses access
	// within a second of its revocation.
	refusedSoon := func(access, apiNonce string) {
		t.Helper()
		for deadline := time.Now().Add(time.Second); api(access, apiNonce) != http.StatusUnauthorized; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the photos API still takes the access token a second after its revocation")
			}
		}
	}

	t.Run("public client", func(t *testing.T) {
		access, rt := redeemBound(t, ts, k, nonce, spaID, "", spaRedirect, "openid offline_access photos.read")
		apiNonce := apiNonce(t, ts, k, access)
		dayOld := func() string {
			c := k.claims("POST", revokeURL, nonce, "")
			c["iat"] = time.Now().Add(-24 * time.Hour).Unix()
			return sign(t, k.header(), c, k.priv)
		}
		for _, try := range []struct {
			name  string
			proof func() string
			want  string
		}{
			{"no proof", func() string { return "" }, "invalid_dpop_proof"},
			{"a proof of the thief's key", func() string { return thief.proof(t, "POST", revokeURL, nonce, "") }, "invalid_dpop_proof"},
			{"the owner's proof for /token", func() string { return k.proof(t, "POST", tokenURL, nonce, "") }, "invalid_dpop_proof"},
			{"the owner's proof for GET", func() string { return k.proof(t, "GET", revokeURL, nonce, "") }, "invalid_dpop_proof"},
			{"the owner's proof of a day ago", dayOld, "invalid_dpop_proof"},
			{"the owner's proof without a nonce", func() string { return k.proof(t, "POST", revokeURL, "", "") }, "use_dpop_nonce"},
		} {
			for kind, token := range map[string]string{"refresh token": rt, "access token": access} {
				a := revoke(spaID, "", token, try.proof())
				if a.status != http.StatusBadRequest || a.err != try.want {
					t.Fatalf("revoking the %s with %s: %+v, want 400 %s", kind, try.name, a, try.want)
				}
				if a.err == "use_dpop_nonce" && a.nonce != nonce {
					t.Fatalf("/revoke's nonce %q is not the token endpoint's %q", a.nonce, nonce)
				}
			}
		}
		if status := api(access, apiNonce); status != http.StatusOK {
			t.Fatalf("the access token after the thief's revocations: %d, want 200", status)
		}
		a := refresh(spaID, "", rt, k)
		if a.status != 200 {
			t.Fatalf("the owner's refresh after the thief's revocations: %+v, want 200 (the grant is intact)", a)
		}

		// The owner revokes with proofs of its key, each used once.
		access, rt = a.accessToken, a.refreshToken
		proof := k.proof(t, "POST", revokeURL, nonce, "")
		if a := revoke(spaID, "", access, proof); a.status != 200 {
			t.Fatalf("the owner revoking its access token with a proof: %+v, want 200", a)
		}
		refusedSoon(access, apiNonce)
		if a := revoke(spaID, "", rt, proof); a.status != 400 || a.err != "invalid_dpop_proof" {
			t.Fatalf("the same proof again: %+v, want 400 invalid_dpop_proof", a)
		}
		if a := revoke(spaID, "", rt, k.proof(t, "POST", revokeURL, nonce, "")); a.status != 200 {
			t.Fatalf("the owner revoking its refresh token with a proof: %+v, want 200", a)
		}
		if a := refresh(spaID, "", rt, k); a.status != 400 || a.err != "invalid_grant" {
			t.Fatalf("the owner's refresh after its revocation: %+v, want 400 invalid_grant", a)
		}
	})

	t.Run("confidential client", func(t *testing.T) {
		access, rt := redeemBound(t, ts, k, nonce, appID, appSecret, appRedirect, "openid offline_access photos.read")
		apiNonce := apiNonce(t, ts, k, access)
		if a := revoke(appID, appSecret, access, ""); a.status != 200 {
			t.Fatalf("a confidential client revoking its bound access token: %+v, want 200", a)
		}
		refusedSoon(access, apiNonce)
		if a := revoke(appID, appSecret, rt, ""); a.status != 200 {
			t.Fatalf("a confidential client revoking its refresh token: %+v, want 200", a)
		}
		if a := refresh(appID, appSecret, rt, k); a.status != 400 || a.err != "invalid_grant" {
			t.Fatalf("a refresh after the revocation: %+v, want 400 invalid_grant", a)
		}
	})
}

// TestDPoPMetadataAndIntrospection: discovery names the algorithms (RFC
// 9449 §5.1), and introspection tells a resource server the key (§6.2).
func TestDPoPMetadataAndIntrospection(t *testing.T) {
	ts := newTestServer(t)
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-protected-resource"} {
		var md struct {
			Algs []string `json:"dpop_signing_alg_values_supported"`
		}
		getJSON(t, http.DefaultClient, ts.URL+doc, &md)
		if strings.Join(md.Algs, " ") != "ES256 EdDSA PS256 RS256" {
			t.Fatalf("%s: dpop_signing_alg_values_supported = %v", doc, md.Algs)
		}
	}
	k := newDPoPKey(t)
	token := boundRobotToken(t, ts, k)
	resp := postBasic(t, ts.URL+"/introspect", m2mID, m2mSecret, url.Values{"token": {token}})
	defer resp.Body.Close()
	var out struct {
		Active    bool   `json:"active"`
		TokenType string `json:"token_type"`
		Cnf       struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if !out.Active || out.TokenType != "DPoP" || out.Cnf.JKT != k.jkt {
		t.Fatalf("introspection of a bound token: %+v, want active, token_type DPoP, cnf.jkt %s", out, k.jkt)
	}
}

// TestDPoPLabSwitch: in lab mode, with DPoP enforcement switched off, the
// bound token works without a proof, as a stolen bearer token would; on
// again, it is refused.
func TestDPoPLabSwitch(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	token := boundRobotToken(t, ts, newDPoPKey(t))
	if s := apiStatus(t, ts, token); s != 401 {
		t.Fatalf("with DPoP enforced, the bound token as a bearer token: %d, want 401", s)
	}
	b := ts.browser()
	flip(t, ts, b, defenceDPoP, false)
	if s := apiStatus(t, ts, token); s != 200 {
		t.Fatalf("with DPoP enforcement off, the stolen token without a proof: %d, want 200", s)
	}
	flip(t, ts, b, defenceDPoP, true)
	if s := apiStatus(t, ts, token); s != 401 {
		t.Fatalf("with DPoP enforcement back on: %d, want 401", s)
	}
}

// TestDPoPProofsBounded: with room for 16 proofs (one a shard), a run of
// 40 good proofs finds the record full: the ones past it get 503 and are
// not served, and never more than 16 are kept.
func TestDPoPProofsBounded(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxDPoPProofs = 16 })
	k := newDPoPKey(t)
	nonce := tokenNonce(t, ts, k)
	served, full := 0, 0
	for range 40 {
		a := robotTokenRequest(t, ts, k.proof(t, "POST", ts.URL+"/token", nonce, ""))
		switch {
		case a.status == 200:
			served++
		case a.status == 503 && a.err == "temporarily_unavailable":
			full++
		default:
			t.Fatalf("%+v", a)
		}
	}
	if served > 16 || served+full != 40 || full < 24 {
		t.Fatalf("40 proofs with room for 16: %d served, %d refused as over the cap", served, full)
	}
}

// TestDPoPRefusalsAreCounted: /metrics counts DPoP's refusals by their
// code as it counts any other, at the token endpoint (oauth.WriteError)
// and at the photos API (oauth.WriteBearerError, which also writes the
// DPoP challenge).
func TestDPoPRefusalsAreCounted(t *testing.T) {
	ts := newTestServer(t)
	k := newDPoPKey(t)
	token := boundRobotToken(t, ts, k) // a use_dpop_nonce at the token endpoint
	api := ts.URL + "/api/photos"
	nonce := apiNonce(t, ts, k, token) // and one at the photos API
	used := k.proof(t, "GET", api, nonce, token)
	for _, want := range []int{200, 401} { // the proof, then its replay
		if a := answerOf(t, dpopRequest(t, "GET", api, used, "DPoP", token, nil)); a.status != want {
			t.Fatalf("%+v, want %d", a, want)
		}
	}
	dpopRequest(t, "GET", api, "", "Bearer", token, nil).Body.Close() // the bound token as a bearer token
	page := scrape(t, ts)
	for _, want := range []string{
		`imagehost_refusals_total{error="use_dpop_nonce"} 2`,
		`imagehost_refusals_total{error="invalid_dpop_proof"} 1`,
		`imagehost_refusals_total{error="invalid_token"} 1`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestDPoPInTheLegacyGrants: in lab mode, the password grant's request
// goes to the token endpoint, which binds its token to the key of the proof
// it carries, the nonce's round trip first, before any password is checked
// or counted. The implicit grant's token comes in a redirect of the
// browser, which carries no proof: it is a bearer token.
func TestDPoPInTheLegacyGrants(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	addLabClient(t, ts)
	b := ts.browser()
	flip(t, ts, b, defenceNoPassword, false)
	flip(t, ts, b, defenceNoImplicit, false)

	k := newDPoPKey(t)
	tokenURL := ts.URL + "/token"
	form := url.Values{"grant_type": {"password"}, "client_id": {labLegacyClientID}, "username": {"alice"}, "password": {"wonderland"}}
	// More wrong passwords than the account's limit, each with a proof
	// without a nonce: none is checked, none counted.
	wrong := url.Values{"grant_type": {"password"}, "client_id": {labLegacyClientID}, "username": {"alice"}, "password": {"guess"}}
	var a oauthAnswer
	for range accountAttempts + 1 {
		a = answerOf(t, dpopRequest(t, "POST", tokenURL, k.proof(t, "POST", tokenURL, "", ""), "", "", wrong))
		if a.status != 400 || a.err != "use_dpop_nonce" {
			t.Fatalf("the password grant with a proof without a nonce: %+v, want 400 use_dpop_nonce", a)
		}
	}
	a = answerOf(t, dpopRequest(t, "POST", tokenURL, k.proof(t, "POST", tokenURL, a.nonce, ""), "", "", form))
	if a.status != 200 || a.tokenType != "DPoP" {
		t.Fatalf("the password grant with a proof: %+v, want 200 with token_type DPoP", a)
	}
	claims, e := parseTestAccessToken(ts, a.accessToken)
	if e != nil || claims.Confirmation == nil || claims.Confirmation.JKT != k.jkt {
		t.Fatalf("the password grant's token %+v (%v): want cnf.jkt %s", claims, e, k.jkt)
	}
	if s := apiStatus(t, ts, a.accessToken); s != 401 {
		t.Fatalf("the password grant's bound token as a bearer token: %d, want 401", s)
	}

	f := fragment(t, b.authorize(implicitURL(ts, labLegacyClientID, labRedirect, "st"), "alice", "wonderland"))
	claims, e = parseTestAccessToken(ts, f.Get("access_token"))
	if e != nil || claims.Confirmation != nil || f.Get("token_type") != "Bearer" {
		t.Fatalf("the implicit grant's token %+v (%v), token_type %q: want a bearer token, with no cnf", claims, e, f.Get("token_type"))
	}
}
