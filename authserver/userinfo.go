package main

// The UserInfo endpoint: OpenID Connect Core §5.3, protected by a bearer
// token (RFC 6750).

import (
	"net/http"

	"oauthdemo/authserver/dpop"
	"oauthdemo/authserver/oauth"
)

type userInfo struct {
	Subject           string `json:"sub"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// handleUserInfo serves GET and POST /userinfo. A token bound to a DPoP
// key needs the DPoP scheme and a proof of that key (RFC 9449 §7), as at
// the photos API.
func handleUserInfo(tc tokenChecker, proofs dpop.Resource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, scheme, e := oauth.AccessToken(r)
		fail := func(e *oauth.Error) {
			e.DPoP = e.DPoP || scheme
			oauth.WriteBearerError(w, e, "", true)
		}
		if e != nil {
			fail(e)
			return
		}
		claims, e := tc.check(r.Context(), raw)
		if e != nil {
			fail(e)
			return
		}
		nonce, e := proofs.Check(r, raw, scheme, claims.BoundKey())
		if e != nil {
			fail(e)
			return
		}
		if nonce != "" {
			w.Header().Set(dpop.NonceHeader, nonce)
		}
		scope := claims.Scopes()
		// OpenID Connect Core §5.3.1: the access token must have been
		// issued for an OpenID Connect request (scope openid).
		if !scope.Has(oauth.ScopeOpenID) {
			e := oauth.Errorf(oauth.CodeInsufficientScope, http.StatusForbidden, "the token lacks the openid scope")
			e.Scope = oauth.ScopeOpenID
			fail(e)
			return
		}
		u, err := tc.store.UserByID(r.Context(), claims.Subject)
		if err != nil {
			fail(oauth.Errorf(oauth.CodeInvalidToken, 401, "the token's user no longer exists"))
			return
		}
		info := userInfo{Subject: u.ID}
		if scope.Has(oauth.ScopeProfile) {
			info.Name, info.PreferredUsername = u.Name, u.Username
		}
		if scope.Has(oauth.ScopeEmail) {
			verified := false // ImageHost never verifies addresses
			info.Email, info.EmailVerified = u.Email, &verified
		}
		oauth.WriteJSON(w, http.StatusOK, info)
	})
}
