package main

// Signing in through an upstream OpenID provider, such as a company's
// sign-in service ("Corporate SSO"). The login page's "Continue with ..."
// posts here; ImageHost sends the browser to the upstream with an
// authorization request of its own (this file); the upstream sends it back
// to ImageHost's callback (upstream_callback.go); and the identity it
// names, its iss and sub, stands for a local account: the one linked to it,
// or, the first time, one the user chooses (upstream_link.go). Then the
// sign-in goes on as a password's does: a new session, the login bound to
// the pending authorization request (authstage.go), and consent.
//
// Here ImageHost is the client, and holds itself to what it asks of its own
// clients (RFC 9700 §2.1, OpenID Connect Core §3.1):
//   - state: random for each sign-in, bound to this browser by a signed
//     cookie, compared in constant time, used once (stored hashed, taken in
//     one atomic step);
//   - PKCE S256 and a nonce, both computed from the state with a key only
//     ImageHost holds, so that neither is stored anywhere;
//   - iss (RFC 9207), and a redirect URI of its own per upstream, against
//     mix-up (RFC 9700 §4.4.2);
//   - the ID token verified with go-oidc, then its nonce (upstream/);
//   - the identity linked by iss and sub only, never by an email address.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/throttle"
	"oauthdemo/authserver/upstream"
)

// The bounds of signing in through an upstream (SECURITY.md lists them).
const (
	// upstreamLoginTTL is how long the user may take at the upstream, and
	// then to choose an account for a new identity.
	upstreamLoginTTL = 10 * time.Minute
	// maxPendingUpstreamLogins bounds the sign-ins under way, server-wide:
	// each is a row until it is used or expires.
	maxPendingUpstreamLogins = 10_000
	// Sign-ins started per address (IPv6: per /64) in upstreamStartWindow:
	// each makes a row and sends the browser to the upstream.
	upstreamStartsPerAddress = 30
	upstreamStartWindow      = 10 * time.Minute
	// upstreamClockSkew is how far the upstream's clock may be from
	// ImageHost's when its auth_time is held against a fresh login asked for.
	upstreamClockSkew = 30 * time.Second
)

// amrFederated is the amr value ImageHost gives a sign-in through an
// upstream provider, before the upstream's own values. RFC 8176 registers
// no value for it; OpenID Connect Core §2 lets parties agree on their own,
// and "fed" is the one Microsoft Entra ID uses for "a federated assertion".
const amrFederated = "fed"

// federation signs users in through the configured upstream providers.
type federation struct {
	providers map[string]*upstream.Provider // by name
	store     federationStore
	// authz carries the pending authorization request on once the user is
	// signed in, with its sessions, forms and activity log.
	authz authorizer
	// sign makes the cookie of a sign-in under way, and its PKCE verifier
	// and nonce.
	sign   signer
	cookie string
	// starts counts the sign-ins started per address, in memory or in the
	// store that instances share (shared.go).
	starts throttle.Counter
	// Linking an existing account takes its password, counted and checked
	// as at /login.
	signIns   loginThrottle
	passwords passwordChecker
	browsers  knownBrowsers
	demo      publishedSecrets
}

// federationStore is what signing in through an upstream keeps in storage.
type federationStore interface {
	store.UpstreamLogins
	UserByUsername(ctx context.Context, username string) (store.User, error)
	SetAuthRequestLogin(ctx context.Context, id, userID, sessionID string, authTime time.Time) error
}

// newFederation makes the configured upstreams' providers.
func newFederation(cfg Config, st federationStore, authz authorizer, limit attemptLimits, signIns loginThrottle, passwords passwordChecker,
	browsers knownBrowsers, demo publishedSecrets) federation {
	f := federation{providers: map[string]*upstream.Provider{}, store: st, authz: authz, sign: authz.forms.sign,
		cookie: authz.forms.names.upstream, starts: limit("upstream-start-address", upstreamStartsPerAddress, upstreamStartWindow),
		signIns: signIns, passwords: passwords, browsers: browsers, demo: demo}
	for _, u := range cfg.Upstreams {
		f.providers[u.Name] = upstream.New(u, upstreamRedirectURI(cfg.Issuer, u.Name), upstreamPolicy(cfg, u), authz.now)
	}
	return f
}

