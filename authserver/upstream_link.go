package main

// The first sign-in of an upstream identity. ImageHost links an identity
// (the upstream's iss and sub, which OpenID Connect Core §2 says are "never
// reassigned") to one local account, and asks the user which:
//
//   - a new account, with a username made from the name the upstream
//     suggests, and no password: it signs in through the upstream only;
//   - an account they have, once they prove its password, at the same
//     limits as /login.
//
// Never the account whose email address the upstream names, verified or
// not. OpenID Connect Core §5.7: "The sub (subject) and iss (issuer)
// Claims, used together, are the only Claims that an RP can rely upon as a
// stable identifier for the End-User", and "an Issuer MAY re-use an email
// Claim Value across different End-Users at different points in time".
// Matching the address would hand an account to whoever can get an
// upstream to say it.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// askForAccount keeps the verified identity, bound to this browser by a
// new value in its cookie, and sends the browser to the page that asks
// which account it stands for.
func (f federation) askForAccount(w http.ResponseWriter, r *http.Request, l store.UpstreamLogin, id store.UpstreamIdentity) {
	value := oauth.NewToken()
	now := f.authz.now()
	l.IDHash, l.Identity, l.CreatedAt, l.ExpiresAt = oauth.HashToken(value), id, now, now.Add(upstreamLoginTTL)
	if err := f.store.CreateUpstreamLogin(r.Context(), l, maxPendingUpstreamLogins); errors.Is(err, store.ErrQuotaExceeded) {
		w.Header().Set("Retry-After", "60")
		errorPage(w, r, http.StatusServiceUnavailable, "ImageHost is busy", "Too many sign-ins are under way. Please try again in a minute.", "")
		return
	} else if err != nil {
		internalError(w, r, f.authz.log, "store upstream identity", err)
		return
	}
	f.authz.forms.setCookie(w, r, f.cookie, f.sign.sign("upstream", value))
	f.authz.log.InfoContext(r.Context(), "upstream identity not linked yet", "upstream", l.Upstream, "flow_ref", l.FlowRef)
	http.Redirect(w, r, "/upstream/link", http.StatusSeeOther)
}

// identityToLink returns the identity waiting in this browser for an
// account, and the value it is stored under; it answers and reports false
// when there is none.
func (f federation) identityToLink(w http.ResponseWriter, r *http.Request) (store.UpstreamLogin, string, bool) {
	value, ok := f.loginCookie(r)
	var l store.UpstreamLogin
	var err error
	if ok {
		l, err = f.store.UpstreamLogin(r.Context(), oauth.HashToken(value), f.authz.now())
	}
	switch {
	case !ok || errors.Is(err, store.ErrNotFound) || (err == nil && l.Identity.Subject == ""):
		errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
			"No sign-in through another service is waiting in this browser, or it took too long. Go back to the sign-in page and try again.",
			oauth.CodeInvalidRequest)
		return l, "", false
	case err != nil:
		internalError(w, r, f.authz.log, "load upstream identity", err)
		return l, "", false
	}
	return l, value, true
}

// linkView is the page for l, which says what the user would get.
func (f federation) linkView(w http.ResponseWriter, r *http.Request, l store.UpstreamLogin, client store.Client) pages.UpstreamLinkView {
	id := l.Identity
	vm := pages.UpstreamLinkView{Provider: f.displayName(l.Upstream), Issuer: id.Issuer, Name: firstNonEmpty(id.Name, id.Username, "there"),
		Identity:    firstNonEmpty(id.Email, id.Username),
		NewUsername: f.freeUsername(r, usernameFrom(id.Username, id.Name)), ClientName: client.Name, CSRF: f.authz.forms.token(w, r)}
	return vm
}

// handleUpstreamLinkPage serves GET /upstream/link.
func handleUpstreamLinkPage(f federation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, _, ok := f.identityToLink(w, r)
		if !ok {
			return
		}
		_, client, ok := f.pendingRequestOf(w, r, l)
		if !ok {
			return
		}
		render(w, r, http.StatusOK, pages.UpstreamLink(f.linkView(w, r, l, client)))
	})
}

