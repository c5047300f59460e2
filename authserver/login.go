package main

// The login page: local username and password, CSRF-protected, throttled.
// OAuth leaves how the user authenticates to the server (RFC 6749 §3.1);
// these are the rules RFC 9700 and OWASP give for doing it safely.

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/throttle"
)

// loginThrottle limits failed sign-ins per account and per client IP.
type loginThrottle struct {
	perAccount *throttle.Limiter
	perIP      *throttle.Limiter
}

func newLoginThrottle(now func() time.Time) loginThrottle {
	return loginThrottle{
		perAccount: throttle.New(5, 5*time.Minute, now),
		perIP:      throttle.New(20, 5*time.Minute, now),
	}
}

// handleLoginPage serves GET /login.
func handleLoginPage(a authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vm := pages.LoginView{RequestID: r.URL.Query().Get("request"), CSRF: csrfToken(w, r, a.secure)}
		if vm.RequestID != "" {
			_, client, ok := a.pendingRequest(w, r, vm.RequestID)
			if !ok {
				return
			}
			vm.ClientName = client.Name
		} else if _, ok := a.sessions.current(r); ok {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		render(w, r, http.StatusOK, pages.Login(vm))
	})
}

// handleLogin serves POST /login.
func handleLogin(a authorizer, limits loginThrottle, dummyHash string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in form could not be read.", "invalid_request")
			return
		}
		vm := pages.LoginView{
			RequestID: r.PostForm.Get("request"),
			Username:  strings.TrimSpace(r.PostForm.Get("username")),
			CSRF:      csrfToken(w, r, a.secure),
		}
		var req store.AuthRequest
		var client store.Client
		if vm.RequestID != "" {
			var ok bool
			if req, client, ok = a.pendingRequest(w, r, vm.RequestID); !ok {
				return
			}
			vm.ClientName = client.Name
		}
		if !validCSRF(r) {
			vm.Error = "The form had expired. Please sign in again."
			render(w, r, http.StatusForbidden, pages.Login(vm))
			return
		}

		accountKey := "account:" + strings.ToLower(vm.Username)
		ipKey := "ip:" + clientIP(r)
		if wait := max(limits.perAccount.Check(accountKey), limits.perIP.Check(ipKey)); wait > 0 {
			secs := int(math.Ceil(wait.Seconds()))
			a.log.WarnContext(r.Context(), "login throttled", "username", vm.Username, "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			vm.Error = fmt.Sprintf("Too many failed sign-ins. Please wait %d seconds and try again.", secs)
			render(w, r, http.StatusTooManyRequests, pages.Login(vm))
			return
		}

		user, ok, err := checkPassword(r, a.store, vm.Username, r.PostForm.Get("password"), dummyHash)
		if err != nil {
			internalError(w, r, a.log, "check password", err)
			return
		}
		if !ok {
			a.activity.record(r.Context(), user.ID, req.ClientID, flowRef(req.State), "sign-in failed", "wrong password, from "+clientIP(r))
			limits.perAccount.Fail(accountKey)
			limits.perIP.Fail(ipKey)
			a.log.InfoContext(r.Context(), "login failed", "username", vm.Username, "ip", clientIP(r))
			// One message for an unknown user and a wrong password, so the
			// form does not tell an attacker which usernames exist.
			vm.Error = "Wrong username or password."
			render(w, r, http.StatusUnauthorized, pages.Login(vm))
			return
		}
		limits.perAccount.Reset(accountKey)

		who, err := a.sessions.start(r.Context(), w, r, user)
		if err != nil {
			internalError(w, r, a.log, "start session", err)
			return
		}
		a.log.InfoContext(r.Context(), "login", "user_id", user.ID)
		a.activity.record(r.Context(), user.ID, req.ClientID, flowRef(req.State), "signed in", "with your password, from "+clientIP(r)+"; a new session id")
		if vm.RequestID == "" {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		if err := a.store.SetAuthRequestLogin(r.Context(), req.ID, user.ID, who.session.AuthTime); err != nil {
			internalError(w, r, a.log, "record login", err)
			return
		}
		req.UserID, req.AuthTime = user.ID, who.session.AuthTime
		a.proceed(w, r, req, client, who, true)
	})
}

// checkPassword reports whether the password is right, and returns the
// user when the username exists. For an unknown user it still computes a
// hash, so the answer takes as long either way.
func checkPassword(r *http.Request, st store.Store, username, pw, dummyHash string) (store.User, bool, error) {
	u, err := st.UserByUsername(r.Context(), username)
	if errors.Is(err, store.ErrNotFound) {
		password.Verify(pw, dummyHash)
		return store.User{}, false, nil
	} else if err != nil {
		return store.User{}, false, err
	}
	ok, err := password.Verify(pw, u.PasswordHash)
	if err != nil {
		return u, false, fmt.Errorf("user %s: %w", u.ID, err)
	}
	return u, ok, nil
}

// clientIP is the address the request came from. ImageHost does not trust
// X-Forwarded-For: behind a proxy, configure the proxy to throttle.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