// upstreamButtons are the login page's "Continue with ..." buttons.
func upstreamButtons(cfg Config) []pages.UpstreamButton {
	var b []pages.UpstreamButton
	for _, u := range cfg.Upstreams {
		name := u.DisplayName
		if name == "" {
			name = u.Name
		}
		b = append(b, pages.UpstreamButton{Name: u.Name, DisplayName: name})
	}
	return b
}

// provider returns the upstream the request's path names, or answers 404.
func (f federation) provider(w http.ResponseWriter, r *http.Request) (*upstream.Provider, bool) {
	p, ok := f.providers[r.PathValue("name")]
	if !ok {
		errorPage(w, r, http.StatusNotFound, "No such sign-in service", "ImageHost offers no sign-in through that service.", oauth.CodeInvalidRequest)
	}
	return p, ok
}

// secretsOf returns the PKCE code verifier (RFC 7636 §4.1: 43 characters
// of base64url, 256 bits) and the nonce of the sign-in whose state is
// state. Both are an HMAC of the state with ImageHost's key: whoever sees
// the state (it travels in URLs) cannot compute them, and ImageHost need
// not keep them.
func (f federation) secretsOf(state string) (verifier, nonce string) {
	return f.sign.mac("upstream-pkce-verifier", state), f.sign.mac("upstream-nonce", state)
}

// handleUpstreamStart serves POST /upstream/{name}/start: the login page's
// "Continue with ...". It sends the browser to the upstream's
// authorization endpoint (OpenID Connect Core §3.1.2.1).
func handleUpstreamStart(f federation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := f.provider(w, r)
		if !ok {
			return
		}
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in form could not be read.", oauth.CodeInvalidRequest)
			return
		}
		if !f.authz.forms.valid(r) {
			errorPage(w, r, http.StatusForbidden, "The form had expired", "Go back to the sign-in page and try again.", oauth.CodeInvalidRequest)
			return
		}
		now := f.authz.now()
		state := oauth.NewToken()
		l := store.UpstreamLogin{IDHash: oauth.HashToken(state), Upstream: p.Name, Next: afterLogin(r.PostForm.Get("next")),
			FlowRef: flowRef(state), CreatedAt: now, ExpiresAt: now.Add(upstreamLoginTTL)}
		var extra url.Values
		if id := r.PostForm.Get("request"); id != "" {
			req, _, ok := f.authz.pendingRequest(w, r, id)
			if !ok {
				return
			}
			// The sign-in is for this request: its activity carries the
			// request's flow reference, which the application's inspector
			// can compute too.
			l.AuthRequestID, l.FlowRef, l.Next = req.ID, flowRef(req.State), ""
			extra = freshness(req)
		}
		// Instances sharing a database share this limit (shared.go).
		attempt, wait, err := f.starts.Reserve(r.Context(), addressKey(r))
		if err != nil {
			internalError(w, r, f.authz.log, "count upstream sign-in", err)
			return
		}
		if wait > 0 {
			countThrottled(w, limitUpstreamStart)
			f.authz.log.WarnContext(r.Context(), "upstream sign-ins throttled", "upstream", p.Name, "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			errorPage(w, r, http.StatusTooManyRequests, "Too many sign-ins",
				fmt.Sprintf("Too many sign-ins through %s came from your address. Please wait a few minutes.", p.DisplayName), "")
			return
		}
		// A start counts only once its sign-in is under way; one that
		// cannot start is taken back. So the starts counted are never more
		// than the sign-ins under way (at most maxPendingUpstreamLogins),
		// and cheap refused starts cannot crowd the other limits' attempts
		// out of the table they share in the store (store.MaxAttempts).
		notStarted := func() { f.authz.takeBack(r, attempt.Release(r.Context())) }
		verifier, nonce := f.secretsOf(state)
		authURL, err := p.AuthorizationURL(r.Context(), state, nonce, verifier, extra)
		if err != nil {
			notStarted()
			f.unavailable(w, r, p, err)
			return
		}
		if err := f.store.CreateUpstreamLogin(r.Context(), l, maxPendingUpstreamLogins); errors.Is(err, store.ErrQuotaExceeded) {
			notStarted()
			f.authz.log.WarnContext(r.Context(), "upstream sign-ins at capacity", "upstream", p.Name)
			w.Header().Set("Retry-After", "60")
			errorPage(w, r, http.StatusServiceUnavailable, "ImageHost is busy", "Too many sign-ins are under way. Please try again in a minute.", "")
			return
		} else if err != nil {
			notStarted()
			internalError(w, r, f.authz.log, "store upstream login", err)
			return
		}
		// RFC 6749 §10.12: the state binds the answer to this browser. The
		// cookie holds it, signed; the callback compares the two.
		f.authz.forms.setCookie(w, r, f.cookie, f.sign.sign("upstream", state))
		f.authz.log.InfoContext(r.Context(), "upstream sign-in started", "upstream", p.Name, "flow_ref", l.FlowRef, "ip", clientIP(r))
		http.Redirect(w, r, authURL, http.StatusSeeOther)
	})
}

