package main

// The upstream's answer: the browser comes back to
// /upstream/{name}/callback with a code (OpenID Connect Core §3.1.2.5) or
// an error (§3.1.2.6). The checks run in the order of RFC 6749 §4.1.2,
// RFC 9207 §2.4 and OpenID Connect Core §3.1.3.7; the first that fails
// ends the sign-in, and nothing is exchanged.

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/upstream"
)

// handleUpstreamCallback serves GET /upstream/{name}/callback.
func handleUpstreamCallback(f federation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, ok := f.provider(w, r)
		if !ok {
			return
		}
		q := r.URL.Query()
		// RFC 6749 §10.12: "The client MUST implement CSRF protection for
		// its redirection URI", by requiring "a value that binds the request
		// to the user-agent's authenticated state". The state must be the
		// one in this browser's cookie, compared in constant time: an answer
		// to someone else's sign-in, pushed into this browser, would sign it
		// in as them (login CSRF).
		state, ok := f.loginCookie(r)
		if !ok || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			f.logRefusal(ctx, p.Name, "", "state does not match this browser's sign-in")
			errorPage(w, r, http.StatusBadRequest, "This sign-in was not started in this browser",
				"The answer from "+p.DisplayName+" does not belong to a sign-in this browser started (state mismatch). Go back to the sign-in page and try again.",
				oauth.CodeInvalidRequest)
			return
		}
		// The state is used up now, whatever happens next: taken from the
		// store in one step, so that of the same answer replayed (or sent
		// twice at once) exactly one goes on.
		l, err := f.store.TakeUpstreamLogin(ctx, oauth.HashToken(state), f.authz.now())
		if errors.Is(err, store.ErrNotFound) {
			f.logRefusal(ctx, p.Name, "", "state used before, or expired")
			errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
				"It was used already, or took too long. Go back to the sign-in page and try again.", oauth.CodeInvalidRequest)
			return
		} else if err != nil {
			internalError(w, r, f.authz.log, "take upstream login", err)
			return
		}
		f.endLoginCookie(w)
		refuse := func(status int, title, reason string) {
			f.logRefusal(ctx, p.Name, l.FlowRef, reason)
			errorPage(w, r, status, title, reason+". Go back to the sign-in page and try again.", oauth.CodeAccessDenied)
		}
		// RFC 9700 §4.4.2: a client of several providers "MUST store, for
		// each authorization request, the issuer they sent the
		// authorization request to" and bind it to the user agent: the
		// answer must come back at the callback of the upstream the browser
		// was sent to.
		if l.Upstream != p.Name || l.Identity.Subject != "" {
			refuse(http.StatusBadRequest, "This answer came to the wrong address",
				fmt.Sprintf("This browser was sent to %s, not to %s", f.displayName(l.Upstream), p.DisplayName))
			return
		}
		req, client, ok := f.pendingRequestOf(w, r, l)
		if !ok {
			return
		}
		// RFC 9207 §2.4 (upstream.CheckIssuer): the answer names the
		// upstream it comes from.
		issChecked, err := p.CheckIssuer(ctx, q.Get("iss"))
		if err != nil {
			f.refused(w, r, p, l, err)
			return
		}
		// OpenID Connect Core §3.1.2.6: the upstream said no.
		if e := q.Get("error"); e != "" {
			status := http.StatusBadRequest
			if e == oauth.CodeAccessDenied {
				status = http.StatusForbidden
			}
			refuse(status, p.DisplayName+" did not sign you in", fmt.Sprintf("%s answered %q", p.DisplayName, oauth.Truncate(e)))
			return
		}
		code := q.Get("code")
		if code == "" {
			refuse(http.StatusBadRequest, p.DisplayName+"'s answer had no code", p.DisplayName+"'s answer carried neither a code nor an error")
			return
		}
		verifier, nonce := f.secretsOf(state)
		id, err := p.Redeem(ctx, code, verifier, nonce)
		if err != nil {
			f.refused(w, r, p, l, err)
			return
		}
		if why := freshEnough(req, id.AuthTime, l.CreatedAt, f.authz.now()); why != "" {
			refuse(http.StatusBadRequest, p.DisplayName+" did not sign you in again",
				fmt.Sprintf("%s asked for a fresh sign-in, and %s: %s", client.Name, p.DisplayName, why))
			return
		}
		identity := store.UpstreamIdentity{Issuer: id.Issuer, Subject: id.Subject, Username: id.PreferredUsername, Name: id.Name,
			Email: id.Email, AMR: strings.Join(id.AMR, " "), AuthTime: id.AuthTime, Verified: answerChecked(p, state, issChecked, id)}

		user, err := f.store.UserByUpstream(ctx, id.Issuer, id.Subject)
		switch {
		case err == nil:
			f.finish(w, r, l, req, client, user, identity, "is linked to your account")
		case errors.Is(err, store.ErrNotFound):
			// The first sign-in of this identity: the user says which
			// account it stands for (upstream_link.go). Its email claim,
			// verified or not, chooses nothing.
			f.askForAccount(w, r, l, identity)
		default:
			internalError(w, r, f.authz.log, "user by upstream identity", err)
		}
	})
}

// refused answers for an upstream answer a rule refused, or an upstream
// that could not be asked.
func (f federation) refused(w http.ResponseWriter, r *http.Request, p *upstream.Provider, l store.UpstreamLogin, err error) {
	var refusal *upstream.Refused
	if !errors.As(err, &refusal) {
		f.unavailable(w, r, p, err)
		return
	}
	f.logRefusal(r.Context(), p.Name, l.FlowRef, refusal.Reason)
	errorPage(w, r, http.StatusBadRequest, p.DisplayName+"'s answer was refused",
		"ImageHost refused the answer: "+refusal.Reason+". Nobody was signed in. Go back to the sign-in page and try again.", oauth.CodeAccessDenied)
}

// answerChecked says, for the activity log, what ImageHost checked of an
// answer it took.
func answerChecked(p *upstream.Provider, state string, issChecked bool, id upstream.Identity) string {
	iss := "it sent no iss, and its metadata does not promise one"
	if issChecked {
		iss = "iss named it (RFC 9207)"
	}
	return fmt.Sprintf("(%s) answered at %s: the state matched this browser's sign-in and was used up; %s; the code was redeemed at its token "+
		"endpoint with ImageHost's client secret and PKCE verifier (S256); the ID token verified with go-oidc (%s; iss, aud %s, exp) and its "+
		"nonce matched. If %s is an ImageHost too, its own activity log calls this sign-in flow %s",
		p.Issuer, p.RedirectURI(), iss, id.SignedWith, p.ClientID, p.DisplayName, flowRef(state))
}
