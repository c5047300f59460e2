package main

// The authorization endpoint: RFC 6749 §4.1.1-4.1.2, with PKCE (RFC 7636),
// the iss parameter (RFC 9207) and OpenID Connect Core §3.1.2.
//
// /authorize validates the request, stores it, and sends the browser on to
// /login and /consent as needed; each of those comes back through proceed,
// which ends by issuing the code.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
)

// authRequestTTL is how long a user may take to log in and consent.
const authRequestTTL = 10 * time.Minute

// authorizer carries authorization requests from /authorize to the code:
// it serves /authorize, /login and /consent.
type authorizer struct {
	issuer   string
	store    authorizeStore
	sessions loginSessions
	now      func() time.Time
	codeTTL  time.Duration
	forms    formGuard
	activity *activityLog
	lab      *labSwitches // nil outside lab mode
	// mint makes the access token of the implicit grant, which lab mode
	// alone answers at this endpoint (authorize_implicit.go).
	mint minter
	log  *slog.Logger
	join bool // the login page offers to create an account with the join code
	// upstreams are the providers the login page offers besides the
	// password (upstream_login.go).
	upstreams []pages.UpstreamButton
}

// authorizeStore is what the authorization flow keeps in storage: the
// pending request from /authorize to the code, the user who signs in, the
// consent they give, and the code.
type authorizeStore interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
	SaveAuthRequest(ctx context.Context, r store.AuthRequest) error
	AuthRequestByID(ctx context.Context, id string) (store.AuthRequest, error)
	SetAuthRequestLogin(ctx context.Context, id, userID, sessionID string, authTime time.Time) error
	DeleteAuthRequest(ctx context.Context, id string) error
	ConsentFor(ctx context.Context, userID, clientID string) (store.Consent, error)
	SaveConsent(ctx context.Context, c store.Consent) error
	SaveAuthCode(ctx context.Context, c store.AuthCode) error
	CreateGrant(ctx context.Context, g store.Grant, rt *store.RefreshToken) error
}

// handleAuthorize serves GET and POST /authorize (OpenID Connect Core
// §3.1.2.1: "Authorization Servers MUST support the use of the HTTP GET and
// POST methods").
func handleAuthorize(a authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params := r.URL.Query()
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				errorPage(w, r, http.StatusBadRequest, "Invalid request", "The authorization request could not be read.", oauth.CodeInvalidRequest)
				return
			}
			params = r.PostForm
		}
		req, client, refused := parseAuthorizeRequest(r, a.store, params, a.policy())
		if refused != nil {
			a.fail(w, r, req, client, refused)
			return
		}
		now := a.now()
		req.ID = oauth.NewToken()
		req.BrowserHash = a.forms.bindBrowser(w, r)
		req.CreatedAt, req.ExpiresAt = now, now.Add(authRequestTTL)
		if err := a.store.SaveAuthRequest(r.Context(), req); err != nil {
			internalError(w, r, a.log, "save auth request", err)
			return
		}
		who, ok := a.sessions.current(r)
		a.proceed(w, r, req, client, who, ok)
	})
}

// An authorization request is refused in one of two ways, and the way
// travels with the error. RFC 6749 §4.1.2.1: "If the request fails due to a
// missing, invalid, or mismatching redirection URI, or if the client
// identifier is missing or invalid, the authorization server SHOULD inform
// the resource owner of the error and MUST NOT automatically redirect the
// user-agent to the invalid redirection URI." Every other error goes back
// to the client, at the redirect URI that was checked.
type authorizeError interface {
	refusal() *oauth.Error
}

// pageError is shown to the user on ImageHost's own page: the client or its
// redirect URI cannot be trusted with it.
type pageError struct{ *oauth.Error }

// redirectError is sent back to the client, with the request's state.
type redirectError struct{ *oauth.Error }

func (e pageError) refusal() *oauth.Error     { return e.Error }
func (e redirectError) refusal() *oauth.Error { return e.Error }