// freshness passes on what a pending request asks of the login's
// freshness, since a sign-in through the upstream is only as fresh as the
// upstream's: prompt=login (or select_account, which a browser with one
// upstream account answers by signing in) and max_age (OpenID Connect Core
// §3.1.2.1). The callback checks the upstream's auth_time against them.
func freshness(req store.AuthRequest) url.Values {
	v := url.Values{}
	if hasPrompt(req, "login") || hasPrompt(req, "select_account") {
		v.Set("prompt", "login")
	}
	if req.MaxAge >= 0 {
		v.Set("max_age", strconv.Itoa(req.MaxAge))
	}
	return v
}

// freshEnough reports why the upstream's sign-in is not as fresh as the
// pending request asks, or "". started is when ImageHost sent the browser
// to the upstream.
func freshEnough(req store.AuthRequest, authTime, started, now time.Time) string {
	// OpenID Connect Core §3.1.2.1, max_age: "When max_age is used, the ID
	// Token returned MUST include an auth_time Claim Value."
	fresh := hasPrompt(req, "login") || hasPrompt(req, "select_account")
	switch {
	case (fresh || req.MaxAge >= 0) && authTime.IsZero():
		return "its ID token does not say when you signed in there (auth_time)"
	case fresh && authTime.Before(started.Add(-upstreamClockSkew)):
		return "it did not ask for your password again, which the application asked for"
	case req.MaxAge >= 0 && now.Sub(authTime) > time.Duration(req.MaxAge)*time.Second+upstreamClockSkew:
		return fmt.Sprintf("you signed in there longer ago than the application allows (max_age %d s)", req.MaxAge)
	}
	return ""
}

// unavailable answers for an upstream that is down, slow or busy.
func (f federation) unavailable(w http.ResponseWriter, r *http.Request, p *upstream.Provider, err error) {
	f.authz.log.WarnContext(r.Context(), "upstream unavailable", "upstream", p.Name, "err", err)
	if errors.Is(err, upstream.ErrBusy) {
		w.Header().Set("Retry-After", "5")
		errorPage(w, r, http.StatusServiceUnavailable, p.DisplayName+" is busy",
			"Many people are signing in through "+p.DisplayName+" right now. Please try again in a few seconds.", "")
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(upstream.RetryDiscoveryAfter.Seconds())))
	errorPage(w, r, http.StatusBadGateway, p.DisplayName+" is unavailable",
		"ImageHost could not reach "+p.DisplayName+". Please try again later, or sign in with your ImageHost password.", "")
}

// pendingRequestOf loads the authorization request a sign-in is for, if
// any, checking as /login does that it is still pending and this
// browser's. It reports false when it has answered.
func (f federation) pendingRequestOf(w http.ResponseWriter, r *http.Request, l store.UpstreamLogin) (store.AuthRequest, store.Client, bool) {
	if l.AuthRequestID == "" {
		return store.AuthRequest{}, store.Client{}, true
	}
	return f.authz.pendingRequest(w, r, l.AuthRequestID)
}

