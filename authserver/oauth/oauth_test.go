package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestPKCE(t *testing.T) {
	// The example of RFC 7636 Appendix B.
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := S256Challenge(verifier); got != challenge {
		t.Fatalf("S256Challenge = %q, want RFC 7636's %q", got, challenge)
	}
	tests := []struct {
		name      string
		challenge string
		verifier  string
		want      bool
	}{
		{"matching", challenge, verifier, true},
		{"other verifier", challenge, strings.Replace(verifier, "d", "e", 1), false},
		{"plain: verifier equals challenge", challenge, challenge, false},
		{"too short", challenge, verifier[:42], false},
		{"too long", S256Challenge(strings.Repeat("a", 129)), strings.Repeat("a", 129), false},
		{"forbidden character", S256Challenge(verifier[:42] + "/"), verifier[:42] + "/", false},
		{"empty", challenge, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyPKCE(tc.challenge, tc.verifier); got != tc.want {
				t.Fatalf("VerifyPKCE = %v, want %v", got, tc.want)
			}
		})
	}
	if !ValidChallenge(challenge) || ValidChallenge(challenge[:42]) || ValidChallenge(challenge[:42]+"=") {
		t.Fatal("ValidChallenge")
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"openid photos.read", "openid photos.read", true},
		{"photos.read  openid openid", "openid photos.read", true},
		{"", "", true},
		{`bad"quote`, "", false},
		{`back\slash`, "", false},
		{"tab\there", "", false},
		{"ünicode", "", false},
	}
	for _, tc := range tests {
		got, ok := ParseScope(tc.in)
		if ok != tc.ok || (ok && got.String() != tc.want) {
			t.Errorf("ParseScope(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	a, _ := ParseScope("openid photos.read photos.write")
	b, _ := ParseScope("photos.read")
	if !b.SubsetOf(a) || a.SubsetOf(b) || a.Minus(b).String() != "openid photos.write" || b.Union(a).String() != a.String() {
		t.Fatal("set operations")
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"a=1&b=2", true},
		{"a=1&a=1", false},
		{"a=%zz", false},
		{"a=%ff", false},
		{"state=a%00b", false}, // RFC 6749 Appendix A: no parameter admits %x00
		{"a%00=1", false},
		{"", true},
	}
	for _, tc := range tests {
		if _, e := ParseParams(tc.in); (e == nil) != tc.ok {
			t.Errorf("ParseParams(%q) error %v, want ok=%v", tc.in, e, tc.ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		token  string
		code   string
	}{
		{"Bearer abc", "abc", ""},
		{"bearer abc", "abc", ""},
		{"", "", ""},
		{"Basic abc", "", CodeInvalidRequest},
		{"Bearer", "", CodeInvalidRequest},
		{"Bearer a b", "", CodeInvalidRequest},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		tok, e := BearerToken(r)
		code := ""
		if e != nil {
			code = e.Code
		}
		if tok != tc.token || code != tc.code {
			t.Errorf("BearerToken(%q) = %q, %q; want %q, %q", tc.header, tok, code, tc.token, tc.code)
		}
	}
}

// TestAccessToken: a resource that takes DPoP-bound tokens reads the
// Bearer and the DPoP scheme (RFC 9449 §7.1), and refuses two
// Authorization headers (§7.2, Figure 19).
func TestAccessToken(t *testing.T) {
	tests := []struct {
		headers []string
		token   string
		dpop    bool
		code    string
	}{
		{[]string{"Bearer abc"}, "abc", false, ""},
		{[]string{"DPoP abc"}, "abc", true, ""},
		{[]string{"dpop abc"}, "abc", true, ""},
		{[]string{"DPoP"}, "", false, CodeInvalidRequest},
		{[]string{"Bearer abc", "DPoP abc"}, "", false, CodeInvalidRequest},
		{[]string{"Basic abc"}, "", false, CodeInvalidRequest},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		for _, h := range tc.headers {
			r.Header.Add("Authorization", h)
		}
		tok, dpop, e := AccessToken(r)
		code := ""
		if e != nil {
			code = e.Code
		}
		if tok != tc.token || dpop != tc.dpop || code != tc.code {
			t.Errorf("AccessToken(%q) = %q, %v, %q; want %q, %v, %q", tc.headers, tok, dpop, code, tc.token, tc.dpop, tc.code)
		}
	}
	// The registration endpoint's initial access token is a bearer token.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "DPoP abc")
	if _, e := BearerToken(r); e == nil || e.Code != CodeInvalidRequest {
		t.Errorf("BearerToken of a DPoP header: %v", e)
	}
}

func TestWriteErrors(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, InvalidClient(true))
	if rec.Code != 401 || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("invalid_client over Basic: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/authorize", nil)
	RedirectError(rec, r, "https://app.example/cb?keep=1", "st&ate", "https://issuer.example", Errorf(CodeAccessDenied, 403, "no"))
	loc := rec.Header().Get("Location")
	for _, want := range []string{"keep=1", "error=access_denied", "state=st%26ate", "iss=https%3A%2F%2Fissuer.example"} {
		if !strings.Contains(loc, want) {
			t.Errorf("redirect %q lacks %q", loc, want)
		}
	}
	if rec.Code != http.StatusSeeOther {
		t.Errorf("status %d", rec.Code)
	}
}

// testKeys is a one-key PublicKeys.
type testKeys struct {
	kid string
	key crypto.PublicKey
	alg string
}

func (k testKeys) PublicKey(kid string) (crypto.PublicKey, string, bool) {
	return k.key, k.alg, kid == k.kid
}

func newTestKey(t testing.TB) (*ecdsa.PrivateKey, testKeys) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, testKeys{kid: "k1", key: priv.Public(), alg: "ES256"}
}

func signAT(t testing.TB, priv *ecdsa.PrivateKey, typ string, c AccessTokenClaims) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseAccessToken(t *testing.T) {
	priv, keys := newTestKey(t)
	now := time.Now()
	valid := AccessTokenClaims{Issuer: "https://iss", Subject: "u1", Audience: jwt.Audience{"https://iss/api"}, ClientID: "c",
		Scope: "photos.read", Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "j"}
	mod := func(f func(*AccessTokenClaims)) AccessTokenClaims { c := valid; f(&c); return c }
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"valid", signAT(t, priv, "at+jwt", valid), true},
		{"application/at+jwt", signAT(t, priv, "application/at+jwt", valid), true},
		{"typ JWT", signAT(t, priv, "JWT", valid), false},
		{"expired", signAT(t, priv, "at+jwt", mod(func(c *AccessTokenClaims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) })), false},
		{"no expiry", signAT(t, priv, "at+jwt", mod(func(c *AccessTokenClaims) { c.Expiry = nil })), false},
		{"other issuer", signAT(t, priv, "at+jwt", mod(func(c *AccessTokenClaims) { c.Issuer = "https://evil" })), false},
		{"other audience", signAT(t, priv, "at+jwt", mod(func(c *AccessTokenClaims) { c.Audience = jwt.Audience{"x"} })), false},
		{"issued in the future", signAT(t, priv, "at+jwt", mod(func(c *AccessTokenClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), false},
		{"no subject", signAT(t, priv, "at+jwt", mod(func(c *AccessTokenClaims) { c.Subject = "" })), false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := ParseAccessToken(tc.raw, keys, "https://iss", "https://iss/api", now)
			if (e == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", e, tc.ok)
			}
			if e != nil && (e.Code != CodeInvalidToken || e.Status != 401) {
				t.Fatalf("error %+v, want a 401 invalid_token", e)
			}
		})
	}
	// The key is ES256: a token claiming another algorithm for it fails
	// even before its signature is looked at.
	other := testKeys{kid: "k1", key: priv.Public(), alg: "RS256"}
	if _, e := ParseAccessToken(signAT(t, priv, "at+jwt", valid), other, "https://iss", "https://iss/api", now); e == nil {
		t.Fatal("algorithm mismatch between key and header accepted")
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2Fx")
	f.Add("a=1&a=2")
	f.Add("%zz=%ff")
	f.Fuzz(func(t *testing.T, raw string) {
		v, e := ParseParams(raw)
		if e != nil {
			if e.Code != CodeInvalidRequest || e.Status != 400 {
				t.Fatalf("error %+v", e)
			}
			return
		}
		for k, vs := range v {
			if len(vs) != 1 {
				t.Fatalf("parameter %q accepted %d times", k, len(vs))
			}
		}
	})
}

func FuzzParseScope(f *testing.F) {
	f.Add("openid photos.read")
	f.Add("  a  b a ")
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := ParseScope(s)
		if !ok {
			return
		}
		again, ok := ParseScope(sc.String())
		if !ok || again.String() != sc.String() {
			t.Fatalf("round trip of %q: %q then %q", s, sc, again)
		}
	})
}

func FuzzParseAccessToken(f *testing.F) {
	priv, keys := newTestKey(f)
	now := time.Now()
	good := signAT(f, priv, "at+jwt", AccessTokenClaims{Issuer: "https://iss", Subject: "u", Audience: jwt.Audience{"a"}, ClientID: "c",
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: "j"})
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat("a.", 3))
	f.Fuzz(func(t *testing.T, raw string) {
		_, e := ParseAccessToken(raw, keys, "https://iss", "a", now)
		if e == nil && raw != good {
			// Only the token we signed may pass; anything else that
			// verifies would be a forged signature.
			t.Fatalf("accepted a token we did not sign: %q", raw)
		}
	})
}