// fail reports an authorization error by the way its kind says.
func (a authorizer) fail(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, refused authorizeError) {
	e := refused.refusal()
	a.log.InfoContext(r.Context(), "authorization refused", "client_id", client.ID, "error", e.Code, "reason", e.Description)
	record := func(channel string) {
		if who, ok := a.sessions.current(r); ok {
			a.activity.refused(r.Context(), e.Description, who.user.ID, client.ID, flowRef(req.State), "authorization request refused",
				fmt.Sprintf("%s: %s (%s)", e.Code, e.Description, channel))
		}
	}
	switch refused.(type) {
	case pageError:
		record("not redirected: the client or redirect_uri cannot be trusted")
		errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid", e.Description, e.Code)
	case redirectError:
		if !a.mayRedirect(r, client) {
			record("not redirected: nobody has signed in, and a user registered this redirect_uri")
			notRedirected(w, r, req, client, e)
			return
		}
		record("sent back to the app")
		a.redirectError(w, r, req, client, e)
	}
}

// redirectError sends e back to the client at the request's redirect URI:
// in its query, or for the implicit grant in its fragment.
func (a authorizer) redirectError(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, e *oauth.Error) {
	if answersInFragment(client) {
		oauth.FragmentError(w, r, req.RedirectURI, req.State, a.issuer, e)
		return
	}
	oauth.RedirectError(w, r, req.RedirectURI, req.State, a.issuer, e)
}

// mayRedirect reports whether an error may go to the request's redirect
// URI now. A client a user registered (in the developer console, or at
// /register) has redirect URIs that user chose, any https URL, which
// ImageHost does not vouch for: were its errors sent there before anyone
// signed in, a link to /authorize with a bad parameter would be an open
// redirect to a phishing page through ImageHost's name. RFC 9700 §4.11.2:
// "The authorization server MUST always authenticate the user first ...
// before redirecting the user", and it "SHOULD only automatically redirect
// the user agent if it trusts the redirect URI." So for such a client an
// error goes back only once the browser is signed in; the operator's
// clients get theirs at once.
func (a authorizer) mayRedirect(r *http.Request, client store.Client) bool {
	if !client.UserRegistered() {
		return true
	}
	_, signedIn := a.sessions.current(r)
	return signedIn
}

// notRedirected shows an error ImageHost keeps from a client's redirect URI
// (mayRedirect), saying where the application wanted the browser to go.
func notRedirected(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, e *oauth.Error) {
	where := req.RedirectURI
	if u, err := url.Parse(req.RedirectURI); err == nil && u.Host != "" {
		where = u.Host
	}
	errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid",
		fmt.Sprintf("%s asked for something ImageHost cannot give: %s. It wanted ImageHost to send you on to %s; ImageHost does not, "+
			"because one of its users, not ImageHost, registered that address. Go back to the application only if you trust it.",
			client.Name, e.Description, where), e.Code)
}

// authorizePolicy is what lab mode may change of the checks of an
// authorization request, read from the switches once per request. Outside
// lab mode every check is on, and no legacy grant answers.
type authorizePolicy struct {
	requirePKCE bool // public clients must send a PKCE challenge
	implicit    bool // the lab's legacy client may ask for response_type=token
}

func (a authorizer) policy() authorizePolicy {
	return authorizePolicy{requirePKCE: a.lab.on(defencePKCE), implicit: !a.lab.on(defenceNoImplicit)}
}

// parseAuthorizeRequest validates an authorization request: first the
// client and its redirect URI, whose errors are shown on a page, then the
// rest, whose errors go back to the client.
func parseAuthorizeRequest(r *http.Request, st clientLookup, params url.Values, p authorizePolicy) (store.AuthRequest, store.Client, authorizeError) {
	req, client, e := trustedRedirect(r, st, params)
	if e != nil {
		return req, client, pageError{e}
	}
	if e := readAuthorizeParams(&req, client, params, p); e != nil {
		return req, client, redirectError{e}
	}
	return req, client, nil
}

