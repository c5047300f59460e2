package main

// The login page: local username and password, CSRF-protected, throttled.
// OAuth leaves how the user authenticates to the server (RFC 6749 §3.1);
// these are the rules RFC 9700 and OWASP give for doing it safely.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
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
	// Sign-in attempts allowed in signInWindow per account (or, from a
	// browser that signed in to it before, per that browser: knownbrowser.go),
	// per address (IPv6: per /64), and per IPv6 /48. A successful one
	// clears its account's (or browser's) count and takes itself back from
	// its address's and network's.
	accountAttempts = 5
	addressAttempts = 20
	networkAttempts = 100
	signInWindow    = 5 * time.Minute
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

// loginThrottle limits sign-in attempts per account (or known browser),
// per client address and per IPv6 network.
type loginThrottle struct {
	perAccount throttle.Counter // keyed by account, or by a known browser of it
	perAddress throttle.Counter
	perNetwork throttle.Counter
}

func newLoginThrottle(limit attemptLimits) loginThrottle {
	return loginThrottle{
		perAccount: limit("login-account", accountAttempts, signInWindow),
		perAddress: limit("login-address", addressAttempts, signInWindow),
		perNetwork: limit("login-network", networkAttempts, signInWindow),
	}
}

// signInAttempt is one attempt, counted against its account (or known
// browser), address and network before the password is checked.
type signInAttempt struct {
	limits                    loginThrottle
	accountKey                string
	account, address, network throttle.Attempt
}

// reserve counts an attempt for username from r's address, or says how long
// to wait. browser is the id of the browser's known-browser cookie for this
// account, "" if it has none: its attempts count against that browser
// instead of the account, so that nobody else's failures lock it out. Each
// limit checks and counts in one atomic step (in memory, or in the store
// that instances share), so of a concurrent burst exactly the limit gets
// through, however slow the password check that follows. It fails only
// when the store does; nothing is counted then.
func (t loginThrottle) reserve(r *http.Request, username, browser string) (signInAttempt, time.Duration, error) {
	ctx := r.Context()
	// The account's key is its name folded as the store folds it
	// (store.FoldUsername): every name that finds the account counts
	// against it, and no other account.
	a := signInAttempt{limits: t, accountKey: "account:" + store.FoldUsername(username)}
	if browser != "" {
		a.accountKey = "browser:" + browser
	}
	var wait time.Duration
	var err error
	if a.account, wait, err = t.perAccount.Reserve(ctx, a.accountKey); wait > 0 || err != nil {
		return a, wait, err
	}
	if a.address, wait, err = t.perAddress.Reserve(ctx, addressKey(r)); wait > 0 || err != nil {
		return a, wait, errors.Join(err, a.account.Release(ctx))
	}
	if key := networkKey(r); key != "" {
		if a.network, wait, err = t.perNetwork.Reserve(ctx, key); wait > 0 || err != nil {
			return a, wait, errors.Join(err, a.account.Release(ctx), a.address.Release(ctx))
		}
	}
	return a, 0, nil
}

// notMade takes the attempt back: the password was never checked.
func (a signInAttempt) notMade(ctx context.Context) error {
	return errors.Join(a.account.Release(ctx), a.address.Release(ctx), a.network.Release(ctx))
}

// succeeded clears the account's (or known browser's) failures and takes
// the address's and network's attempt back. These keep their other
// failures: one valid account must not let an attacker wipe the count of
// their guesses at others.
func (a signInAttempt) succeeded(ctx context.Context) error {
	return errors.Join(a.limits.perAccount.Reset(ctx, a.accountKey), a.address.Release(ctx), a.network.Release(ctx))
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
		vm := pages.LoginView{RequestID: r.URL.Query().Get("request"), Next: afterLogin(r.URL.Query().Get("next")),
			CSRF: a.forms.token(w, r), Upstreams: a.upstreams, Join: a.join}
		if vm.RequestID != "" {
			_, client, ok := a.pendingRequest(w, r, vm.RequestID)
			if !ok {
				return
			}
			vm.ClientName = client.Name
		} else if _, ok := a.sessions.current(r); ok {
			http.Redirect(w, r, orAccount(vm.Next), http.StatusSeeOther)
			return
		}
		render(w, r, http.StatusOK, pages.Login(vm))
	})
}

