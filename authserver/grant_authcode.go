package main

// The authorization code grant's second half: RFC 6749 §4.1.3, with the PKCE
// check of RFC 7636 §4.6.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// authorizationCode redeems a code for a grant: an access token, a refresh
// token if the grant may have them, and an ID token if the user signed in
// with OpenID Connect.
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
	case errors.Is(err, store.ErrAlreadyUsed) && ac.ClientID != client.ID:
		// Only the client the code was issued to can tell ImageHost that
		// its code leaked. Anyone else presenting it (any client, even a
		// public one that authenticates with nothing but its client_id)
		// learns nothing and revokes nothing: otherwise whoever saw a used
		// code could end another app's grant.
		ti.activity.refused(ctx, "a used code presented by another client", ac.UserID, client.ID, ac.FlowRef, "authorization code refused",
			fmt.Sprintf("%s presented a used code issued to %s; nothing revoked", client.ID, ac.ClientID))
		return tokenResponse{}, oauth.InvalidGrant("the authorization code was issued to another client")
	case errors.Is(err, store.ErrAlreadyUsed):
		return tokenResponse{}, ti.codeReplayed(ctx, client, ac, verifier)
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, oauth.InvalidGrant("the authorization code is invalid or expired")
	case err != nil:
		ti.log.ErrorContext(ctx, "consume auth code", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}

	// RFC 6749 §4.1.3: the server MUST "ensure that the authorization code
	// was issued to the authenticated confidential client, or if the client
	// is public, ensure that the code was issued to "client_id" in the request".
	refuse := func(e *oauth.Error, reason string) (tokenResponse, *oauth.Error) {
		ti.activity.refused(ctx, e.Description, ac.UserID, client.ID, ac.FlowRef, "authorization code refused", reason)
		return tokenResponse{}, e
	}
	if ac.ClientID != client.ID {
		return refuse(oauth.InvalidGrant("the authorization code was issued to another client"),
			fmt.Sprintf("%s presented a code issued to %s", client.ID, ac.ClientID))
	}
	if !now.Before(ac.ExpiresAt) {
		return refuse(oauth.InvalidGrant("the authorization code has expired"), "the code had expired")
	}
	// RFC 6749 §4.1.3: "ensure that the "redirect_uri" parameter is present
	// if the "redirect_uri" parameter was included in the initial
	// authorization request ... and if included ensure that their values
	// are identical."
	if redirectURI != ac.RedirectURI {
		return refuse(oauth.InvalidGrant("redirect_uri does not match the authorization request"),
			fmt.Sprintf("redirect_uri %q is not the %q of the authorization request", oauth.Truncate(redirectURI), ac.RedirectURI))
	}
	switch {
	case !ti.lab.on(defencePKCE):
		ti.activity.record(ctx, ac.UserID, client.ID, ac.FlowRef, "LAB: PKCE not checked", "lab mode has PKCE switched off; the code_verifier was not compared")
	case ac.CodeChallenge != "" && verifier == "":
		return refuse(oauth.InvalidGrant("code_verifier is required: the authorization request used PKCE"), "no code_verifier, but the code is bound to a PKCE challenge")
	case ac.CodeChallenge != "" && !oauth.VerifyPKCE(ac.CodeChallenge, verifier):
		return refuse(oauth.InvalidGrant("code_verifier does not match the code_challenge"),
			fmt.Sprintf("PKCE: BASE64URL(SHA256(code_verifier)) = %.8s… but the code_challenge was %.8s… (RFC 7636 §4.6)", oauth.S256Challenge(verifier), ac.CodeChallenge))
	case ac.CodeChallenge == "" && verifier != "":
		// RFC 9700 §2.1.1: servers MUST refuse a code_verifier for a code
		// issued without a challenge, or an attacker could strip PKCE
		// from the authorization request (PKCE downgrade).
		return refuse(oauth.InvalidGrant("code_verifier sent, but the authorization request had no code_challenge"), "a code_verifier for a code issued without PKCE (a downgrade attempt)")
	}

	// A user removed or disabled since the code was issued gets no tokens.
	user, err := ti.store.UserByID(ctx, ac.UserID)
	if err != nil || user.Disabled() {
		return refuse(oauth.InvalidGrant("the user of this grant no longer exists or is disabled"), "the user was removed or disabled after the code was issued")
	}
	// RFC 6749 §4.1.4: the response is §5.1's, with a refresh token when
	// the grant may have them.
	scope, _ := oauth.ParseScope(ac.Scope)
	resp, e := ti.accessTokenResponse(ctx, now, client, ac.UserID, scope, grantID, ac.AuthTime)
	if e != nil {
		return tokenResponse{}, e
	}
	var rt *store.RefreshToken
	if mayRefresh(client, scope) {
		raw, stored := ti.newRefreshToken(grantID, ac.Scope)
		resp.RefreshToken, rt = raw, &stored
	}
	// OpenID Connect Core §3.1.3.3: "In addition to the response parameters
	// specified by OAuth 2.0, the following parameters MUST be included in
	// the response: id_token: ID Token value associated with the
	// authenticated session." This is the one step that makes the code flow
	// a sign-in, for a request whose scope has openid.
	if scope.Has(oauth.ScopeOpenID) {
		// Core §3.1.2.1, nonce: the value "is passed through unmodified from
		// the Authentication Request to the ID Token".
		resp.IDToken, err = ti.mint.idToken(now, client, user, scope, ac.Nonce, ac.SessionID,
			signInMethod{authTime: ac.AuthTime, amr: ac.AMR, idp: ac.IDP}, resp.AccessToken)
		if err != nil {
			ti.log.ErrorContext(ctx, "mint ID token", "err", err)
			return tokenResponse{}, oauth.ServerError()
		}
	}
	// The grant and its first refresh token are stored together, after
	// every token was minted: no half-written grant survives a failure.
	g := store.Grant{ID: grantID, ClientID: client.ID, UserID: ac.UserID, Scope: ac.Scope,
		SessionID: ac.SessionID, AuthTime: ac.AuthTime, CreatedAt: now, FlowRef: ac.FlowRef, DPoPJKT: refreshBinding(ctx, client)}
	err = ti.store.CreateGrant(ctx, g, rt)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		// The code was replayed while these tokens were being minted: the
		// replay revoked the grant before it existed, and the store refused
		// to create it. The tokens are never handed out.
		ti.log.WarnContext(ctx, "authorization code replayed during its redemption; no grant created", "client_id", client.ID, "grant_id", grantID)
		ti.activity.refused(ctx, "authorization code replayed", ac.UserID, client.ID, ac.FlowRef, "authorization code refused",
			"the code was presented again while it was being redeemed; no tokens issued (RFC 6749 §4.1.2)")
		return tokenResponse{}, oauth.InvalidGrant("the authorization code was already used; the tokens issued for it are revoked")
	case err != nil:
		ti.log.ErrorContext(ctx, "create grant", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	ti.log.InfoContext(ctx, "tokens issued for code", "client_id", client.ID, "user_id", ac.UserID, "grant_id", grantID, "refresh", rt != nil)
	ti.activity.reached(ctx, store.MilestoneRedeemed, ac.UserID, client.ID, ac.FlowRef, "tokens issued for a code", ti.describeIssue(resp, "code and PKCE verifier checked"))
	return resp, nil
}

