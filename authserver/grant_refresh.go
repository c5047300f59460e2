package main

// The refresh token grant: RFC 6749 §6, with rotation and reuse detection
// as RFC 9700 §4.14.2 describes.

import (
	"errors"
	"net/http"
	"net/url"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// refreshToken exchanges a refresh token for a new access token and its
// successor.
func (ti tokenIssuer) refreshToken(r *http.Request, form url.Values, client store.Client) (tokenResponse, *oauth.Error) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return tokenResponse{}, oauth.InvalidRequest("refresh_token is required")
	}
	ctx := r.Context()
	now := ti.now()
	old, g, err := ti.store.RefreshToken(ctx, oauth.HashToken(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, oauth.InvalidGrant("the refresh token is invalid")
	case err != nil:
		ti.log.ErrorContext(ctx, "load refresh token", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	// RFC 6749 §6: the server MUST "validate the refresh token ... and
	// ensure that the refresh token was issued to the authenticated client".
	refuse := func(e *oauth.Error, reason string) (tokenResponse, *oauth.Error) {
		ti.activity.refused(ctx, e.Description, g.UserID, client.ID, g.FlowRef, "refresh refused", reason)
		return tokenResponse{}, e
	}
	if g.ClientID != client.ID {
		return refuse(oauth.InvalidGrant("the refresh token was issued to another client"), client.ID+" presented a refresh token of "+g.ClientID)
	}
	if g.Revoked() {
		return refuse(oauth.InvalidGrant("the refresh token was revoked"), "the grant was revoked: "+g.RevokeReason)
	}
	// RFC 9449 §5: a public client's refresh token is good only with a
	// DPoP proof of the key it was bound to (token_dpop.go).
	if e := checkRefreshBinding(ctx, g); e != nil {
		return refuse(e, "the refresh token is bound to a DPoP key, and the request did not prove it (RFC 9449 §5)")
	}
	if !old.UsedAt.IsZero() && !ti.lab.on(defenceReuse) {
		// Lab mode, reuse detection off: the spent token still buys an
		// access token, and nothing is revoked.
		ti.activity.record(ctx, g.UserID, client.ID, g.FlowRef, "LAB: refresh token reuse allowed", "lab mode has reuse detection switched off; a spent refresh token was accepted")
		scope, _ := oauth.ParseScope(old.Scope)
		return ti.accessTokenResponse(ctx, now, client, g.UserID, scope, g.ID, g.AuthTime)
	}
	if !old.UsedAt.IsZero() {
		return tokenResponse{}, ti.reuseDetected(r, g)
	}
	if !now.Before(old.ExpiresAt) {
		return refuse(oauth.InvalidGrant("the refresh token has expired"), "the refresh token had expired")
	}

	// RFC 6749 §6: the requested scope "MUST NOT include any scope not
	// originally granted"; omitted, it "is treated as equal to the scope
	// originally granted". A narrower scope applies to the new access token;
	// the new refresh token keeps the old one's scope.
	granted, _ := oauth.ParseScope(old.Scope)
	scope, e := requestedScope(form, granted, "the refresh token was not granted")
	if e != nil {
		return tokenResponse{}, e
	}

	// No new ID token: OpenID Connect Core §12.2 says the refresh response
	// "might not contain an id_token", and the user did not sign in again.
	// Leaving it out spares an RS256 signature (about 1 ms) per refresh; the
	// user is still checked, since a deleted user's grant must stop here.
	if u, err := ti.store.UserByID(ctx, g.UserID); err != nil {
		return tokenResponse{}, oauth.InvalidGrant("the user of this grant no longer exists")
	} else if u.Disabled() { // disabling revoked the grant; this covers a race with it
		return refuse(oauth.InvalidGrant("the user of this grant is disabled"), "the user was disabled")
	}
	resp, e := ti.accessTokenResponse(ctx, now, client, g.UserID, scope, g.ID, g.AuthTime)
	if e != nil {
		return tokenResponse{}, e
	}
	nextRaw, next := ti.newRefreshToken(g.ID, old.Scope)
	resp.RefreshToken = nextRaw
	// Rotation (RFC 9700 §4.14.2): the old token becomes invalid the moment
	// its successor exists. If another request rotated it first, this is a
	// reuse, even if it came a millisecond later.
	err = ti.store.RotateRefreshToken(ctx, old.TokenHash, next, now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		return tokenResponse{}, ti.reuseDetected(r, g)
	case err != nil:
		ti.log.ErrorContext(ctx, "rotate refresh token", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	ti.log.InfoContext(ctx, "refresh token rotated", "client_id", client.ID, "grant_id", g.ID)
	ti.activity.reached(ctx, store.MilestoneRefreshed, g.UserID, client.ID, g.FlowRef, "refresh token rotated",
		ti.describeIssue(resp, "the old refresh token is spent; a second use of it would revoke the whole family"))
	return resp, nil
}

// reuseDetected revokes the whole family of a refresh token presented a
// second time. RFC 9700 §4.14.2: "If a refresh token is compromised and
// subsequently used by both the attacker and the legitimate client, one of
// them will present an invalidated refresh token, which will inform the
// authorization server of the breach." Neither can tell who is who, so both
// lose the grant and the user signs in again.
func (ti tokenIssuer) reuseDetected(r *http.Request, g store.Grant) *oauth.Error {
	if err := ti.store.RevokeGrant(r.Context(), g.ID, "refresh token reused", ti.now()); err != nil {
		ti.log.ErrorContext(r.Context(), "revoke grant after reuse", "err", err)
	}
	ti.log.WarnContext(r.Context(), "refresh token reuse; grant revoked", "client_id", g.ClientID, "grant_id", g.ID)
	ti.activity.refused(r.Context(), "refresh token reused", g.UserID, g.ClientID, g.FlowRef, "refresh token reuse detected",
		"a refresh token already exchanged for its successor came back: every token of this grant is revoked (RFC 9700 §4.14.2)")
	return oauth.InvalidGrant("the refresh token was already used; every token of this grant is now revoked")
}
