package main

// The developer console: a signed-in user registers their own OAuth clients
// (name, redirect URIs, optionally a short access-token lifetime for a
// workshop), sees the client_id, gets the secret once, can rotate it and
// delete the client. The same rules as dynamic registration (RFC 7591)
// apply; the client belongs to the user who made it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/starter"
	"oauthdemo/authserver/store"
)

// maxClientsPerUser bounds what one account can register.
const maxClientsPerUser = 20

// starterRedirect is the loopback redirect URI the console offers to
// register with a new app, where the starter program listens (starter.go).
const starterRedirect = "http://127.0.0.1:8976/callback"

// developerConsole is the console's pages and forms.
type developerConsole struct {
	issuer   string
	store    consoleStore
	sessions loginSessions
	activity *activityLog
	now      func() time.Time
	forms    formGuard
	log      *slog.Logger
}

// consoleStore is what the console does with clients: list the user's,
// register one, rotate its secret, delete it.
type consoleStore interface {
	ListClients(ctx context.Context) ([]store.Client, error)
	ClientByID(ctx context.Context, id string) (store.Client, error)
	RegisterClient(ctx context.Context, c store.Client, limit store.RegistrationLimit) error
	SetClientSecret(ctx context.Context, id string, secretHash []byte) error
	DeleteClient(ctx context.Context, id string, now time.Time) error
}

// developerPage renders the console for the signed-in user.
func developerPage(w http.ResponseWriter, r *http.Request, a developerConsole, who signedIn, status int, vm pages.DeveloperView) {
	clients, err := ownClients(r, a.store, who.user.ID)
	if err != nil {
		internalError(w, r, a.log, "list clients", err)
		return
	}
	vm.Username, vm.Issuer, vm.CSRF = who.user.Username, a.issuer, a.forms.token(w, r)
	vm.StarterRedirect = starterRedirect
	for _, c := range clients {
		dc := pages.DevClient{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, StarterURI: starterURI(c)}
		if c.AccessTokenTTL > 0 {
			dc.AccessTokenTTL = c.AccessTokenTTL.String()
		}
		vm.Clients = append(vm.Clients, dc)
	}
	render(w, r, status, pages.Developer(vm))
}

// ownClients lists the clients userID registered in the console.
func ownClients(r *http.Request, st consoleStore, userID string) ([]store.Client, error) {
	all, err := st.ListClients(r.Context())
	if err != nil {
		return nil, err
	}
	var own []store.Client
	for _, c := range all {
		if c.OwnerUserID == userID {
			own = append(own, c)
		}
	}
	return own, nil
}

// handleDeveloper serves GET /developer.
func handleDeveloper(a developerConsole) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if who, ok := a.sessions.require(w, r); ok {
			developerPage(w, r, a, who, http.StatusOK, pages.DeveloperView{})
		}
	})
}

// developerForm checks the CSRF token and the session of a console form.
func (a developerConsole) developerForm(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	if err := r.ParseForm(); err != nil || !a.forms.valid(r) {
		errorPage(w, r, http.StatusForbidden, "The form had expired", "Go back to the developer console and try again.", oauth.CodeInvalidRequest)
		return signedIn{}, false
	}
	return a.sessions.require(w, r)
}

// handleCreateClient serves POST /developer/clients. A user keeps at most
// maxClientsPerUser apps, and there are at most maxClients in all; the
// store counts and inserts in one step, so a burst of forms cannot
// overshoot. A chosen access-token lifetime may not exceed maxTTL, the
// server's cap; URIs that ImageHost calls keep to policy, as for dynamic
// registration.
func handleCreateClient(a developerConsole, maxTTL time.Duration, maxClients int, policy outbound.Policy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := a.developerForm(w, r)
		if !ok {
			return
		}
		vm := pages.DeveloperView{FormName: r.PostForm.Get("name"), FormRedirects: r.PostForm.Get("redirect_uris"), FormTTL: r.PostForm.Get("access_token_ttl"),
			StarterUnticked: r.PostForm.Get("starter") == ""}
		fail := func(msg string) { vm.Error = msg; developerPage(w, r, a, who, http.StatusBadRequest, vm) }

		own, err := ownClients(r, a.store, who.user.ID)
		if err != nil {
			internalError(w, r, a.log, "list clients", err)
			return
		}
		if len(own) >= maxClientsPerUser {
			fail(fmt.Sprintf("You have %d apps already; delete one first.", len(own)))
			return
		}
		md := clientMetadata{ClientName: vm.FormName, RedirectURIs: strings.Fields(vm.FormRedirects),
			GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "client_secret_basic"}
		if !vm.StarterUnticked && !slices.Contains(md.RedirectURIs, starterRedirect) {
			md.RedirectURIs = append(md.RedirectURIs, starterRedirect)
		}
		if strings.TrimSpace(md.ClientName) == "" {
			fail("Give the app a name.")
			return
		}
		client, e := newClientFromMetadata(&md, policy)
		if e != nil {
			fail(e.Description + ".")
			return
		}
		if s := strings.TrimSpace(vm.FormTTL); s != "" {
			secs, err := strconv.Atoi(s)
			if maxSecs := int(maxTTL / time.Second); err != nil || secs < 5 || secs > maxSecs {
				fail(fmt.Sprintf("The access token lifetime must be a number of seconds from 5 to %d.", maxSecs))
				return
			}
			client.AccessTokenTTL = time.Duration(secs) * time.Second
		}
		secret := oauth.NewToken()
		client.ID, client.SecretHash, client.OwnerUserID, client.CreatedAt = oauth.NewID(), oauth.HashToken(secret), who.user.ID, a.now()
		client.Registrant = "user:" + who.user.ID
		err = a.store.RegisterClient(r.Context(), client, store.RegistrationLimit{PerRegistrant: maxClientsPerUser, Total: maxClients})
		switch {
		case errors.Is(err, store.ErrQuotaExceeded):
			// The count before was a courtesy; this one is the rule. Between
			// the two, other forms of the same user may have registered, or
			// other users may have filled ImageHost.
			if own, err := ownClients(r, a.store, who.user.ID); err == nil && len(own) >= maxClientsPerUser {
				fail(fmt.Sprintf("You have %d apps already; delete one first.", len(own)))
			} else {
				fail("ImageHost holds as many apps as it can; ask its operator.")
			}
			return
		case err != nil:
			internalError(w, r, a.log, "create client", err)
			return
		}
		a.activity.record(r.Context(), who.user.ID, client.ID, "", "app registered in the developer console",
			fmt.Sprintf("%q with redirect URIs %s", client.Name, strings.Join(client.RedirectURIs, " ")))
		developerPage(w, r, a, who, http.StatusCreated, pages.DeveloperView{NewSecretFor: client.ID, NewSecret: secret})
	})
}