// trustedRedirect finds the client and the redirect URI the request names,
// and makes sure the one registered the other.
func trustedRedirect(r *http.Request, st clientLookup, params url.Values) (req store.AuthRequest, client store.Client, e *oauth.Error) {
	if e := oauth.CheckParams(params); e != nil {
		return req, client, e
	}
	req.ClientID = params.Get("client_id")
	if req.ClientID == "" {
		return req, client, oauth.InvalidRequest("the request has no client_id")
	}
	client, err := st.ClientByID(r.Context(), req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return req, client, oauth.InvalidRequest("no application is registered with this client_id")
	} else if err != nil {
		return req, client, oauth.ServerError()
	}

	req.RedirectURI = params.Get("redirect_uri")
	if req.RedirectURI == "" {
		// OpenID Connect Core §3.1.2.1 requires redirect_uri; plain OAuth
		// may omit it when the client registered exactly one (RFC 6749 §3.1.2.3).
		scope, _ := oauth.ParseScope(params.Get("scope"))
		if len(client.RedirectURIs) != 1 || scope.Has(oauth.ScopeOpenID) {
			return req, client, oauth.InvalidRequest("the request has no redirect_uri")
		}
		req.RedirectURI = client.RedirectURIs[0]
	}
	// RFC 9700 §2.1: "authorization servers MUST utilize exact string
	// matching" of redirect URIs. No prefixes, no patterns, no
	// normalisation; only a native app's loopback port may vary
	// (redirectRegistered, RFC 8252 §7.3).
	if !redirectRegistered(client, req.RedirectURI) {
		return req, client, oauth.InvalidRequest("the redirect_uri is not registered for this application")
	}
	return req, client, nil
}

// readAuthorizeParams reads the rest of the request into req, once its
// client and redirect URI are trusted.
func readAuthorizeParams(req *store.AuthRequest, client store.Client, params url.Values, p authorizePolicy) *oauth.Error {
	req.State = params.Get("state")
	if len(req.State) > 1024 {
		req.State = ""
		return oauth.InvalidRequest("state is longer than 1024 characters")
	}
	if params.Has("request") {
		return oauth.Errorf(oauth.CodeRequestNotSupported, 400, "request objects are not supported")
	}
	if params.Has("request_uri") {
		return oauth.Errorf(oauth.CodeRequestURINotSupported, 400, "request_uri is not supported")
	}
	switch rt := params.Get("response_type"); {
	case rt == "code":
	case rt == responseTypeToken && p.implicit:
		// Lab mode only, with the implicit grant switched on: the token
		// itself in the fragment, no code and so no PKCE
		// (authorize_implicit.go).
		return readImplicitParams(req, client, params)
	case rt == "":
		return oauth.InvalidRequest("response_type is required")
	case strings.Contains(rt, "token"):
		return implicitRefused()
	default:
		return oauth.Errorf(oauth.CodeUnsupportedResponseType, 400, "ImageHost supports only response_type=code")
	}
	if rm := params.Get("response_mode"); rm != "" && rm != "query" {
		return oauth.InvalidRequest("only response_mode=query is supported")
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		return oauth.Errorf(oauth.CodeUnauthorizedClient, 400, "this application may not use the authorization code grant")
	}
	if e := readScope(req, client, params); e != nil {
		return e
	}

	req.CodeChallenge = params.Get("code_challenge")
	req.CodeChallengeMethod = params.Get("code_challenge_method")
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return oauth.InvalidRequest("code_challenge_method without code_challenge")
	case req.CodeChallenge == "" && client.Public() && p.requirePKCE:
		// RFC 9700 §2.1.1: public clients "MUST use PKCE"; OAuth 2.1 §4.1.1
		// makes the server require it of them.
		return oauth.InvalidRequest("PKCE is required: send code_challenge and code_challenge_method=S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oauth.MethodS256:
		// An absent method means "plain" (RFC 7636 §4.3), which we refuse.
		return oauth.InvalidRequest("code_challenge_method must be S256; plain is not allowed")
	case req.CodeChallenge != "" && !oauth.ValidChallenge(req.CodeChallenge):
		return oauth.InvalidRequest("code_challenge must be 43 base64url characters")
	}
	return readSignInParams(req, params)
}