// codeReplayed handles a code its own client presents a second time.
// RFC 6749 §4.1.2: "If an authorization code is used more than once, the
// authorization server MUST deny the request and SHOULD revoke (when
// possible) all tokens previously issued based on that authorization code."
// The revocation is for a code an attacker redeemed, so only the code's
// rightful redeemer may cause it: a confidential client proved who it is by
// authenticating, but a public client sends nothing but its client_id, which
// anyone can, and must prove it the way its first redemption did
// (replayUnproven). The first redemption may still be minting its tokens:
// the store records the revocation of its grant all the same, and will not
// create it after.
func (ti tokenIssuer) codeReplayed(ctx context.Context, client store.Client, ac store.AuthCode, verifier string) *oauth.Error {
	if client.Public() {
		why, err := ti.replayUnproven(ctx, ac, verifier)
		if err != nil {
			ti.log.ErrorContext(ctx, "check replayed code", "err", err)
			return oauth.ServerError()
		}
		if why != "" {
			// Whoever saw the used code (in the browser's history, at a
			// loopback redirect URI, in a log) could otherwise sign the
			// user out: refused, and nothing revoked.
			ti.activity.refused(ctx, "a used code presented without proof", ac.UserID, client.ID, ac.FlowRef, "authorization code refused",
				why+"; nothing revoked")
			return oauth.InvalidGrant("the authorization code was already used")
		}
	}
	if err := ti.store.RevokeGrant(ctx, ac.GrantID, "authorization code replayed", ti.now()); err != nil {
		ti.log.ErrorContext(ctx, "revoke grant of replayed code", "err", err)
	}
	ti.log.WarnContext(ctx, "authorization code replayed; grant revoked", "client_id", client.ID, "grant_id", ac.GrantID)
	ti.activity.refused(ctx, "authorization code replayed", ac.UserID, client.ID, ac.FlowRef, "authorization code replayed",
		"the code was redeemed before; refused, and every token issued for it revoked (RFC 6749 §4.1.2)")
	return oauth.InvalidGrant("the authorization code was already used; the tokens issued for it are revoked")
}

// replayUnproven says why a public client's replay of its used code does
// not prove it comes from whoever redeemed the code first, or "" if it
// does. The proof is what the first redemption had to show: the
// code_verifier of the code's challenge (RFC 7636 §4.6), and, when its
// grant is bound to a DPoP key, a proof of that key (RFC 9449 §5), which
// the request's DPoP proof, checked already (token_dpop.go), gives.
func (ti tokenIssuer) replayUnproven(ctx context.Context, ac store.AuthCode, verifier string) (string, error) {
	switch {
	case ac.CodeChallenge == "":
		return "the used code had no PKCE challenge, so no replay can prove it comes from its redeemer", nil
	case verifier == "":
		return "a used code presented without its code_verifier", nil
	case !oauth.VerifyPKCE(ac.CodeChallenge, verifier):
		return "a used code presented with a code_verifier that does not match its code_challenge", nil
	}
	g, err := ti.store.GrantByID(ctx, ac.GrantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Not stored: the first redemption is still minting its tokens,
		// or was refused. The verifier is the proof then; the revocation
		// keeps a grant in flight from being created.
		return "", nil
	case err != nil:
		return "", fmt.Errorf("grant of a replayed code: %w", err)
	}
	if key := boundKey(ctx); g.DPoPJKT != "" && key != g.DPoPJKT {
		return "a used code presented without a DPoP proof of the key its grant is bound to", nil
	}
	return "", nil
}