// handleUpstreamLink serves POST /upstream/link: the user's choice.
func handleUpstreamLink(f federation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.", oauth.CodeInvalidRequest)
			return
		}
		if !f.authz.forms.valid(r) {
			errorPage(w, r, http.StatusForbidden, "The form had expired", "Go back to the sign-in page and try again.", oauth.CodeInvalidRequest)
			return
		}
		l, value, ok := f.identityToLink(w, r)
		if !ok {
			return
		}
		req, client, ok := f.pendingRequestOf(w, r, l)
		if !ok {
			return
		}
		switch r.PostForm.Get("choice") {
		case "new":
			f.createAccount(w, r, l, value, req, client)
		case "existing":
			f.linkAccount(w, r, l, value, req, client)
		default:
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "Please choose a new account or your existing one.", oauth.CodeInvalidRequest)
		}
	})
}

// take uses the waiting identity up, so that one choice is made of it:
// of two forms posted at once, the second is refused.
func (f federation) take(w http.ResponseWriter, r *http.Request, value string) bool {
	if _, err := f.store.TakeUpstreamLogin(r.Context(), oauth.HashToken(value), f.authz.now()); errors.Is(err, store.ErrNotFound) {
		errorPage(w, r, http.StatusBadRequest, "This sign-in has expired", "It was used already. Go back to the sign-in page and try again.", oauth.CodeInvalidRequest)
		return false
	} else if err != nil {
		internalError(w, r, f.authz.log, "take upstream identity", err)
		return false
	}
	f.endLoginCookie(w)
	return true
}

// maxUsernameTries bounds the usernames tried for a new account.
const maxUsernameTries = 12

// createAccount makes a new account for the identity, linked to it in the
// same transaction, under the first free username made from its name.
func (f federation) createAccount(w http.ResponseWriter, r *http.Request, l store.UpstreamLogin, value string, req store.AuthRequest, client store.Client) {
	if !f.take(w, r, value) {
		return
	}
	ctx := r.Context()
	id := l.Identity
	base := usernameFrom(id.Username, id.Name)
	link := store.UpstreamLink{Issuer: id.Issuer, Subject: id.Subject, Upstream: l.Upstream, CreatedAt: f.authz.now()}
	for try := range maxUsernameTries {
		u := store.User{ID: oauth.NewID(), Username: usernameCandidate(base, try), Name: firstNonEmpty(id.Name, id.Username),
			Email: id.Email, CreatedAt: f.authz.now()}
		if u.Name == "" {
			u.Name = u.Username
		}
		err := f.store.CreateUpstreamUser(ctx, u, link)
		if err == nil {
			f.finish(w, r, l, req, client, u, id,
				fmt.Sprintf("is linked to a new account, %s, made for it just now at your request (no password: it signs in through %s)",
					u.Username, f.displayName(l.Upstream)))
			return
		}
		if !errors.Is(err, store.ErrDuplicate) {
			internalError(w, r, f.authz.log, "create upstream user", err)
			return
		}
		// The username is taken, or the identity was linked meanwhile (the
		// same choice posted from another tab): then that account it is.
		if linked, err := f.store.UserByUpstream(ctx, id.Issuer, id.Subject); err == nil {
			f.finish(w, r, l, req, client, linked, id, "is linked to your account")
			return
		}
	}
	errorPage(w, r, http.StatusConflict, "No username was free", "ImageHost could not find a free username for your new account. Please try again.", "")
}