// readScope reads the scope the request asks for, which the client must
// be allowed.
func readScope(req *store.AuthRequest, client store.Client, params url.Values) *oauth.Error {
	scope, scopeOK := oauth.ParseScope(params.Get("scope"))
	allowed, _ := oauth.ParseScope(client.Scope)
	switch {
	case !scopeOK:
		return oauth.Errorf(oauth.CodeInvalidScope, 400, "the scope parameter is malformed")
	case len(scope) == 0:
		return oauth.Errorf(oauth.CodeInvalidScope, 400, "the request asks for no scope")
	case !scope.SubsetOf(allowed):
		return oauth.Errorf(oauth.CodeInvalidScope, 400, "the application may not ask for: %s", scope.Minus(allowed))
	}
	req.Scope = scope.String()
	return nil
}

// readSignInParams reads what a request asks of the user's sign-in: the
// nonce, prompt and max_age.
func readSignInParams(req *store.AuthRequest, params url.Values) *oauth.Error {
	req.Nonce = params.Get("nonce")
	if len(req.Nonce) > 512 {
		return oauth.InvalidRequest("nonce is longer than 512 characters")
	}
	prompt := strings.Fields(params.Get("prompt"))
	for _, p := range prompt {
		if p != "none" && p != "login" && p != "consent" && p != "select_account" {
			return oauth.InvalidRequest("unknown prompt value")
		}
	}
	// OpenID Connect Core §3.1.2.1: "If this parameter contains none with
	// any other value, an error is returned."
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return oauth.InvalidRequest("prompt=none cannot be combined with other values")
	}
	req.Prompt = strings.Join(prompt, " ")
	req.MaxAge = -1
	if s := params.Get("max_age"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return oauth.InvalidRequest("max_age must be a non-negative number of seconds")
		}
		req.MaxAge = n
	}
	return nil
}

func hasPrompt(req store.AuthRequest, p string) bool {
	return slices.Contains(strings.Fields(req.Prompt), p)
}

// proceed takes a stored request one step further: to login, to consent, or
// to the code, as next says. who is the browser's login session, if signedIn.
func (a authorizer) proceed(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, who signedIn, signedIn bool) {
	st, err := a.next(r, req, client, who, signedIn)
	if err != nil {
		internalError(w, r, a.log, "next stage", err)
		return
	}
	switch st {
	case stageLogin:
		if hasPrompt(req, "none") {
			a.finishWithError(w, r, req, client, oauth.Errorf(oauth.CodeLoginRequired, 400, "the user is not signed in"))
			return
		}
		http.Redirect(w, r, "/login?request="+url.QueryEscape(req.ID), http.StatusSeeOther)
	case stageConsent:
		if hasPrompt(req, "none") {
			a.finishWithError(w, r, req, client, oauth.Errorf(oauth.CodeConsentRequired, 400, "the user has not allowed this application yet"))
			return
		}
		http.Redirect(w, r, "/consent?request="+url.QueryEscape(req.ID), http.StatusSeeOther)
	case stageCode:
		a.respond(w, r, req, client, who)
	}
}

// respond ends the request with its response type's answer: a code
// (response_type=code), or, for the lab's legacy client, the access token
// itself (response_type=token, authorize_implicit.go).
func (a authorizer) respond(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, who signedIn) {
	if answersInFragment(client) {
		a.issueToken(w, r, req, client, who)
		return
	}
	a.issueCode(w, r, req, who)
}

// missingConsent returns the requested scopes the user has not granted yet.
func (a authorizer) missingConsent(r *http.Request, user store.User, req store.AuthRequest) (oauth.Scope, error) {
	requested, _ := oauth.ParseScope(req.Scope)
	c, err := a.store.ConsentFor(r.Context(), user.ID, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return requested, nil
	} else if err != nil {
		return nil, err
	}
	granted, _ := oauth.ParseScope(c.Scope)
	return requested.Minus(granted), nil
}

// finishWithError ends the request and sends err back to the client, once
// it may (mayRedirect).
func (a authorizer) finishWithError(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, e *oauth.Error) {
	if !a.end(w, r, req) {
		return
	}
	if !a.mayRedirect(r, client) {
		notRedirected(w, r, req, client, e)
		return
	}
	if who, ok := a.sessions.current(r); ok {
		a.activity.record(r.Context(), who.user.ID, req.ClientID, flowRef(req.State), "authorization ended with an error", e.Code+": "+e.Description)
	}
	a.redirectError(w, r, req, client, e)
}

