package main

// The token endpoint (RFC 6749 §3.2): the client's back channel, where codes
// and refresh tokens become access tokens. Each grant has its own file:
// grant_authcode.go, grant_refresh.go, grant_clientcreds.go,
// grant_device.go, and in lab mode only grant_password.go; grantFor names
// them.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"oauthdemo/authserver/dpop"
	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// tokenResponse is RFC 6749 §5.1's successful response, with OpenID Connect
// Core §3.1.3.3's id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// nonce is the DPoP nonce the client should use next, sent as the
	// DPoP-Nonce header (RFC 9449 §8.2); not part of the body.
	nonce string

	grantType string // what was granted, for the metrics (metrics.go)
}

// tokenIssuer holds what every grant needs.
type tokenIssuer struct {
	store      tokenStore
	mint       minter
	now        func() time.Time
	refreshTTL time.Duration
	activity   *activityLog
	lab        *labSwitches     // nil outside lab mode
	demo       publishedSecrets // good from this machine only
	log        *slog.Logger
	// devicePolls paces the devices that poll with a device code.
	devicePolls *devicePolls
	// dpop checks DPoP proofs (token_dpop.go).
	dpop *dpop.Checker
	// signIns checks a user's password, for the password grant (lab mode).
	signIns signInChecks
}

// tokenStore is what the token endpoint does with storage: find the client,
// redeem a code or a device code into a grant, rotate a grant's refresh
// tokens, revoke a grant whose code, device code or refresh token was used
// twice (after a look at the grant's key, for a public client's code), and
// look up the user (by name for the password grant, lab mode).
type tokenStore interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
	ConsumeAuthCode(ctx context.Context, codeHash []byte, grantID string, now time.Time) (store.AuthCode, error)
	DeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error)
	ConsumeDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, grantID string, now time.Time) (store.DeviceAuthorization, error)
	CreateGrant(ctx context.Context, g store.Grant, rt *store.RefreshToken) error
	GrantByID(ctx context.Context, id string) (store.Grant, error)
	RevokeGrant(ctx context.Context, id, reason string, now time.Time) error
	RefreshToken(ctx context.Context, tokenHash []byte) (store.RefreshToken, store.Grant, error)
	RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) error
}

// handleToken serves POST /token.
func handleToken(ti tokenIssuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, e := ti.token(r)
		if e != nil {
			if e.Status >= 500 {
				ti.log.ErrorContext(r.Context(), "token request failed", "error", e.Code)
			} else {
				ti.log.InfoContext(r.Context(), "token request refused", "error", e.Code, "reason", e.Description)
			}
			oauth.WriteError(w, e.WithAbsoluteURI(ti.mint.issuer))
			return
		}
		if resp.nonce != "" {
			w.Header().Set(dpop.NonceHeader, resp.nonce)
		}
		// RFC 6749 §5.1: "The authorization server MUST include the HTTP
		// "Cache-Control" response header field with a value of "no-store"".
		oauth.WriteJSON(w, http.StatusOK, resp)
		countIssued(w, resp.grantType)
	})
}

func (ti tokenIssuer) token(r *http.Request) (tokenResponse, *oauth.Error) {
	form, client, e := clientRequest(r, ti.store, ti.demo)
	if e != nil {
		return tokenResponse{}, e
	}
	grantType := form.Get("grant_type")
	grant := ti.grantFor(grantType)
	switch {
	case grant != nil:
	case grantType == "":
		return tokenResponse{}, oauth.InvalidRequest("grant_type is required")
	case grantType == "password":
		e := oauth.Errorf(oauth.CodeUnsupportedGrantType, 400,
			"OAuth 2.1 removed the password grant: apps must never see the user's password; use the authorization code grant with PKCE")
		e.URI = "/docs/dropped-grants#password"
		return tokenResponse{}, e
	default:
		return tokenResponse{}, oauth.Errorf(oauth.CodeUnsupportedGrantType, 400, "ImageHost does not support this grant_type")
	}
	// RFC 6749 §5.2 unauthorized_client: "The authenticated client is not
	// authorized to use this authorization grant type."
	if !slices.Contains(client.GrantTypes, grantType) {
		return tokenResponse{}, oauth.Errorf(oauth.CodeUnauthorizedClient, 400, "this client may not use the %s grant", grantType)
	}
	// A DPoP proof binds the tokens to the client's key (token_dpop.go).
	r, e = ti.checkDPoP(r)
	if e != nil {
		return tokenResponse{}, e
	}
	resp, e := grant(r, form, client)
	if p, ok := proofOf(r.Context()); ok && e == nil {
		resp.nonce = p.NextNonce
	}
	resp.grantType = grantType
	return resp, e
}

