package main

// The client credentials grant (RFC 6749 §4.4): a machine acting for itself.
// There is no user, so the token's "sub" is the client itself (RFC 9068
// §2.2), there is no refresh token (§4.4.3: "A refresh token SHOULD NOT be
// included") and no ID token.

import (
	"net/http"
	"net/url"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// userScopes are meaningless without a user.
var userScopes = []string{oauth.ScopeOpenID, oauth.ScopeProfile, oauth.ScopeEmail, oauth.ScopeOfflineAccess}

func (ti tokenIssuer) clientCredentials(r *http.Request, form url.Values, client store.Client) (tokenResponse, *oauth.Error) {
	// RFC 6749 §4.4: "The client credentials grant type MUST only be used
	// by confidential clients."
	if client.Public() {
		return tokenResponse{}, oauth.Errorf(oauth.CodeUnauthorizedClient, 400, "public clients cannot use client credentials")
	}
	allowed, _ := oauth.ParseScope(client.Scope)
	allowed = allowed.Without(userScopes...)
	scope, e := requestedScope(form)
	if e != nil {
		return tokenResponse{}, e
	}
	if len(scope) == 0 {
		scope = allowed
	} else if !scope.SubsetOf(allowed) {
		return tokenResponse{}, oauth.Errorf(oauth.CodeInvalidScope, 400, "this client may not ask for: %s", scope.Minus(allowed))
	}
	now := ti.now()
	at, err := ti.mint.accessToken(now, client, client.ID, scope.String(), "", time.Time{})
	if err != nil {
		ti.log.ErrorContext(r.Context(), "mint access token", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	return tokenResponse{AccessToken: at.raw, TokenType: "Bearer", ExpiresIn: at.expiresIn(now), Scope: scope.String()}, nil
}
