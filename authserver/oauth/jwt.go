package oauth

import (
	"crypto"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// PublicKeys finds a verification key by its "kid", with the one algorithm
// that key may be used with. *signing.KeySet implements it.
type PublicKeys interface {
	PublicKey(kid string) (key crypto.PublicKey, alg string, ok bool)
}

// AccessTokenClaims are the claims of an RFC 9068 JWT access token.
type AccessTokenClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope,omitempty"`
	Expiry   *jwt.NumericDate `json:"exp"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ID       string           `json:"jti"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// GrantID is ImageHost's own claim (RFC 9068 §2.2.3 allows more claims):
	// it names the grant the token came from, so that introspection can
	// report the token inactive once that grant is revoked.
	GrantID string `json:"grant_id,omitempty"`
	// Confirmation binds the token to the client's DPoP key (RFC 9449
	// §6.1); nil for a bearer token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// BoundKey returns the thumbprint of the key the token is bound to, or ""
// for a bearer token.
func (c AccessTokenClaims) BoundKey() string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

// Scopes returns the token's scope claim as a set.
func (c AccessTokenClaims) Scopes() Scope {
	s, _ := ParseScope(c.Scope)
	return s
}

// TypeAccessToken is the JWT "typ" of access tokens (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// invalidToken is RFC 6750 §3.1's invalid_token, a 401.
func invalidToken(desc string) *Error {
	return Errorf(CodeInvalidToken, http.StatusUnauthorized, "%s", desc)
}

// VerifyJWT checks a compact JWS: its "alg" must be one of algs (so "none" and
// HS256 never pass), its "kid" must name a published key meant for that very
// algorithm, and the signature must verify with that key. It returns the
// payload and the kid, or an invalid_token error.
func VerifyJWT(raw string, keys PublicKeys, algs ...jose.SignatureAlgorithm) ([]byte, string, *Error) {
	jws, e := parseJWS(raw, algs)
	if e != nil {
		return nil, "", e
	}
	payload, e := verifyJWS(jws, keys)
	return payload, jws.Signatures[0].Header.KeyID, e
}

// parseJWS parses a compact JWS signed with one of algs, at most 8 KiB.
func parseJWS(raw string, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, *Error) {
	if len(raw) > 8192 {
		return nil, invalidToken("the token is too long")
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return nil, invalidToken("the token is not a JWT signed with an accepted algorithm")
	}
	return jws, nil
}

// verifyJWS checks a parsed JWS's signature as VerifyJWT does, and returns
// its payload.
func verifyJWS(jws *jose.JSONWebSignature, keys PublicKeys) ([]byte, *Error) {
	h := jws.Signatures[0].Header
	key, alg, ok := keys.PublicKey(h.KeyID)
	if !ok {
		return nil, invalidToken("the token is signed with an unknown key")
	}
	// Refuse algorithm confusion: a key is only good for the algorithm it
	// was published with (RFC 8725 §3.1).
	if alg != h.Algorithm {
		return nil, invalidToken("the token's algorithm does not match its key")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, invalidToken("the token's signature is invalid")
	}
	return payload, nil
}

// ParseAccessToken validates a JWT access token the way RFC 9068 §4 tells a
// resource server to:
//   - "typ" is "at+jwt", so an ID token cannot pass for an access token;
//   - it is signed by the issuer's key, with ES256, as VerifyJWT checks;
//   - "iss" is exactly the issuer and "aud" contains the audience;
//   - it has not expired.
//
// It does not check scopes or revocation; the caller must.
func ParseAccessToken(raw string, keys PublicKeys, issuer, audience string, now time.Time) (AccessTokenClaims, *Error) {
	var c AccessTokenClaims
	// Parsed once: its header for typ, then its signature.
	jws, e := parseJWS(raw, []jose.SignatureAlgorithm{jose.ES256})
	if e != nil {
		return c, e
	}
	typ, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string)
	// RFC 9068 §4: "Resource servers MUST verify that the typ header value
	// is "at+jwt" or "application/at+jwt" and reject tokens carrying any
	// other value."
	if t := strings.ToLower(typ); t != TypeAccessToken && t != "application/"+TypeAccessToken {
		return c, invalidToken("the token is not an access token (typ must be at+jwt)")
	}
	payload, e := verifyJWS(jws, keys)
	if e != nil {
		return c, e
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, invalidToken("the token's claims are malformed")
	}
	switch {
	case c.Issuer != issuer:
		return c, invalidToken("the token was issued by someone else")
	case audience != "" && !slices.Contains(c.Audience, audience):
		return c, invalidToken("the token is meant for another audience")
	case c.Expiry == nil || !now.Before(c.Expiry.Time()):
		return c, invalidToken("the token has expired")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(time.Minute)):
		return c, invalidToken("the token was issued in the future")
	case c.Subject == "" || c.ClientID == "" || c.ID == "":
		return c, invalidToken("the token lacks required claims")
	}
	return c, nil
}
