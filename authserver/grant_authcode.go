package main

// The authorization code grant's second half: RFC 6749 §4.1.3, with the PKCE
// check of RFC 7636 §4.6.

import (
	"errors"
	"net/http"
	"net/url"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

func (ti tokenIssuer) authorizationCode(r *http.Request, form url.Values, client store.Client) (tokenResponse, *oauth.Error) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" {
		return tokenResponse{}, oauth.InvalidRequest("code is required")
	}
	ctx := r.Context()
	now := ti.now()
	grantID := oauth.NewID()

	// The code is used up now, whatever happens next: a code that failed a
	// check once must not get a second try.
	ac, err := ti.store.ConsumeAuthCode(ctx, oauth.HashToken(code), grantID, now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		// RFC 6749 §4.1.2: "If an authorization code is used more than
		// once, the authorization server MUST deny the request and SHOULD
		// revoke (when possible) all tokens previously issued based on
		// that authorization code."
		if err := ti.store.RevokeGrant(ctx, ac.GrantID, "authorization code replayed", now); err != nil {
			ti.log.ErrorContext(ctx, "revoke grant of replayed code", "err", err)
		}
		ti.log.WarnContext(ctx, "authorization code replayed; grant revoked", "client_id", client.ID, "grant_id", ac.GrantID)
		return tokenResponse{}, oauth.InvalidGrant("the authorization code was already used; the tokens issued for it are revoked")
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, oauth.InvalidGrant("the authorization code is invalid or expired")
	case err != nil:
		ti.log.ErrorContext(ctx, "consume auth code", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}

	// RFC 6749 §4.1.3: the server MUST "ensure that the authorization code
	// was issued to the authenticated confidential client, or if the client
	// is public, ensure that the code was issued to "client_id" in the request".
	if ac.ClientID != client.ID {
		return tokenResponse{}, oauth.InvalidGrant("the authorization code was issued to another client")
	}
	if !now.Before(ac.ExpiresAt) {
		return tokenResponse{}, oauth.InvalidGrant("the authorization code has expired")
	}
	// RFC 6749 §4.1.3: "ensure that the "redirect_uri" parameter is present
	// if the "redirect_uri" parameter was included in the initial
	// authorization request ... and if included ensure that their values
	// are identical."
	if redirectURI != ac.RedirectURI {
		return tokenResponse{}, oauth.InvalidGrant("redirect_uri does not match the authorization request")
	}
	switch {
	case ac.CodeChallenge != "" && verifier == "":
		return tokenResponse{}, oauth.InvalidGrant("code_verifier is required: the authorization request used PKCE")
	case ac.CodeChallenge != "" && !oauth.VerifyPKCE(ac.CodeChallenge, verifier):
		return tokenResponse{}, oauth.InvalidGrant("code_verifier does not match the code_challenge")
	case ac.CodeChallenge == "" && verifier != "":
		// RFC 9700 §2.1.1: servers MUST refuse a code_verifier for a code
		// issued without a challenge, or an attacker could strip PKCE
		// from the authorization request (PKCE downgrade).
		return tokenResponse{}, oauth.InvalidGrant("code_verifier sent, but the authorization request had no code_challenge")
	}

	scope, _ := oauth.ParseScope(ac.Scope)
	g := store.Grant{ID: grantID, ClientID: client.ID, UserID: ac.UserID, Scope: ac.Scope,
		SessionID: ac.SessionID, AuthTime: ac.AuthTime, CreatedAt: now}
	var refreshToken string
	var rt *store.RefreshToken
	if mayRefresh(client, scope) {
		raw, stored := ti.newRefreshToken(grantID, ac.Scope)
		refreshToken, rt = raw, &stored
	}
	resp, e := ti.issue(r, client, g, scope, true, ac.Nonce, refreshToken)
	if e != nil {
		return tokenResponse{}, e
	}
	// The grant and its first refresh token are stored together, after
	// every token was minted: no half-written grant survives a failure.
	if err := ti.store.CreateGrant(ctx, g, rt); err != nil {
		ti.log.ErrorContext(ctx, "create grant", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	ti.log.InfoContext(ctx, "tokens issued for code", "client_id", client.ID, "user_id", ac.UserID, "grant_id", grantID, "refresh", rt != nil)
	return resp, nil
}
