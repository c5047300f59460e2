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

// clientCredentials gives a confidential client an access token of its own.
func (ti tokenIssuer) clientCredentials(r *http.Request, form url.Values, client store.Client) (tokenResponse, *oauth.Error) {
	// RFC 6749 §4.4: "The client credentials grant type MUST only be used
	// by confidential clients."
	if client.Public() {
		return tokenResponse{}, oauth.Errorf(oauth.CodeUnauthorizedClient, 400, "public clients cannot use client credentials")
	}
	allowed, _ := oauth.ParseScope(client.Scope)
	allowed = allowed.Without(userScopes...)
	scope, e := requestedScope(form, allowed, "this client may not ask for")
	if e != nil {
		return tokenResponse{}, e
	}
	// RFC 6749 §4.4.3: the response is §5.1's; its subject is the client,
	// and there is no grant behind it to revoke.
	return ti.accessTokenResponse(r.Context(), ti.now(), client, client.ID, scope, "", time.Time{})
}
