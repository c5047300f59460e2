package main

// The token endpoint (RFC 6749 §3.2): the client's back channel, where codes
// and refresh tokens become access tokens. Each grant has its own file:
// grant_authcode.go, grant_refresh.go, grant_clientcreds.go.

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

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
}

// tokenIssuer holds what every grant needs.
type tokenIssuer struct {
	store      store.Store
	mint       minter
	now        func() time.Time
	refreshTTL time.Duration
	activity   *activityLog
	lab        *labSwitches // nil outside lab mode
	log        *slog.Logger
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
		// RFC 6749 §5.1: "The authorization server MUST include the HTTP
		// "Cache-Control" response header field with a value of "no-store"".
		oauth.WriteJSON(w, http.StatusOK, resp)
	})
}

func (ti tokenIssuer) token(r *http.Request) (tokenResponse, *oauth.Error) {
	form, client, e := clientRequest(r, ti.store)
	if e != nil {
		return tokenResponse{}, e
	}
	grantType := form.Get("grant_type")
	switch grantType {
	case "authorization_code", "refresh_token", "client_credentials":
	case "":
		return tokenResponse{}, oauth.InvalidRequest("grant_type is required")
	case "password":
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
	switch grantType {
	case "authorization_code":
		return ti.authorizationCode(r, form, client)
	case "refresh_token":
		return ti.refreshToken(r, form, client)
	default:
		return ti.clientCredentials(r, form, client)
	}
}

// issue mints the tokens for a user's grant: an access token always, an ID
// token when withIDToken and scope has openid, and refreshToken when not empty.
func (ti tokenIssuer) issue(r *http.Request, client store.Client, g store.Grant, scope oauth.Scope, withIDToken bool, nonce, refreshToken string) (tokenResponse, *oauth.Error) {
	now := ti.now()
	at, err := ti.mint.accessToken(now, client, g.UserID, scope.String(), g.ID, g.AuthTime)
	if err != nil {
		ti.log.ErrorContext(r.Context(), "mint access token", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	resp := tokenResponse{AccessToken: at.raw, TokenType: "Bearer", ExpiresIn: at.expiresIn(now), RefreshToken: refreshToken, Scope: scope.String()}
	if withIDToken && scope.Has(oauth.ScopeOpenID) {
		user, err := ti.store.UserByID(r.Context(), g.UserID)
		if err != nil {
			// The user was deleted after the grant was made.
			return tokenResponse{}, oauth.InvalidGrant("the user of this grant no longer exists")
		}
		resp.IDToken, err = ti.mint.idToken(now, client, user, scope, nonce, g.SessionID, g.AuthTime, at)
		if err != nil {
			ti.log.ErrorContext(r.Context(), "mint ID token", "err", err)
			return tokenResponse{}, oauth.ServerError()
		}
	}
	return resp, nil
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

// requestedScope parses the optional scope parameter of a token request.
func requestedScope(form url.Values) (oauth.Scope, *oauth.Error) {
	s, ok := oauth.ParseScope(form.Get("scope"))
	if !ok {
		return nil, oauth.Errorf(oauth.CodeInvalidScope, 400, "the scope parameter is malformed")
	}
	return s, nil
}

// describeIssue says, for the activity log, what a token response carried
// and which keys signed it.
func (ti tokenIssuer) describeIssue(resp tokenResponse, refresh bool, checks string) string {
	s := fmt.Sprintf("%s; access token (ES256, key %s, %d s)", checks, ti.mint.keys.ActiveKeyID(signing.ES256), resp.ExpiresIn)
	if resp.IDToken != "" {
		s += fmt.Sprintf(", ID token (RS256, key %s)", ti.mint.keys.ActiveKeyID(signing.RS256))
	}
	if refresh {
		s += ", a new refresh token"
	}
	return s + " for scope " + resp.Scope
}
