package main

// The login page: local username and password, CSRF-protected, throttled.
// OAuth leaves how the user authenticates to the server (RFC 6749 §3.1);
// these are the rules RFC 9700 and OWASP give for doing it safely.

import (
	"context"
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

// The limits of signing in (SECURITY.md lists them with their tests).
const (
	// maxUsernameLength bounds the throttle's keys. No account has a longer
	// name: "authserver users add" refuses one.
	maxUsernameLength = 64
	// Sign-in attempts allowed per account and per address in signInWindow.
	// A successful one clears its account's count and takes itself back
	// from its address's.
	accountAttempts = 5
	addressAttempts = 20
	signInWindow    = 5 * time.Minute
	// throttleKeys bounds each throttle's table: full, the accounts' holds
	// about 4 MiB, the addresses' 10 MiB (measured).
	throttleKeys = 10_000
	// passwordMemory is the most argon2id memory password checks may hold
	// at once: six hashes of password.HashMemory (19 MiB) each.
	passwordMemory = 128 << 20
	// A check that finds the memory taken waits at most passwordMaxWait,
	// and at most passwordMaxWaiting checks wait; the others, and those
	// that waited in vain, are asked to come back after busyRetryAfter.
	passwordMaxWait    = 2 * time.Second
	passwordMaxWaiting = 32
	busyRetryAfter     = 5 * time.Second
)

// loginThrottle limits sign-in attempts per account and per client address.
type loginThrottle struct {
	perAccount *throttle.Limiter
	perAddress *throttle.Limiter
}

func newLoginThrottle(now func() time.Time) loginThrottle {
	return loginThrottle{
		perAccount: throttle.New(accountAttempts, signInWindow, throttleKeys, now),
		perAddress: throttle.New(addressAttempts, signInWindow, throttleKeys, now),
	}
}

// signInAttempt is one attempt, counted against its account and address
// before the password is checked.
type signInAttempt struct {
	limits           loginThrottle
	accountKey       string
	account, address throttle.Attempt
}

// reserve counts an attempt for username from r's address, or says how long
// to wait. Each limiter checks and counts in one locked step, so of a
// concurrent burst exactly the limit gets through, however slow the
// password check that follows.
func (t loginThrottle) reserve(r *http.Request, username string) (signInAttempt, time.Duration) {
	a := signInAttempt{limits: t, accountKey: "account:" + strings.ToLower(username)}
	var wait time.Duration
	if a.account, wait = t.perAccount.Reserve(a.accountKey); wait > 0 {
		return a, wait
	}
	if a.address, wait = t.perAddress.Reserve(addressKey(r)); wait > 0 {
		a.account.Release()
		return a, wait
	}
	return a, 0
}

// notMade takes the attempt back: the password was never checked.
func (a signInAttempt) notMade() {
	a.account.Release()
	a.address.Release()
}

// succeeded clears the account's failures and takes the address's attempt
// back. The address keeps its other failures: one valid account must not
// let an attacker wipe the count of their guesses at others.
func (a signInAttempt) succeeded() {
	a.limits.perAccount.Reset(a.accountKey)
	a.address.Release()
}

// passwordChecker checks passwords within the memory budget.
type passwordChecker struct {
	hasher *password.Hasher
	// dummyHash is checked for unknown usernames, so that the answer takes
	// as long, and waits for the same budget, as for a real account.
	dummyHash string
}

func newPasswordChecker() passwordChecker {
	return passwordChecker{
		hasher:    password.NewHasher(passwordMemory, passwordMaxWait, passwordMaxWaiting),
		dummyHash: password.Hash("no user has this password"),
	}
}

// handleLoginPage serves GET /login.
func handleLoginPage(a authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vm := pages.LoginView{RequestID: r.URL.Query().Get("request"), CSRF: csrfToken(w, r, a.secure), Join: a.join}
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
func handleLogin(a authorizer, limits loginThrottle, passwords passwordChecker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in form could not be read.", "invalid_request")
			return
		}
		vm := pages.LoginView{
			RequestID: r.PostForm.Get("request"),
			Username:  strings.TrimSpace(r.PostForm.Get("username")),
			CSRF:      csrfToken(w, r, a.secure),
			Join:      a.join,
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

		if len(vm.Username) > maxUsernameLength {
			// No account has such a name, and it would make a large
			// throttle key. The answer is the usual one.
			a.log.InfoContext(r.Context(), "login failed", "username_length", len(vm.Username), "ip", clientIP(r))
			vm.Error = "Wrong username or password."
			render(w, r, http.StatusUnauthorized, pages.Login(vm))
			return
		}

		attempt, wait := limits.reserve(r, vm.Username)
		if wait > 0 {
			secs := int(math.Ceil(wait.Seconds()))
			a.log.WarnContext(r.Context(), "login throttled", "username", vm.Username, "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			vm.Error = fmt.Sprintf("Too many failed sign-ins. Please wait %d seconds and try again.", secs)
			render(w, r, http.StatusTooManyRequests, pages.Login(vm))
			return
		}

		user, ok, err := passwords.check(r.Context(), a.store, vm.Username, r.PostForm.Get("password"))
		if errors.Is(err, password.ErrBusy) {
			attempt.notMade()
			a.log.WarnContext(r.Context(), "login busy: password checks at capacity", "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter.Seconds())))
			vm.Error = "ImageHost is busy. Please try again in a few seconds."
			render(w, r, http.StatusServiceUnavailable, pages.Login(vm))
			return
		}
		if err != nil {
			attempt.notMade()
			internalError(w, r, a.log, "check password", err)
			return
		}
		if !ok {
			// The attempt stays counted: it was a failure.
			a.activity.refused(r.Context(), "wrong password", user.ID, req.ClientID, flowRef(req.State), "sign-in failed", "wrong password, from "+clientIP(r))
			a.log.InfoContext(r.Context(), "login failed", "username", vm.Username, "ip", clientIP(r))
			// One message for an unknown user and a wrong password, so the
			// form does not tell an attacker which usernames exist.
			vm.Error = "Wrong username or password."
			render(w, r, http.StatusUnauthorized, pages.Login(vm))
			return
		}
		attempt.succeeded()
		if user.Disabled() {
			// The password was right: saying so tells nothing to someone
			// who did not know it.
			a.log.InfoContext(r.Context(), "login refused: the account is disabled", "user_id", user.ID)
			vm.Error = "This account is disabled. Ask your teacher."
			render(w, r, http.StatusForbidden, pages.Login(vm))
			return
		}

		who, err := a.sessions.start(r.Context(), w, r, user)
		if err != nil {
			internalError(w, r, a.log, "start session", err)
			return
		}
		a.log.InfoContext(r.Context(), "login", "user_id", user.ID)
		a.activity.reached(r.Context(), store.MilestoneSignedIn, user.ID, req.ClientID, flowRef(req.State), "signed in", "with your password, from "+clientIP(r)+"; a new session id")
		if vm.RequestID == "" {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		// The login is bound to this request and this session: it satisfies
		// prompt=login and max_age for no other (see authstage.go).
		err = a.store.SetAuthRequestLogin(r.Context(), req.ID, user.ID, who.session.ID, who.session.AuthTime)
		if errors.Is(err, store.ErrNotFound) { // it ended while the password was checked
			errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
				"You are signed in, but the application's request has ended. Go back to the application and start again.", "invalid_request")
			return
		} else if err != nil {
			internalError(w, r, a.log, "record login", err)
			return
		}
		req.UserID, req.SessionID, req.AuthTime = user.ID, who.session.ID, who.session.AuthTime
		a.proceed(w, r, req, client, who, true)
	})
}

// accountLookup finds the account a username names.
type accountLookup interface {
	UserByUsername(ctx context.Context, username string) (store.User, error)
}

// check reports whether the password is right, and returns the user when
// the username exists. For an unknown user it still checks a hash, so the
// answer takes as long either way. Under load it returns password.ErrBusy.
func (p passwordChecker) check(ctx context.Context, accounts accountLookup, username, pw string) (store.User, bool, error) {
	u, err := accounts.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		_, err := p.hasher.Verify(ctx, pw, p.dummyHash)
		return store.User{}, false, err
	} else if err != nil {
		return store.User{}, false, err
	}
	ok, err := p.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrBusy) {
		return u, false, fmt.Errorf("user %s: %w", u.ID, err)
	}
	return u, ok, err
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

// addressKey is the throttle key of the request's address: the IPv4
// address, or the /64 network of an IPv6 one, since a single subscriber
// usually holds a whole /64.
func addressKey(r *http.Request) string {
	ip := net.ParseIP(clientIP(r))
	if ip == nil {
		return "ip:" + clientIP(r)
	}
	if ip.To4() == nil {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	return "ip:" + ip.String()
}
