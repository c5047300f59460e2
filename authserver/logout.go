package main

// Logout: OpenID Connect RP-Initiated Logout 1.0 (the end_session_endpoint),
// followed by Back-Channel Logout to every app that asked for it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
)

// logoutEndpoint is the end_session_endpoint.
type logoutEndpoint struct {
	issuer   string
	store    logoutStore
	sessions loginSessions
	keys     oauth.PublicKeys // that verify an id_token_hint
	logouts  *backchannel     // tells the apps
	activity *activityLog
	now      func() time.Time
	forms    formGuard
	log      *slog.Logger
}

// logoutStore is what signing out reads in storage, besides ending the
// session: the client that sent the user, and the apps to tell.
type logoutStore interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	ActiveGrantsForUser(ctx context.Context, userID string) ([]store.Grant, error)
}

// handleLogout serves GET and POST /logout.
func handleLogout(a logoutEndpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params := r.URL.Query()
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				errorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-out request could not be read.", oauth.CodeInvalidRequest)
				return
			}
			if !a.forms.valid(r) {
				errorPage(w, r, http.StatusForbidden, "The form had expired", "Please try signing out again.", oauth.CodeInvalidRequest)
				return
			}
			params = r.PostForm
		}
		if e := oauth.CheckParams(params); e != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid sign-out request", e.Description, e.Code)
			return
		}
		hint, clientID := params.Get("id_token_hint"), params.Get("client_id")
		postLogout, state := params.Get("post_logout_redirect_uri"), params.Get("state")

		var hinted idTokenClaims
		if hint != "" {
			// The hint may have expired; it only has to be ours.
			payload, _, e := oauth.VerifyJWT(hint, a.keys, jose.RS256)
			if e != nil || json.Unmarshal(payload, &hinted) != nil || hinted.Issuer != a.issuer || len(hinted.Audience) != 1 {
				errorPage(w, r, http.StatusBadRequest, "Invalid sign-out request", "The id_token_hint is not an ID token ImageHost issued.", oauth.CodeInvalidRequest)
				return
			}
			if clientID == "" {
				clientID = hinted.Audience[0]
			} else if hinted.Audience[0] != clientID {
				errorPage(w, r, http.StatusBadRequest, "Invalid sign-out request", "The id_token_hint was issued to another client.", oauth.CodeInvalidRequest)
				return
			}
		}
		var client store.Client
		if clientID != "" {
			var err error
			client, err = a.store.ClientByID(r.Context(), clientID)
			if errors.Is(err, store.ErrNotFound) {
				errorPage(w, r, http.StatusBadRequest, "Invalid sign-out request", "No application is registered with this client_id.", oauth.CodeInvalidRequest)
				return
			} else if err != nil {
				internalError(w, r, a.log, "load client", err)
				return
			}
		}
		// RP-Initiated Logout §3: the post_logout_redirect_uri "MUST have
		// been previously registered with the OP"; like redirect_uri, it is
		// compared exactly, and never followed when it does not match.
		if postLogout != "" && !slices.Contains(client.PostLogoutRedirectURIs, postLogout) {
			errorPage(w, r, http.StatusBadRequest, "Invalid sign-out request",
				"The post_logout_redirect_uri is not registered for this application.", oauth.CodeInvalidRequest)
			return
		}

		who, signedIn := a.sessions.current(r)
		// Without a confirmation or a hint naming this very session, a
		// stranger's link could sign the user out: ask first (§2). An old ID
		// token of the user's is not enough: whoever once got one, from an
		// app the user signed in to, could sign them out of every later
		// session.
		confirmed := r.Method == http.MethodPost || hintNamesSession(hint, hinted, who, signedIn)
		if signedIn && !confirmed {
			render(w, r, http.StatusOK, pages.LogoutConfirm(pages.LogoutView{
				ClientName: client.Name, IDTokenHint: hint, ClientID: clientID,
				PostLogoutRedirectURI: postLogout, State: state, CSRF: a.forms.token(w, r),
			}))
			return
		}
		// Whether signing out may end at the app is decided now, while the
		// session a hint must name still exists.
		if postLogout != "" && !mayRedirectAfterLogout(client, hint, hinted, who, signedIn) {
			a.log.InfoContext(r.Context(), "logout: no post-logout redirection", "client_id", clientID)
			postLogout = ""
		}
		if signedIn {
			// The apps to tell: each that holds a grant of the user.
			grants, err := a.store.ActiveGrantsForUser(r.Context(), who.user.ID)
			if err != nil {
				a.log.ErrorContext(r.Context(), "logout: list grants", "err", err)
			}
			// The grants made in this session without offline_access end
			// with it, access tokens included: the user let those apps in
			// while signed in. A grant with offline_access is the user's
			// leave to act while they are away (OpenID Connect Core §11).
			ended, err := a.sessions.end(r.Context(), w, who.session)
			if err != nil {
				internalError(w, r, a.log, "end session", err)
				return
			}
			a.log.InfoContext(r.Context(), "logout", "user_id", who.user.ID, "grants_ended", len(ended))
			a.activity.record(r.Context(), who.user.ID, clientID, "", "signed out",
				fmt.Sprintf("session ended; %d grant(s) without offline_access ended with it; apps that asked were told by back-channel logout", len(ended)))
			a.logouts.notifyGrants(r.Context(), grants, who.user.ID, who.session.ID)
		}
		if postLogout != "" {
			u, _ := url.Parse(postLogout) // registered URIs parse
			if state != "" {
				q := u.Query()
				q.Set("state", state)
				u.RawQuery = q.Encode()
			}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		render(w, r, http.StatusOK, pages.SignedOut())
	})
}