// handleLogin serves POST /login. demo holds demo.env's published
// passwords, good only for a local request (demosecrets.go).
func handleLogin(a authorizer, limits loginThrottle, passwords passwordChecker, browsers knownBrowsers, demo publishedSecrets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in form could not be read.", "invalid_request")
			return
		}
		vm := pages.LoginView{
			RequestID: r.PostForm.Get("request"),
			Next:      afterLogin(r.PostForm.Get("next")),
			Username:  strings.TrimSpace(r.PostForm.Get("username")),
			CSRF:      a.forms.token(w, r),
			Upstreams: a.upstreams,
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
		if !a.forms.valid(r) {
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

		browser, err := browsers.browserOf(r, a.store, vm.Username)
		if err != nil {
			internalError(w, r, a.log, "read known browser", err)
			return
		}
		attempt, wait, err := limits.reserve(r, vm.Username, browser)
		if err != nil {
			internalError(w, r, a.log, "count sign-in attempt", err)
			return
		}
		if wait > 0 {
			countThrottled(w, limitSignIn)
			secs := int(math.Ceil(wait.Seconds()))
			a.log.WarnContext(r.Context(), "login throttled", "username", vm.Username, "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			vm.Error = fmt.Sprintf("Too many failed sign-ins. Please wait %d seconds and try again.", secs)
			render(w, r, http.StatusTooManyRequests, pages.Login(vm))
			return
		}

		user, ok, err := passwords.check(r.Context(), a.store, vm.Username, r.PostForm.Get("password"))
		if errors.Is(err, password.ErrBusy) {
			a.takeBack(r, attempt.notMade(r.Context()))
			a.log.WarnContext(r.Context(), "login busy: password checks at capacity", "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter.Seconds())))
			vm.Error = "ImageHost is busy. Please try again in a few seconds."
			render(w, r, http.StatusServiceUnavailable, pages.Login(vm))
			return
		}
		if err != nil {
			a.takeBack(r, attempt.notMade(r.Context()))
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
		if demo.refusesPassword(r, user.Username, r.PostForm.Get("password")) {
			a.takeBack(r, attempt.notMade(r.Context()))
			a.log.WarnContext(r.Context(), "login refused: a published demo password from beyond this machine", "username", vm.Username, "ip", clientIP(r))
			vm.Error = "This demo account's password is published with ImageHost's source code, so it signs in only on the machine that runs ImageHost."
			render(w, r, http.StatusForbidden, pages.Login(vm))
			return
		}
		a.takeBack(r, attempt.succeeded(r.Context()))
		if user.Disabled() {
			// The password was right: saying so tells nothing to someone
			// who did not know it.
			a.log.InfoContext(r.Context(), "login refused: the account is disabled", "user_id", user.ID)
			vm.Error = "This account is disabled. Ask your teacher."
			render(w, r, http.StatusForbidden, pages.Login(vm))
			return
		}
		browsers.remember(w, user.ID)

		who, ended, err := a.sessions.start(r.Context(), w, r, user)
		if err != nil {
			internalError(w, r, a.log, "start session", err)
			return
		}
		if len(ended) > 0 {
			a.activity.record(r.Context(), user.ID, req.ClientID, flowRef(req.State), "session replaced",
				fmt.Sprintf("signing in again ended the browser's previous session, and with it %d grant(s) without offline_access", len(ended)))
		}
		a.log.InfoContext(r.Context(), "login", "user_id", user.ID)
		a.activity.reached(r.Context(), store.MilestoneSignedIn, user.ID, req.ClientID, flowRef(req.State), "signed in", "with your password, from "+clientIP(r)+"; a new session id")
		if vm.RequestID == "" {
			http.Redirect(w, r, orAccount(vm.Next), http.StatusSeeOther)
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

// takeBack logs an attempt that could not be taken back: it stays
// counted until its window ends, a failure that costs the user at most a
// delay, so the sign-in goes on.
func (a authorizer) takeBack(r *http.Request, err error) {
	if err != nil {
		a.log.WarnContext(r.Context(), "sign-in attempt not taken back", "err", err)
	}
}

// afterLogin checks where a sign-in without an authorization request may
// go next: the device page (device.go), with the user code the user typed
// there, and nowhere else. The path is rebuilt, not copied, so that no
// value of next can send the browser to another site (an open redirect).
// Anything else is "": the account page.
func afterLogin(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Path != "/device" {
		return ""
	}
	if code, ok := oauth.NormalizeUserCode(u.Query().Get("user_code")); ok {
		return "/device?" + url.Values{"user_code": {oauth.FormatUserCode(code)}}.Encode()
	}
	return "/device"
}

// orAccount is where a sign-in goes: next, or the account page.
func orAccount(next string) string {
	if next == "" {
		return "/account"
	}
	return next
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
	if u.PasswordHash == "" {
		// An account made through an upstream provider has no password
		// (upstream_link.go): no password is right, and the answer takes
		// as long as for any other.
		_, err := p.hasher.Verify(ctx, pw, p.dummyHash)
		return u, false, err
	}
	ok, err := p.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrBusy) {
		return u, false, fmt.Errorf("user %s: %w", u.ID, err)
	}
	return u, ok, err
}
