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

// JWTVerifier checks an access token locally: signature against the
// published keys, "typ", "iss", "aud" and expiry (RFC 9068 §4). It is fast
// and needs no call to the authorization server, but it cannot know that a
// token was revoked before it expires: that is why access tokens are short-lived.
type JWTVerifier struct {
	Keys     oauth.PublicKeys
	Issuer   string
	Audience string
	Now      func() time.Time
}

// Verify implements TokenVerifier.
func (v JWTVerifier) Verify(_ context.Context, raw string) (Token, *oauth.Error) {
	c, e := oauth.ParseAccessToken(raw, v.Keys, v.Issuer, v.Audience, v.Now())
	if e != nil {
		return Token{}, e
	}
	return Token{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scopes()}, nil
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
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return Token{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable,
			"%s", fmt.Sprintf("token introspection failed (status %d)", resp.StatusCode))
	}
	// A refresh token may be "active" too: only access tokens open the API.
	if !out.Active || out.TokenType != "Bearer" {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the token is not active")
	}
	if out.Iss != v.Issuer || !slices.Contains(out.Aud, v.Audience) {
		return Token{}, oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the token is meant for another audience")
	}
	scope, _ := oauth.ParseScope(out.Scope)
	return Token{Subject: out.Sub, ClientID: out.ClientID, Scope: scope}, nil
}