// mayRedirectAfterLogout reports whether signing out may send the browser
// on to the client's post_logout_redirect_uri, which the caller has found
// registered for it, and whose id_token_hint, if any, it has found to be
// an ID token ImageHost issued to that client. who and isSignedIn are the
// browser's session before it ends.
func mayRedirectAfterLogout(client store.Client, hint string, hinted idTokenClaims, who signedIn, isSignedIn bool) bool {
	// RP-Initiated Logout §3: without an id_token_hint, "the OP MUST NOT
	// perform post-logout redirection unless the OP has other means of
	// confirming the legitimacy of the post-logout redirection target".
	// A client_id alone proves nothing: anyone who registered a client at
	// /register could send the browser anywhere through this page.
	if hint == "" {
		return false
	}
	// The operator's clients: their URIs are the operator's, and the hint
	// shows the client asked. An expired one still names it (§2: the OP
	// "SHOULD accept ID Tokens when the RP identified by the ID Token's aud
	// claim ... had a recent session at the OP, even when the exp time has
	// passed").
	if !client.UserRegistered() {
		return true
	}
	// A client a user registered has URIs that user chose, and that user
	// can get an ID token for it whenever they like, by signing in to it
	// themselves: the hint proves only that someone did. So it must be the
	// hint of the session being ended, the app signing out its own user
	// (§2: the id_token_hint is "an indication of the identity of the
	// End-User that the RP is requesting be logged out by the OP"; see
	// hintNamesSession). Anyone else's browser, signed in or not, gets
	// ImageHost's signed-out page (RFC 9700 §4.11.2: the server "SHOULD
	// only automatically redirect the user agent if it trusts the redirect
	// URI").
	return hintNamesSession(hint, hinted, who, isSignedIn)
}

// hintNamesSession reports whether the id_token_hint, which the caller has
// found to be an ID token ImageHost issued, was issued in the browser's
// current session to its user: the app is signing out its own user. §2:
// "If the ID Token's sid claim does not correspond to the RP's current
// session or a recent session at the OP, the OP SHOULD treat the logout
// request as suspect". An ID token with no sid (the device grant's: no
// browser session) names no session, so it is suspect too.
func hintNamesSession(hint string, hinted idTokenClaims, who signedIn, isSignedIn bool) bool {
	return hint != "" && isSignedIn && hinted.Subject == who.user.ID &&
		hinted.SessionID != "" && hinted.SessionID == who.session.ID
}