// finish signs user in, who signed in through an upstream as id says: a
// new session that remembers how (amr, idp), an entry in their activity log
// saying how the upstream's answer was checked and how the identity stands
// for the account (linked), then the pending request goes on to consent, or
// the browser goes where it was going.
func (f federation) finish(w http.ResponseWriter, r *http.Request, l store.UpstreamLogin, req store.AuthRequest, client store.Client,
	user store.User, id store.UpstreamIdentity, linked string) {
	ctx := r.Context()
	if user.Disabled() {
		// A disabled user signs in no way at all (store.User.Disabled):
		// not with a password, and not through an upstream that still
		// vouches for them. As at /login, saying so tells nothing to
		// someone who could not sign in there.
		f.authz.log.InfoContext(ctx, "login through upstream refused: the account is disabled", "upstream", l.Upstream, "user_id", user.ID, "flow_ref", l.FlowRef)
		f.authz.activity.record(ctx, user.ID, req.ClientID, l.FlowRef, "sign-in refused",
			fmt.Sprintf("someone signed in through %s as you, but your account is disabled, from %s", f.displayName(l.Upstream), clientIP(r)))
		errorPage(w, r, http.StatusForbidden, "This account is disabled",
			"Your "+f.displayName(l.Upstream)+" identity stands for an ImageHost account that is disabled. Ask your teacher.", oauth.CodeAccessDenied)
		return
	}
	how := signInMethod{amr: strings.TrimSpace(amrFederated + " " + id.AMR), idp: id.Issuer, authTime: id.AuthTime}
	who, ended, err := f.authz.sessions.startWith(ctx, w, r, user, how)
	if err != nil {
		internalError(w, r, f.authz.log, "start session", err)
		return
	}
	if len(ended) > 0 {
		f.authz.activity.record(ctx, user.ID, req.ClientID, l.FlowRef, "session replaced",
			fmt.Sprintf("signing in again ended the browser's previous session, and with it %d grant(s) without offline_access", len(ended)))
	}
	name := f.displayName(l.Upstream)
	f.authz.log.InfoContext(ctx, "login through upstream", "upstream", l.Upstream, "user_id", user.ID, "flow_ref", l.FlowRef)
	f.authz.activity.reached(ctx, store.MilestoneSignedIn, user.ID, req.ClientID, l.FlowRef, "signed in through "+name,
		fmt.Sprintf("%s %s; its identity (iss %s, sub %s) %s. A new session id; the ID tokens issued in it say amr %q and idp %s, from %s",
			name, id.Verified, id.Issuer, id.Subject, linked, strings.Fields(how.amr), id.Issuer, clientIP(r)))
	if l.AuthRequestID == "" {
		http.Redirect(w, r, orAccount(afterLogin(l.Next)), http.StatusSeeOther)
		return
	}
	// As at /login: the login is bound to this request and this session,
	// and satisfies prompt=login and max_age for no other (authstage.go).
	err = f.store.SetAuthRequestLogin(ctx, req.ID, user.ID, who.session.ID, who.session.AuthTime)
	if errors.Is(err, store.ErrNotFound) {
		errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
			"You are signed in, but the application's request has ended. Go back to the application and start again.", oauth.CodeInvalidRequest)
		return
	} else if err != nil {
		internalError(w, r, f.authz.log, "record login", err)
		return
	}
	req.UserID, req.SessionID, req.AuthTime = user.ID, who.session.ID, who.session.AuthTime
	f.authz.proceed(w, r, req, client, who, true)
}

// displayName is an upstream's display name, or its name if it is no
// longer configured.
func (f federation) displayName(name string) string {
	if p, ok := f.providers[name]; ok {
		return p.DisplayName
	}
	return name
}

// loginCookie returns the value of the browser's cookie for a sign-in
// under way, if ImageHost signed it.
func (f federation) loginCookie(r *http.Request) (string, bool) {
	return f.authz.forms.signedCookie(r, f.cookie, "upstream")
}

// endLoginCookie deletes that cookie.
func (f federation) endLoginCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: f.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: f.authz.forms.secure, SameSite: http.SameSiteLaxMode})
}

// logRefusal logs an answer refused before anyone is known to have signed
// in: the activity log, which is kept per user, has nobody to tell.
func (f federation) logRefusal(ctx context.Context, upstreamName, flowRef, reason string) {
	f.authz.log.Log(ctx, slog.LevelWarn, "upstream sign-in refused", "upstream", upstreamName, "flow_ref", flowRef, "reason", reason)
}
