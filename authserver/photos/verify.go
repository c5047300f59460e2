package photos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
)

// RevocationList tells whether an access token was revoked before it
// expired. *revocation.Set implements it.
type RevocationList interface {
	Revoked(ctx context.Context, c oauth.AccessTokenClaims) (bool, error)
}

// JWTVerifier checks an access token locally: signature against the
// published keys, "typ", "iss", "aud" and expiry (RFC 9068 §4), and then
// the authorization server's revocation list. A signature alone cannot say
// that a token was revoked before it expires; an API in another process
// would have to introspect, or follow revocation events. This API runs in
// ImageHost's process and reads the list there, in microseconds.
type JWTVerifier struct {
	Keys     oauth.PublicKeys
	Issuer   string
	Audience string
	Revoked  RevocationList
	// MaxLifetime is the longest an access token may live ("exp" minus
	// "iat"). A longer-lived token is refused: the revocation list forgets
	// a revocation once every token it could concern has expired, and it
	// counts on tokens living no longer than this.
	MaxLifetime time.Duration
	Now         func() time.Time
}

// Verify implements TokenVerifier.
func (v JWTVerifier) Verify(ctx context.Context, raw string) (Token, *oauth.Error) {
	c, e := oauth.ParseAccessToken(raw, v.Keys, v.Issuer, v.Audience, v.Now())
	if e != nil {
		return Token{}, e
	}
	// RFC 9068 §2.2: "iat" is REQUIRED; without it the lifetime is unknown.
	// A second more is allowed: "iat" and "exp" are whole seconds.
	if c.IssuedAt == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > v.MaxLifetime+time.Second {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the token lives longer than ImageHost issues tokens for")
	}
	revoked, err := v.Revoked.Revoked(ctx, c)
	if err != nil {
		return Token{}, oauth.ServerError()
	}
	if revoked {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the token was revoked")
	}
	return Token{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scopes(), JKT: c.BoundKey()}, nil
}

// IntrospectionVerifier asks the authorization server about every token
// (RFC 7662). It sees revocations at once, at the cost of a round trip.
type IntrospectionVerifier struct {
	Endpoint     string
	ClientID     string // the API's own client credentials
	ClientSecret string
	Issuer       string
	Audience     string
	HTTP         *http.Client
}

// Verify implements TokenVerifier.
func (v IntrospectionVerifier) Verify(ctx context.Context, raw string) (Token, *oauth.Error) {
	body := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.Endpoint, strings.NewReader(body))
	if err != nil {
		return Token{}, oauth.ServerError()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.ClientID), url.QueryEscape(v.ClientSecret))
	resp, err := v.HTTP.Do(req)
	if err != nil {
		return Token{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable, "the authorization server could not be reached")
	}
	defer resp.Body.Close()
	var out struct {
		Active    bool     `json:"active"`
		Scope     string   `json:"scope"`
		ClientID  string   `json:"client_id"`
		Sub       string   `json:"sub"`
		Aud       []string `json:"aud"`
		Iss       string   `json:"iss"`
		TokenType string   `json:"token_type"`
		// RFC 9449 §6.2: a DPoP-bound token's key, as "the same cnf
		// content with jkt member structure" as the JWT's.
		Cnf *oauth.Confirmation `json:"cnf"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return Token{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable,
			"%s", fmt.Sprintf("token introspection failed (status %d)", resp.StatusCode))
	}
	// A refresh token may be "active" too: only access tokens open the API.
	if !out.Active || (out.TokenType != "Bearer" && out.TokenType != oauth.TokenTypeDPoP) {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the token is not active")
	}
	if out.Iss != v.Issuer || !slices.Contains(out.Aud, v.Audience) {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the token is meant for another audience")
	}
	scope, _ := oauth.ParseScope(out.Scope)
	tok := Token{Subject: out.Sub, ClientID: out.ClientID, Scope: scope}
	if out.Cnf != nil {
		tok.JKT = out.Cnf.JKT
	}
	// RFC 9449 §6.2: "If the token_type member is included in the
	// introspection response, it MUST contain the value DPoP": a bound
	// token said to be a bearer token, or the reverse, is not ImageHost's.
	if (tok.JKT != "") != (out.TokenType == oauth.TokenTypeDPoP) {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the introspection response does not say how the token is bound")
	}
	return tok, nil
}