// clientForm checks a console form about one app, as developerForm does,
// and finds that app, named in the path, among the user's own.
func (a developerConsole) clientForm(w http.ResponseWriter, r *http.Request) (signedIn, store.Client, bool) {
	who, ok := a.developerForm(w, r)
	if !ok {
		return who, store.Client{}, false
	}
	c, err := a.store.ClientByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.OwnerUserID != who.user.ID) {
		errorPage(w, r, http.StatusNotFound, "No such app", "You have no app with this client_id.", "")
		return who, c, false
	} else if err != nil {
		internalError(w, r, a.log, "load client", err)
		return who, c, false
	}
	return who, c, true
}

// handleRotateSecret serves POST /developer/clients/{id}/rotate. The old
// secret stops working at once.
func handleRotateSecret(a developerConsole) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, c, ok := a.clientForm(w, r)
		if !ok {
			return
		}
		secret := oauth.NewToken()
		if err := a.store.SetClientSecret(r.Context(), c.ID, oauth.HashToken(secret)); err != nil {
			internalError(w, r, a.log, "rotate secret", err)
			return
		}
		a.activity.record(r.Context(), who.user.ID, c.ID, "", "client secret rotated", "the old secret no longer authenticates "+c.Name)
		developerPage(w, r, a, who, http.StatusOK, pages.DeveloperView{NewSecretFor: c.ID, NewSecret: secret})
	})
}

// handleDeleteClient serves POST /developer/clients/{id}/delete, which also
// ends every grant and token of the client: the store records the client
// as revoked, and the photos API refuses its tokens at once.
func handleDeleteClient(a developerConsole) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, c, ok := a.clientForm(w, r)
		if !ok {
			return
		}
		if err := a.store.DeleteClient(r.Context(), c.ID, a.now()); err != nil {
			internalError(w, r, a.log, "delete client", err)
			return
		}
		a.activity.record(r.Context(), who.user.ID, c.ID, "", "app deleted in the developer console", c.Name+" and all its grants are gone")
		http.Redirect(w, r, "/developer", http.StatusSeeOther)
	})
}

// starterURI is the redirect URI of c that the starter program can listen
// at: its first loopback one with a port (starter.Fits), or "".
func starterURI(c store.Client) string {
	for _, u := range c.RedirectURIs {
		if starter.Fits(u) {
			return u
		}
	}
	return ""
}

// handleStarter serves GET /developer/clients/{id}/starter.go: the starter
// program for one of the user's apps, with its client_id, the issuer and
// its loopback redirect URI, never its secret.
func handleStarter(a developerConsole) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := a.sessions.require(w, r)
		if !ok {
			return
		}
		c, err := a.store.ClientByID(r.Context(), r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.OwnerUserID != who.user.ID) {
			errorPage(w, r, http.StatusNotFound, "No such app", "You have no app with this client_id.", "")
			return
		} else if err != nil {
			internalError(w, r, a.log, "load client", err)
			return
		}
		redirectURI := starterURI(c)
		if redirectURI == "" {
			errorPage(w, r, http.StatusNotFound, "No starter program for this app",
				"The starter program listens at a loopback redirect URI with a port, such as "+starterRedirect+"; register one with a new app.", "")
			return
		}
		var program bytes.Buffer
		if err := starter.Write(&program, starter.App{Issuer: a.issuer, ClientID: c.ID, ClientName: c.Name, RedirectURI: redirectURI}); err != nil {
			internalError(w, r, a.log, "write starter program", err)
			return
		}
		w.Header().Set("Content-Type", "text/x-go; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="starter.go"`)
		w.Header().Set("Cache-Control", "no-store")
		w.Write(program.Bytes())
	})
}
