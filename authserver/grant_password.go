package main

// The resource owner password credentials grant (RFC 6749 §4.3), for lab
// mode only. The client takes the user's username and password itself, and
// sends them here for a token. The app sees the password; ImageHost shows the
// user no consent screen, since the token endpoint has no browser to show it
// in, and can ask for no second factor, since it hears only what the app
// forwards. RFC 9700 §2.4:
//
//	"The resource owner password credentials grant [RFC6749] MUST NOT be
//	used. This grant type insecurely exposes the credentials of the resource
//	owner to the client. Even if the client is benign, usage of this grant
//	results in an increased attack surface (i.e., credentials can leak in
//	more places than just the authorization server) and in training users to
//	enter their credentials in places other than the authorization server."
//
// OAuth 2.1 removed it. ImageHost refuses it (token.go, with
// /docs/dropped-grants#password), except in lab mode, while the lab's switch
// "Refusing the password grant" is off, for the lab's legacy client alone
// (lab_client.go): PhotoEditorApp's lab page then asks for the user's
// password, so that a workshop sees it pass through the app.

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// grantTypePassword is the password grant's grant_type (RFC 6749 §4.3.2).
const grantTypePassword = "password"

// signInChecks are what /login checks a password with: its throttle and its
// password checker, shared, so that a guess sent to the token endpoint
// counts as one sent to the login form.
type signInChecks struct {
	limits    loginThrottle
	passwords passwordChecker
}

// password gives the lab's legacy client an access token for the user whose
// username and password it sends.
func (ti tokenIssuer) password(r *http.Request, form url.Values, client store.Client) (tokenResponse, *oauth.Error) {
	ctx := r.Context()
	username, pw := strings.TrimSpace(form.Get("username")), form.Get("password")
	if username == "" || pw == "" {
		return tokenResponse{}, oauth.InvalidRequest("username and password are required")
	}
	// RFC 6749 §5.2, invalid_grant: "The provided authorization grant (e.g.,
	// ..., resource owner credentials) is invalid". One answer for an unknown
	// user, a wrong password and a name no account has.
	wrong := oauth.InvalidGrant("wrong username or password")
	if len(username) > maxUsernameLength {
		return tokenResponse{}, wrong
	}
	// RFC 6749 §4.3.2: "Since this access token request utilizes the
	// resource owner's password, the authorization server MUST protect the
	// endpoint against brute force attacks (e.g., using rate-limitation or
	// generating alerts)." The attempt is counted, against the account and
	// the address, before the password is checked, in /login's own
	// throttle; no known-browser cookie comes to the back channel.
	attempt, wait, err := ti.signIns.limits.reserve(r, username, "")
	if err != nil {
		ti.log.ErrorContext(ctx, "count sign-in attempt", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	if wait > 0 {
		ti.log.WarnContext(ctx, "password grant throttled", "username", username, "ip", clientIP(r))
		return tokenResponse{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusTooManyRequests,
			"too many failed sign-ins: try again in %d seconds", int(math.Ceil(wait.Seconds())))
	}
	// An attempt not taken back stays counted: at worst the user waits a
	// window, as after a wrong password.
	takeBack := func(err error) {
		if err != nil {
			ti.log.WarnContext(ctx, "sign-in attempt not taken back", "err", err)
		}
	}
	user, ok, err := ti.signIns.passwords.check(ctx, ti.store, username, pw)
	switch {
	case errors.Is(err, password.ErrBusy):
		takeBack(attempt.notMade(ctx))
		return tokenResponse{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable,
			"ImageHost is busy checking passwords: try again in a few seconds")
	case err != nil:
		takeBack(attempt.notMade(ctx))
		ti.log.ErrorContext(ctx, "check password", "err", err)
		return tokenResponse{}, oauth.ServerError()
	case !ok:
		// The attempt stays counted: it was a failure.
		ti.activity.record(ctx, user.ID, client.ID, "", "sign-in failed",
			fmt.Sprintf("wrong password, sent by %s with the password grant, from %s", client.Name, clientIP(r)))
		return tokenResponse{}, wrong
	case ti.demo.refusesPassword(r, user.Username, pw):
		takeBack(attempt.notMade(ctx))
		return tokenResponse{}, wrong
	}
	takeBack(attempt.succeeded(ctx))
	if user.Disabled() {
		// As at /login: a disabled account gets no token by any way in.
		// RFC 6749 §5.2, invalid_grant: "The provided authorization grant
		// (e.g., ... resource owner credentials) is invalid".
		ti.log.InfoContext(ctx, "password grant refused: the account is disabled", "client_id", client.ID, "user_id", user.ID)
		return tokenResponse{}, wrong
	}

	allowed, _ := oauth.ParseScope(client.Scope)
	scope, e := requestedScope(form, allowed, "this client may not ask for")
	if e != nil {
		return tokenResponse{}, e
	}
	now := ti.now()
	grantID := oauth.NewID()
	resp, e := ti.accessTokenResponse(ctx, now, client, user.ID, scope, grantID, now)
	if e != nil {
		return tokenResponse{}, e
	}
	// RFC 6749 §4.3.3 allows a refresh token; the lab's client may not
	// refresh, so it gets none. The grant belongs to no login session: no
	// browser signed in.
	var rt *store.RefreshToken
	if mayRefresh(client, scope) {
		raw, stored := ti.newRefreshToken(grantID, scope.String())
		resp.RefreshToken, rt = raw, &stored
	}
	g := store.Grant{ID: grantID, ClientID: client.ID, UserID: user.ID, Scope: scope.String(), AuthTime: now, CreatedAt: now,
		DPoPJKT: refreshBinding(ctx, client)}
	if err := ti.store.CreateGrant(ctx, g, rt); err != nil {
		ti.log.ErrorContext(ctx, "create grant", "err", err)
		return tokenResponse{}, oauth.ServerError()
	}
	ti.log.WarnContext(ctx, "tokens issued for a password (password grant, lab mode)", "client_id", client.ID, "user_id", user.ID, "grant_id", grantID)
	ti.activity.record(ctx, user.ID, client.ID, "", "tokens issued for your password (password grant, lab mode)",
		ti.describeIssue(resp, client.Name+" sent your username and password, which it now knows; "+
			"you saw no consent screen, and ImageHost could ask for no second factor (RFC 9700 §2.4)"))
	return resp, nil
}
