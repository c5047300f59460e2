package main

// The consent page: the user sees which application asks for what, in plain
// words, and allows or denies it. What they allow is remembered per user,
// client and scope, so the next time only new scopes are asked for.

import (
	"errors"
	"net/http"
	"net/url"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
)

// handleConsentPage serves GET /consent.
func handleConsentPage(a authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, client, who, ok := a.consentContext(w, r, r.URL.Query().Get("request"))
		if !ok {
			return
		}
		if st, err := a.next(r, req, client, who, true); err != nil || st != stageConsent {
			// Nothing to ask, or something to do first: the request goes
			// where its stage says.
			a.proceed(w, r, req, client, who, true)
			return
		}
		requested, _ := oauth.ParseScope(req.Scope)
		missing, err := a.missingConsent(r, who.user, req)
		if err != nil {
			internalError(w, r, a.log, "read consent", err)
			return
		}
		if len(missing) == 0 { // prompt=consent: ask for everything again
			missing = requested
		}
		vm := pages.ConsentView{
			RequestID:  req.ID,
			ClientName: client.Name,
			Username:   who.user.Username,
			NewScopes:  describeScopes(missing),
			Granted:    describeScopes(requested.Minus(missing)),
			CSRF:       a.forms.token(w, r),
		}
		if u, err := url.Parse(req.RedirectURI); err == nil {
			vm.RedirectHost = u.Host
			if _, loopback := withoutLoopbackPort(req.RedirectURI); loopback && client.Public() {
				vm.LoopbackPort = u.Port()
				if vm.LoopbackPort == "" {
					vm.LoopbackPort = "80"
				}
			}
		}
		vm.AskedEveryTime = client.Public()
		render(w, r, http.StatusOK, pages.Consent(vm))
	})
}

// handleConsent serves POST /consent: the user's answer.
func handleConsent(a authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The consent form could not be read.", oauth.CodeInvalidRequest)
			return
		}
		if !a.forms.valid(r) {
			errorPage(w, r, http.StatusForbidden, "The form had expired",
				"Go back to the application and start again.", oauth.CodeInvalidRequest)
			return
		}
		req, client, who, ok := a.consentContext(w, r, r.PostForm.Get("request"))
		if !ok {
			return
		}
		if st, err := a.next(r, req, client, who, true); err != nil || st == stageLogin {
			// The login this answer rests on is missing, stale or another
			// session's: sign in first.
			a.proceed(w, r, req, client, who, true)
			return
		}
		switch r.PostForm.Get("decision") {
		case "allow":
		case "deny":
			// RFC 6749 §4.1.2.1: access_denied, "The resource owner or
			// authorization server denied the request."
			a.log.InfoContext(r.Context(), "consent denied", "client_id", req.ClientID, "user_id", who.user.ID)
			a.activity.record(r.Context(), who.user.ID, req.ClientID, flowRef(req.State), "consent denied", "you chose Deny for "+req.Scope)
			a.finishWithError(w, r, req, client, oauth.Errorf(oauth.CodeAccessDenied, 403, "the user denied access"))
			return
		default:
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "Please choose Allow or Deny.", oauth.CodeInvalidRequest)
			return
		}
		requested, _ := oauth.ParseScope(req.Scope)
		granted := requested
		if c, err := a.store.ConsentFor(r.Context(), who.user.ID, req.ClientID); err == nil {
			before, _ := oauth.ParseScope(c.Scope)
			granted = before.Union(requested)
		} else if !errors.Is(err, store.ErrNotFound) {
			internalError(w, r, a.log, "read consent", err)
			return
		}
		if err := a.store.SaveConsent(r.Context(), store.Consent{
			UserID: who.user.ID, ClientID: req.ClientID, Scope: granted.String(), GrantedAt: a.now(),
		}); err != nil {
			internalError(w, r, a.log, "save consent", err)
			return
		}
		a.log.InfoContext(r.Context(), "consent given", "client_id", req.ClientID, "user_id", who.user.ID, "scope", req.Scope)
		a.activity.record(r.Context(), who.user.ID, req.ClientID, flowRef(req.State), "consent given", "you allowed "+granted.String())
		a.respond(w, r, req, client, who)
	})
}

// consentContext loads the pending request and the browser's session. The
// caller must still ask next whether the request has reached consent.
func (a authorizer) consentContext(w http.ResponseWriter, r *http.Request, id string) (store.AuthRequest, store.Client, signedIn, bool) {
	req, client, ok := a.pendingRequest(w, r, id)
	if !ok {
		return req, client, signedIn{}, false
	}
	who, ok := a.sessions.current(r)
	if !ok {
		http.Redirect(w, r, "/login?request="+url.QueryEscape(req.ID), http.StatusSeeOther)
		return req, client, who, false
	}
	return req, client, who, true
}

// describeScopes turns scopes into lines for a page, in ImageHost's
// display order (who you are first, then what may be done).
func describeScopes(s oauth.Scope) []pages.Scope {
	var out []pages.Scope
	for _, name := range oauth.KnownScopes() {
		if s.Has(name) {
			out = append(out, pages.Scope{Name: name, Description: oauth.DescribeScope(name)})
		}
	}
	return out
}