// end ends the pending request, so that it answers once: a consent form
// posted twice (a double click, a replay) must not give two codes. It
// reports false, having answered with an error page, when the request had
// ended already.
func (a authorizer) end(w http.ResponseWriter, r *http.Request, req store.AuthRequest) bool {
	err := a.store.DeleteAuthRequest(r.Context(), req.ID)
	if errors.Is(err, store.ErrNotFound) {
		errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
			"It was finished already. Go back to the application and start again.", oauth.CodeInvalidRequest)
		return false
	} else if err != nil {
		internalError(w, r, a.log, "end auth request", err)
		return false
	}
	return true
}

// issueCode ends the request with an authorization code (RFC 6749 §4.1.2).
func (a authorizer) issueCode(w http.ResponseWriter, r *http.Request, req store.AuthRequest, who signedIn) {
	if !a.end(w, r, req) {
		return
	}
	sess, user := who.session, who.user
	code := oauth.NewToken()
	err := a.store.SaveAuthCode(r.Context(), store.AuthCode{
		// Only the hash is stored: a leaked database holds no usable code.
		CodeHash:            oauth.HashToken(code),
		ClientID:            req.ClientID,
		UserID:              user.ID,
		RedirectURI:         req.RedirectURI,
		Scope:               req.Scope,
		Nonce:               req.Nonce,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
		SessionID:           sess.ID,
		AuthTime:            sess.AuthTime,
		AMR:                 sess.AMR,
		IDP:                 sess.IDP,
		// RFC 6749 §4.1.2: "The authorization code MUST expire shortly
		// after it is issued to mitigate the risk of leaks."
		ExpiresAt: a.now().Add(a.codeTTL),
		FlowRef:   flowRef(req.State),
	})
	if err != nil {
		internalError(w, r, a.log, "save auth code", err)
		return
	}
	a.log.InfoContext(r.Context(), "authorization code issued", "client_id", req.ClientID, "user_id", user.ID, "scope", req.Scope)
	pkce := "without PKCE"
	if req.CodeChallenge != "" {
		pkce = "bound to the PKCE code_challenge " + req.CodeChallenge[:8] + "… (S256)"
	}
	a.activity.reached(r.Context(), store.MilestoneAuthorized, user.ID, req.ClientID, flowRef(req.State), "authorization code issued",
		fmt.Sprintf("for scope %q, redirect_uri %s (an exact match of a registered one), valid %s, single use, %s", req.Scope, req.RedirectURI, a.codeTTL, pkce))
	oauth.RedirectWithParams(w, r, req.RedirectURI, url.Values{"code": {code}}, req.State, a.issuer)
}

// pendingRequest loads the authorization request a login or consent form
// refers to and checks that this browser started it.
func (a authorizer) pendingRequest(w http.ResponseWriter, r *http.Request, id string) (store.AuthRequest, store.Client, bool) {
	req, err := a.store.AuthRequestByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.now().Before(req.ExpiresAt)) {
		errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
			"Go back to the application and start again.", oauth.CodeInvalidRequest)
		return req, store.Client{}, false
	} else if err != nil {
		internalError(w, r, a.log, "load auth request", err)
		return req, store.Client{}, false
	}
	// The request is bound to the browser that started it, so a link to
	// someone else's pending request is useless to an attacker.
	if !a.forms.sameBrowser(r, req.BrowserHash) {
		errorPage(w, r, http.StatusBadRequest, "This sign-in was started elsewhere",
			"This sign-in request was started in another browser. Go back to the application and start again.", oauth.CodeInvalidRequest)
		return req, store.Client{}, false
	}
	client, err := a.store.ClientByID(r.Context(), req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted while the user was signing in: nothing may go back to it.
		errorPage(w, r, http.StatusBadRequest, "This application was removed",
			"The application that asked to sign you in is no longer registered with ImageHost.", oauth.CodeInvalidRequest)
		return req, store.Client{}, false
	} else if err != nil {
		internalError(w, r, a.log, "load client", fmt.Errorf("client %s: %w", req.ClientID, err))
		return req, store.Client{}, false
	}
	return req, client, true
}