// linkAccount links the identity to the account whose username and
// password the user typed, counted and checked as at /login.
func (f federation) linkAccount(w http.ResponseWriter, r *http.Request, l store.UpstreamLogin, value string, req store.AuthRequest, client store.Client) {
	ctx := r.Context()
	username := strings.TrimSpace(r.PostForm.Get("username"))
	pw := r.PostForm.Get("password")
	again := func(status int, msg string) {
		vm := f.linkView(w, r, l, client)
		vm.Username, vm.Error = username, msg
		render(w, r, status, pages.UpstreamLink(vm))
	}
	if len(username) > maxUsernameLength {
		again(http.StatusUnauthorized, "Wrong username or password.")
		return
	}
	browser, err := f.browsers.browserOf(r, f.store, username)
	if err != nil {
		internalError(w, r, f.authz.log, "read known browser", err)
		return
	}
	attempt, wait, err := f.signIns.reserve(r, username, browser)
	if err != nil {
		internalError(w, r, f.authz.log, "count sign-in attempt", err)
		return
	}
	if wait > 0 {
		countThrottled(w, limitSignIn)
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		again(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Please wait %d seconds and try again.", secs))
		return
	}
	user, ok, err := f.passwords.check(ctx, f.store, username, pw)
	switch {
	case errors.Is(err, password.ErrBusy):
		f.authz.takeBack(r, attempt.notMade(ctx))
		w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter.Seconds())))
		again(http.StatusServiceUnavailable, "ImageHost is busy. Please try again in a few seconds.")
		return
	case err != nil:
		f.authz.takeBack(r, attempt.notMade(ctx))
		internalError(w, r, f.authz.log, "check password", err)
		return
	case !ok:
		// One message for an unknown user, a wrong password and an account
		// without one (made through an upstream), as at /login.
		f.authz.activity.refused(ctx, "wrong password", user.ID, req.ClientID, l.FlowRef, "account link refused",
			fmt.Sprintf("someone who signed in through %s typed a wrong password for your account, from %s", f.displayName(l.Upstream), clientIP(r)))
		again(http.StatusUnauthorized, "Wrong username or password.")
		return
	case f.demo.refusesPassword(r, user.Username, pw):
		f.authz.takeBack(r, attempt.notMade(ctx))
		again(http.StatusForbidden, "This demo account's password is published with ImageHost's source code, so it works only on the machine that runs ImageHost.")
		return
	}
	f.authz.takeBack(r, attempt.succeeded(ctx))
	if user.Disabled() {
		// As at /login: the password was right, and a disabled account
		// gets no new way in either. The identity stays unlinked.
		f.authz.log.InfoContext(ctx, "account link refused: the account is disabled", "user_id", user.ID, "upstream", l.Upstream)
		again(http.StatusForbidden, "This account is disabled. Ask your teacher.")
		return
	}
	f.browsers.remember(w, user.ID)
	if !f.take(w, r, value) {
		return
	}
	id := l.Identity
	err = f.store.LinkUpstream(ctx, store.UpstreamLink{Issuer: id.Issuer, Subject: id.Subject, UserID: user.ID, Upstream: l.Upstream, CreatedAt: f.authz.now()})
	if errors.Is(err, store.ErrDuplicate) {
		errorPage(w, r, http.StatusConflict, "Already linked",
			"Your "+f.displayName(l.Upstream)+" identity was linked to an account meanwhile, from another window. Sign in again.", "")
		return
	} else if err != nil {
		internalError(w, r, f.authz.log, "link upstream identity", err)
		return
	}
	f.finish(w, r, l, req, client, user, id, "is linked to your account from now on: you proved its password just now")
}

// usernameFrom makes the start of a new account's username from the name
// the upstream suggests: lower-case letters, digits, dots, hyphens and
// underscores, at most 32 characters, so that it cannot pass for another
// name by its look (no spaces, no look-alike letters of other scripts).
// Nothing usable gives "user".
func usernameFrom(suggestions ...string) string {
	for _, s := range suggestions {
		var b strings.Builder
		for _, c := range strings.ToLower(s) {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
				b.WriteRune(c)
			case c == ' ' || c == '@':
				b.WriteByte('.')
			}
			if b.Len() == 32 {
				break
			}
		}
		if name := strings.Trim(b.String(), ".-_"); name != "" {
			return name
		}
	}
	return "user"
}

// usernameCandidate is the try'th username tried for base: base, then
// base-2 to base-4, then base and a random suffix, which a taken name
// cannot keep out.
func usernameCandidate(base string, try int) string {
	switch {
	case try == 0:
		return base
	case try < 4:
		return fmt.Sprintf("%s-%d", base, try+1)
	}
	b := make([]byte, 3)
	rand.Read(b)
	return base + "-" + hex.EncodeToString(b)
}

// freeUsername is the first of base's candidates nobody has now, for the
// page to show; creating the account may find it taken and take the next.
func (f federation) freeUsername(r *http.Request, base string) string {
	for try := range 4 {
		name := usernameCandidate(base, try)
		if _, err := f.store.UserByUsername(r.Context(), name); errors.Is(err, store.ErrNotFound) {
			return name
		}
	}
	return base + "-…"
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
