package main

// The account page: the signed-in user sees which apps have access to their
// ImageHost account and can take that access back.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
)

// accountPage is the signed-in user's own page.
type accountPage struct {
	store    accountStore
	sessions loginSessions
	activity *activityLog
	now      func() time.Time
	forms    formGuard
	log      *slog.Logger
}

// accountStore is what the account page reads and changes: the apps the
// user let in, the activity log, and the grants "Revoke access" ends.
type accountStore interface {
	ListConsents(ctx context.Context, userID string) ([]store.Consent, error)
	ClientByID(ctx context.Context, id string) (store.Client, error)
	ActivityForUser(ctx context.Context, userID string, limit int) ([]store.Activity, error)
	RevokeUserClientGrants(ctx context.Context, userID, clientID, reason string, now time.Time) ([]store.Grant, error)
}

// handleAccount serves GET /account.
func handleAccount(a accountPage) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := a.sessions.require(w, r)
		if !ok {
			return
		}
		consents, err := a.store.ListConsents(r.Context(), who.user.ID)
		if err != nil {
			internalError(w, r, a.log, "list consents", err)
			return
		}
		vm := pages.AccountView{Username: who.user.Username, Name: who.user.Name, Email: who.user.Email, CSRF: a.forms.token(w, r), Admin: who.user.Admin}
		for _, c := range consents {
			client, err := a.store.ClientByID(r.Context(), c.ClientID)
			if err != nil {
				continue // deleted in the meantime
			}
			scope, _ := oauth.ParseScope(c.Scope)
			vm.Apps = append(vm.Apps, pages.ConnectedApp{ClientID: client.ID, Name: client.Name,
				Scopes: describeScopes(scope), GrantedAt: c.GrantedAt.Format("2 January 2006, 15:04 MST")})
		}
		a.activity.sync(r.Context())
		entries, err := a.store.ActivityForUser(r.Context(), who.user.ID, 100)
		if err != nil {
			internalError(w, r, a.log, "read activity", err)
			return
		}
		// ?flow=<reference>: one login's entries, which an application's
		// flow inspector links to.
		if ref := r.URL.Query().Get("flow"); isFlowRef(ref) {
			vm.Flow = ref
		}
		for _, e := range entries {
			if vm.Flow != "" && e.FlowRef != vm.Flow {
				continue
			}
			anchor := fmt.Sprintf("act-%d", e.ID)
			if e.RequestID != "" {
				anchor = "req-" + e.RequestID
			}
			vm.Activity = append(vm.Activity, pages.ActivityEntry{Anchor: anchor, Time: e.At.Format("2006-01-02 15:04:05 MST"),
				Event: e.Event, Client: e.ClientID, Reason: e.Reason, RequestID: e.RequestID, FlowRef: e.FlowRef})
		}
		if id := r.URL.Query().Get("revoked"); id != "" {
			if client, err := a.store.ClientByID(r.Context(), id); err == nil {
				vm.Notice = client.Name + " no longer has access to your account."
			}
		}
		render(w, r, http.StatusOK, pages.Account(vm))
	})
}

// handleRevokeApp serves POST /account/revoke: the user's "Revoke access".
// Every grant the user gave the app is revoked (and with it every refresh
// token), the consent is forgotten, and the app is told by back-channel logout.
func handleRevokeApp(a accountPage, bc *backchannel) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || !a.forms.valid(r) {
			errorPage(w, r, http.StatusForbidden, "The form had expired", "Please go back to your account page and try again.", oauth.CodeInvalidRequest)
			return
		}
		who, ok := a.sessions.require(w, r)
		if !ok {
			return
		}
		clientID := r.PostForm.Get("client_id")
		client, err := a.store.ClientByID(r.Context(), clientID)
		if err != nil {
			errorPage(w, r, http.StatusBadRequest, "Unknown application", "There is no such application.", oauth.CodeInvalidRequest)
			return
		}
		grants, err := a.store.RevokeUserClientGrants(r.Context(), who.user.ID, clientID, "access revoked by the user", a.now())
		if err != nil {
			internalError(w, r, a.log, "revoke app", err)
			return
		}
		a.log.InfoContext(r.Context(), "app access revoked by user", "client_id", clientID, "user_id", who.user.ID, "grants", len(grants))
		if len(grants) == 0 {
			// An app the user never let in holds no session of theirs to
			// end, and is not told: anyone could otherwise have ImageHost
			// post to any registered URL, for any client_id they name.
			a.activity.record(r.Context(), who.user.ID, clientID, "", "access revoked by you", "the app held no grant; consent forgotten")
			http.Redirect(w, r, "/account?revoked="+url.QueryEscape(clientID), http.StatusSeeOther)
			return
		}
		a.activity.record(r.Context(), who.user.ID, clientID, "", "access revoked by you",
			fmt.Sprintf("%d grant(s) and their refresh tokens and access tokens revoked, consent forgotten, the app told by back-channel logout", len(grants)))
		// No sid: the user's sessions at the app end, whichever they are
		// (Back-Channel Logout §2.4: sub alone names all of them).
		bc.notify(r.Context(), []store.Client{client}, who.user.ID, "")
		http.Redirect(w, r, "/account?revoked="+url.QueryEscape(clientID), http.StatusSeeOther)
	})
}

// isFlowRef reports whether s has the form of a flow reference (flowRef):
// 12 lower-case hex digits.
func isFlowRef(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
