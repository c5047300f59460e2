package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// minter makes the tokens ImageHost hands out.
type minter struct {
	issuer    string
	audience  string // the photos API's resource identifier
	keys      *signing.KeySet
	accessTTL time.Duration // unless the client chose its own
	// maxAccessTTL caps every access token's lifetime, whatever the client
	// chose: the photos API remembers a revocation only that long.
	maxAccessTTL time.Duration
	idTTL        time.Duration
}

// accessToken is an issued access token and what the response says of it.
type accessToken struct {
	raw    string
	claims oauth.AccessTokenClaims
}

// expiresIn is the token response's expires_in (RFC 6749 §5.1), in seconds.
func (t accessToken) expiresIn(now time.Time) int {
	return int(t.claims.Expiry.Time().Sub(now).Round(time.Second).Seconds())
}

// accessToken mints an RFC 9068 JWT access token, signed with ES256.
// subject is the user, or the client itself for client credentials. jkt,
// when set, binds the token to that DPoP key (RFC 9449 §6.1).
func (m minter) accessToken(now time.Time, client store.Client, subject, scope, grantID string, authTime time.Time, jkt string) (accessToken, error) {
	ttl := m.accessTTL
	if client.AccessTokenTTL > 0 {
		ttl = client.AccessTokenTTL
	}
	// A client stored with a longer lifetime (by the command line, or
	// before the cap was lowered) gets the cap.
	ttl = min(ttl, m.maxAccessTTL)
	c := oauth.AccessTokenClaims{
		Issuer:   m.issuer,
		Subject:  subject,
		Audience: jwt.Audience{m.audience},
		ClientID: client.ID,
		Scope:    scope,
		Expiry:   jwt.NewNumericDate(now.Add(ttl)),
		IssuedAt: jwt.NewNumericDate(now),
		ID:       oauth.NewID(),
		GrantID:  grantID,
	}
	if !authTime.IsZero() {
		c.AuthTime = jwt.NewNumericDate(authTime)
	}
	if jkt != "" {
		c.Confirmation = &oauth.Confirmation{JKT: jkt}
	}
	raw, err := m.keys.Sign(signing.ES256, oauth.TypeAccessToken, c)
	if err != nil {
		return accessToken{}, fmt.Errorf("mint access token: %w", err)
	}
	return accessToken{raw: raw, claims: c}, nil
}

// idTokenClaims are the claims of an OpenID Connect ID token (Core §2).
type idTokenClaims struct {
	Issuer            string           `json:"iss"`
	Subject           string           `json:"sub"`
	Audience          jwt.Audience     `json:"aud"`
	Expiry            *jwt.NumericDate `json:"exp"`
	IssuedAt          *jwt.NumericDate `json:"iat"`
	AuthTime          *jwt.NumericDate `json:"auth_time"`
	Nonce             string           `json:"nonce,omitempty"`
	AccessTokenHash   string           `json:"at_hash,omitempty"`
	AuthorizedParty   string           `json:"azp"`
	SessionID         string           `json:"sid,omitempty"`
	Name              string           `json:"name,omitempty"`
	PreferredUsername string           `json:"preferred_username,omitempty"`
	Email             string           `json:"email,omitempty"`

	// AuthMethods is OpenID Connect Core §2's amr, "identifiers for
	// authentication methods used in the authentication": "pwd" for
	// ImageHost's password form (RFC 8176 §2); for a sign-in through an
	// upstream provider, "fed" and the upstream's own (upstream_login.go).
	AuthMethods []string `json:"amr,omitempty"`
	// IdentityProvider names the upstream provider the user signed in
	// through, by its issuer; absent when they signed in at ImageHost. No
	// specification registers it: "idp" is what IdentityServer and
	// Microsoft Entra ID call it.
	IdentityProvider string `json:"idp,omitempty"`
}

// idToken mints an ID token, signed with RS256 (OpenID Connect Core §15.1),
// for the access token issued with it. how says when (authTime) and how
// (amr, idp) the user signed in.
func (m minter) idToken(now time.Time, client store.Client, u store.User, scope oauth.Scope, nonce, sid string, how signInMethod, accessToken string) (string, error) {
	c := idTokenClaims{
		Issuer:          m.issuer,
		Subject:         u.ID,
		Audience:        jwt.Audience{client.ID},
		Expiry:          jwt.NewNumericDate(now.Add(m.idTTL)),
		IssuedAt:        jwt.NewNumericDate(now),
		AuthTime:        jwt.NewNumericDate(how.authTime),
		Nonce:           nonce,
		AccessTokenHash: atHash(accessToken),
		AuthorizedParty: client.ID,
		SessionID:       sid,
	}
	c.AuthMethods, c.IdentityProvider = strings.Fields(how.amr), how.idp
	if scope.Has(oauth.ScopeProfile) {
		c.Name, c.PreferredUsername = u.Name, u.Username
	}
	if scope.Has(oauth.ScopeEmail) {
		c.Email = u.Email
	}
	raw, err := m.keys.Sign(signing.RS256, "JWT", c)
	if err != nil {
		return "", fmt.Errorf("mint ID token: %w", err)
	}
	return raw, nil
}

// atHash is OpenID Connect Core §3.1.3.6's at_hash for RS256: the base64url
// encoding of the left half of the SHA-256 hash of the access token. It
// binds the ID token to the access token issued with it.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