// grantFor returns the grant that answers a token request of grantType, or
// nil if ImageHost supports none. A grant is a method of its own file, called
// for a client authenticated and allowed to use it.
func (ti tokenIssuer) grantFor(grantType string) func(*http.Request, url.Values, store.Client) (tokenResponse, *oauth.Error) {
	switch grantType {
	case "authorization_code":
		return ti.authorizationCode
	case "refresh_token":
		return ti.refreshToken
	case "client_credentials":
		return ti.clientCredentials
	case oauth.GrantTypeDeviceCode:
		return ti.deviceCode
	case grantTypePassword:
		// Lab mode only, while its switch is off; otherwise refused, with
		// the page that says why (token).
		if !ti.lab.on(defenceNoPassword) {
			return ti.password
		}
	}
	return nil
}

// accessTokenResponse mints an access token for subject and returns what
// every grant's response holds: RFC 6749 §5.1's access_token, token_type,
// expires_in and scope. Each grant adds its own parts. The access token is
// bound to the key of the request's DPoP proof, if it had one.
func (ti tokenIssuer) accessTokenResponse(ctx context.Context, now time.Time, client store.Client, subject string, scope oauth.Scope, grantID string, authTime time.Time) (tokenResponse, *oauth.Error) {
	jkt := boundKey(ctx)
	at, err := ti.mint.accessToken(now, client, subject, scope.String(), grantID, authTime, jkt)
	if err != nil {
		ti.log.ErrorContext(ctx, "mint access token", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	return tokenResponse{AccessToken: at.raw, TokenType: tokenType(jkt), ExpiresIn: at.expiresIn(now), Scope: scope.String()}, nil
}

// newRefreshToken makes a refresh token for the grant: 256 random bits, of
// which only the hash is stored.
func (ti tokenIssuer) newRefreshToken(grantID, scope string) (string, store.RefreshToken) {
	raw := oauth.NewToken()
	now := ti.now()
	return raw, store.RefreshToken{TokenHash: oauth.HashToken(raw), GrantID: grantID, Scope: scope, IssuedAt: now, ExpiresAt: now.Add(ti.refreshTTL)}
}

// mayRefresh reports whether a grant of scope gets refresh tokens: the user
// allowed offline_access and the client may use the refresh_token grant.
func mayRefresh(client store.Client, scope oauth.Scope) bool {
	return scope.Has(oauth.ScopeOfflineAccess) && slices.Contains(client.GrantTypes, "refresh_token")
}

// requestedScope reads the optional scope parameter of a token request:
// omitted, it stands for all of allowed; given, it may only narrow it.
// outside says, in the error, why a scope beyond allowed is refused.
func requestedScope(form url.Values, allowed oauth.Scope, outside string) (oauth.Scope, *oauth.Error) {
	s, ok := oauth.ParseScope(form.Get("scope"))
	switch {
	case !ok:
		return nil, oauth.Errorf(oauth.CodeInvalidScope, 400, "the scope parameter is malformed")
	case len(s) == 0:
		return allowed, nil
	case !s.SubsetOf(allowed):
		return nil, oauth.Errorf(oauth.CodeInvalidScope, 400, "%s: %s", outside, s.Minus(allowed))
	}
	return s, nil
}

// describeIssue says, for the activity log, what a token response carried
// and which keys signed it.
func (ti tokenIssuer) describeIssue(resp tokenResponse, checks string) string {
	s := fmt.Sprintf("%s; access token (ES256, key %s, %d s)", checks, ti.mint.keys.ActiveKeyID(signing.ES256), resp.ExpiresIn)
	if resp.TokenType == oauth.TokenTypeDPoP {
		s += " bound to the client's DPoP key (RFC 9449)"
	}
	if resp.IDToken != "" {
		s += fmt.Sprintf(", ID token (RS256, key %s)", ti.mint.keys.ActiveKeyID(signing.RS256))
	}
	if resp.RefreshToken != "" {
		s += ", a new refresh token"
	}
	return s + " for scope " + resp.Scope
}
