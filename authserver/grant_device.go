package main

// The device authorization grant at the token endpoint: RFC 8628 §3.4 and
// §3.5. The device polls with its device code until the user has answered
// at /device (device.go): authorization_pending while they have not,
// slow_down when it polls too often, access_denied if they said no,
// expired_token once the code has expired, and tokens, once, if they
// allowed.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// RFC 8628 §3.5's error codes.
const (
	codeAuthorizationPending = "authorization_pending"
	codeSlowDown             = "slow_down"
	codeExpiredToken         = "expired_token"
)

// deviceCode answers a device's poll.
func (ti tokenIssuer) deviceCode(r *http.Request, form url.Values, client store.Client) (tokenResponse, *oauth.Error) {
	deviceCode := form.Get("device_code")
	if deviceCode == "" {
		return tokenResponse{}, oauth.InvalidRequest("device_code is required")
	}
	// A "scope" parameter, which some libraries send along, is ignored:
	// RFC 8628 §3.4 defines none, and the user allowed the scope of the
	// device authorization request.
	ctx := r.Context()
	now := ti.now()
	hash := oauth.HashToken(deviceCode)

	// From memory: a poll that came too soon costs no read of the store.
	tooSoon, interval, known := ti.devicePolls.poll(hash, client.ID, now)
	if tooSoon {
		// RFC 8628 §3.5: "Before each new request, the client MUST wait at
		// least the number of seconds specified by the "interval"
		// parameter of the device authorization response".
		return tokenResponse{}, oauth.Errorf(codeSlowDown, 400,
			"poll at most every %d seconds: the interval grew by 5 seconds (RFC 8628 §3.5)", int(interval.Seconds()))
	}
	// One read, by the device code's hash.
	d, err := ti.store.DeviceAuthorization(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, oauth.InvalidGrant("the device code is invalid")
	case err != nil:
		ti.log.ErrorContext(ctx, "load device authorization", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	// As for a code (RFC 6749 §4.1.3), the device code must have been
	// issued to the client that redeems it.
	if d.ClientID != client.ID {
		return tokenResponse{}, oauth.InvalidGrant("the device code was issued to another client")
	}
	if !known {
		ti.devicePolls.start(hash, client.ID, d.Interval, now)
	}

	// ended writes one line for the whole polling, once, when its outcome
	// is known and there is a user to write it for.
	ended := func(event, outcome string) {
		counts, first := ti.devicePolls.finish(hash)
		if first {
			ti.activity.record(ctx, d.UserID, client.ID, d.FlowRef, event, pollSummary(counts)+"; then "+outcome)
		}
	}
	// The device code is single-use: once it bought its tokens, whoever
	// presents it again has a copy of a secret the device should have
	// kept. As for a code used twice (RFC 6749 §4.1.2), the tokens issued
	// for it are revoked.
	reused := func(grantID string) (tokenResponse, *oauth.Error) {
		if err := ti.store.RevokeGrant(ctx, grantID, "device code used twice", now); err != nil {
			ti.log.ErrorContext(ctx, "revoke grant of reused device code", "err", err)
		}
		ti.log.WarnContext(ctx, "device code used twice; grant revoked", "client_id", client.ID, "grant_id", grantID)
		if ti.devicePolls.replay(hash) {
			ti.activity.record(ctx, d.UserID, client.ID, d.FlowRef, "device code used twice",
				"the device code had bought its tokens already; refused, and the tokens issued for it revoked")
		}
		return tokenResponse{}, oauth.InvalidGrant("the device code was already used; the tokens issued for it are revoked")
	}
	switch {
	case d.Redeemed():
		return reused(d.GrantID)
	case !now.Before(d.ExpiresAt):
		// RFC 8628 §3.5, expired_token: "The "device_code" has expired,
		// and the device authorization session has concluded."
		ended("device code expired", "expired_token: the code expired before the device got tokens")
		return tokenResponse{}, oauth.Errorf(codeExpiredToken, 400, "the device code has expired; start again")
	case d.Pending():
		// RFC 8628 §3.5, authorization_pending: "The authorization request
		// is still pending as the end user hasn't yet completed the
		// user-interaction steps".
		ti.devicePolls.pendingPoll(hash)
		return tokenResponse{}, oauth.Errorf(codeAuthorizationPending, 400, "the user has not answered yet")
	case d.Denied():
		// RFC 8628 §3.5, access_denied: "The authorization request was denied."
		ended("device told it was denied", "access_denied")
		return tokenResponse{}, oauth.Errorf(oauth.CodeAccessDenied, 400, "the user denied the request")
	}

	// Allowed. The grant is stored before the device code is marked used:
	// of two polls that race, the one that loses then finds the winner's
	// grant in the store, and can revoke it.
	// A user removed or disabled since they answered gets no tokens.
	user, err := ti.store.UserByID(ctx, d.UserID)
	if err != nil || user.Disabled() {
		ended("device refused: the user was removed or disabled", "invalid_grant: the user was removed or disabled after answering")
		return tokenResponse{}, oauth.InvalidGrant("the user of this grant no longer exists or is disabled")
	}
	grantID := oauth.NewID()
	scope, _ := oauth.ParseScope(d.Scope)
	resp, e := ti.accessTokenResponse(ctx, now, client, user.ID, scope, grantID, d.AuthTime)
	if e != nil {
		return tokenResponse{}, e
	}
	var rt *store.RefreshToken
	if mayRefresh(client, scope) {
		raw, stored := ti.newRefreshToken(grantID, d.Scope)
		resp.RefreshToken, rt = raw, &stored
	}
	if scope.Has(oauth.ScopeOpenID) {
		// No nonce: the device authorization request has none. No sid
		// either: the device shares no login session with the browser
		// where the user answered.
		resp.IDToken, err = ti.mint.idToken(now, client, user, scope, "", "",
			signInMethod{authTime: d.AuthTime, amr: d.AMR, idp: d.IDP}, resp.AccessToken)
		if err != nil {
			ti.log.ErrorContext(ctx, "mint ID token", "err", err)
			return tokenResponse{}, oauth.ServerError()
		}
	}
	g := store.Grant{ID: grantID, ClientID: client.ID, UserID: user.ID, Scope: d.Scope, AuthTime: d.AuthTime, CreatedAt: now, FlowRef: d.FlowRef,
		DPoPJKT: refreshBinding(ctx, client)}
	if err := ti.store.CreateGrant(ctx, g, rt); err != nil {
		ti.log.ErrorContext(ctx, "create grant", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	first, err := ti.store.ConsumeDeviceAuthorization(ctx, hash, grantID, now)
	if err != nil {
		// Not ours: the grant just stored must not outlive this answer.
		if err := ti.store.RevokeGrant(ctx, grantID, "device code not redeemed", now); err != nil {
			ti.log.ErrorContext(ctx, "revoke grant of an unredeemed device code", "err", err)
		}
	}
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		return reused(first.GrantID) // another poll redeemed it a moment ago
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, oauth.InvalidGrant("the device code is invalid")
	case err != nil:
		ti.log.ErrorContext(ctx, "consume device authorization", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	ti.log.InfoContext(ctx, "tokens issued for a device", "client_id", client.ID, "user_id", user.ID, "grant_id", grantID, "refresh", rt != nil)
	ended("tokens issued for a device", ti.describeIssue(resp, "the device code, single use"))
	return resp, nil
}

// pollSummary says in plain words how a device's polls went.
func pollSummary(c pollCounts) string {
	s := fmt.Sprintf("the device polled %d time(s) while you had not answered (authorization_pending)", c.pending)
	if c.slowDowns > 0 {
		s += fmt.Sprintf(", %d time(s) too soon (slow_down: its interval grew to %d s)", c.slowDowns, int(c.interval.Seconds()))
	}
	return s
}
