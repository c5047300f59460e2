package main

// The stages of a pending authorization request. /authorize stores the
// request, the browser goes through /login and /consent as needed, and the
// request ends with a code (or with an error sent back to the client):
//
//	stageLogin    the user must sign in, again if the client asks for it  → /login
//	stageConsent  the user must allow what the client asks for            → /consent
//	              (for a public client: every time, see next)
//	stageCode     nothing is missing: the request ends with a code        → respond
//
// (respond gives a code; in lab mode, the implicit grant's token instead.)
//
// Every step asks next where the request stands, for this browser's session,
// now, and does only what that stage allows. Opening a later page directly
// (GET /consent while /login is due) therefore skips nothing: a step done
// earlier counts only while the session that did it is still the browser's,
// and the login is as fresh as the client asked.

import (
	"net/http"
	"time"

	"oauthdemo/authserver/store"
)

// stage is where a pending authorization request stands.
type stage int

const (
	stageLogin stage = iota
	stageConsent
	stageCode
)

// next returns the stage req, a request of client, is in for the browser's
// login session who (signedIn is false when the browser has none, or it
// ended).
func (a authorizer) next(r *http.Request, req store.AuthRequest, client store.Client, who signedIn, signedIn bool) (stage, error) {
	if !a.loginCounts(req, who, signedIn) {
		return stageLogin, nil
	}
	// A public client has no secret: anything may send the browser here with
	// its client_id, and a loopback redirect URI on a port of its own choice
	// (RFC 8252 §7.3, loopback.go), so a page or program on this computer
	// could take the code. The user's answer, every time, is what tells the
	// program the user started from one that is pretending. RFC 8252 §8.6:
	// "the authorization server SHOULD NOT process authorization requests
	// automatically without user consent or interaction, except when the
	// identity of the client can be assured. This includes the case where
	// the user has previously approved an authorization request for a
	// given client id". So the consent page shows every time (and
	// prompt=none ends in consent_required: proceed).
	if client.Public() {
		return stageConsent, nil
	}
	missing, err := a.missingConsent(r, who.user, req)
	if err != nil {
		return stageLogin, err
	}
	// OpenID Connect Core §3.1.2.1, prompt=consent: "The Authorization
	// Server SHOULD prompt the End-User for consent before returning
	// information to the Client."
	if len(missing) > 0 || hasPrompt(req, "consent") {
		return stageConsent, nil
	}
	return stageCode, nil
}

// loginCounts reports whether the browser's session may stand for the
// login req needs.
func (a authorizer) loginCounts(req store.AuthRequest, who signedIn, signedIn bool) bool {
	if !signedIn {
		return false
	}
	if req.SessionID != "" {
		// Someone logged in for this very request. That login satisfies
		// prompt=login and max_age, but only while it is still this
		// browser's session: another one, even the same user's (a login in
		// another tab, a session cookie carried over), logs in again.
		return req.SessionID == who.session.ID && req.UserID == who.user.ID
	}
	// No login happened for this request: an older session stands for it,
	// unless the client asks for a fresh one. OpenID Connect Core §3.1.2.1:
	//
	// prompt=login: "The Authorization Server SHOULD prompt the End-User for
	// reauthentication. If it cannot reauthenticate the End-User, it MUST
	// return an error, typically login_required."
	//
	// prompt=select_account: "The Authorization Server SHOULD prompt the
	// End-User to select a user account." A browser holds one ImageHost
	// session, so choosing an account means signing in.
	if hasPrompt(req, "login") || hasPrompt(req, "select_account") {
		return false
	}
	// max_age: "Specifies the allowable elapsed time in seconds since the
	// last time the End-User was actively authenticated by the OP. If the
	// elapsed time is greater than this value, the OP MUST attempt to
	// actively re-authenticate the End-User."
	if req.MaxAge >= 0 && a.now().Sub(who.session.AuthTime) > time.Duration(req.MaxAge)*time.Second {
		return false
	}
	return true
}
