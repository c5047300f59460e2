package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// loginSessions starts, finds and ends users' login sessions at ImageHost.
// The login cookie's value is a random token; the database holds only its
// hash.
type loginSessions struct {
	store  sessionStore
	now    func() time.Time
	ttl    time.Duration
	secure bool
	cookie string // the login cookie's name (cookieNames.session)
}

// sessionStore is what login sessions keep in storage: the sessions, by the
// hash of their cookie, and their users. Ending a session ends the grants
// made in it that last only as long as it (store.Store.EndSession).
type sessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error)
	EndSession(ctx context.Context, id, reason string, now time.Time) ([]store.Grant, error)
	UserByID(ctx context.Context, id string) (store.User, error)
}

// signedIn is a valid login session and its user.
type signedIn struct {
	session store.Session
	user    store.User
}

// current returns the request's valid session and its user. ImageHost sets
// one login cookie, at Path=/; a browser that sends two has had another set
// by some other page of the site, at a longer path so that it comes first:
// someone else's session, planted to have the user act in it (cookie
// tossing). Such a browser is signed in to nobody.
func (ls loginSessions) current(r *http.Request) (signedIn, bool) {
	cookies := r.CookiesNamed(ls.cookie)
	if len(cookies) != 1 {
		return signedIn{}, false
	}
	c := cookies[0]
	if c.Value == "" || len(c.Value) > 100 {
		return signedIn{}, false
	}
	sess, err := ls.store.SessionByTokenHash(r.Context(), oauth.HashToken(c.Value))
	if err != nil || !ls.now().Before(sess.ExpiresAt) {
		return signedIn{}, false
	}
	u, err := ls.store.UserByID(r.Context(), sess.UserID)
	if err != nil || u.Disabled() { // disabling ends the sessions; this covers a race with it
		return signedIn{}, false
	}
	return signedIn{sess, u}, true
}

// require returns the request's session and its user, or sends the browser
// to sign in and reports false: the pages of a signed-in user start here.
func (ls loginSessions) require(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	who, ok := ls.current(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}
	return who, ok
}

// signInMethod is how a user signed in, which their session keeps and the
// ID tokens issued in it tell (mint.go).
type signInMethod struct {
	amr string // space-separated "amr" values (OpenID Connect Core §2, RFC 8176)
	idp string // the issuer of the upstream provider the user signed in through; "" for ImageHost itself
	// authTime is when the user authenticated, if not now: at the
	// upstream, possibly before ImageHost heard of it.
	authTime time.Time
}

// amrPassword is RFC 8176 §2's "pwd": "Password-based authentication",
// ImageHost's own sign-in form.
const amrPassword = "pwd"

// start ends any session the browser had and begins a new one for u, who
// signed in with their password (startWith).
func (ls loginSessions) start(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) (signedIn, []store.Grant, error) {
	return ls.startWith(ctx, w, r, u, signInMethod{amr: amrPassword})
}

// startWith ends any session the browser had and begins a new one for u,
// who signed in as how says. A new id at every login defeats session
// fixation. The session it replaced ends as a signed-out one does, with the
// grants made in it that last only as long as it; startWith returns those.
func (ls loginSessions) startWith(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User, how signInMethod) (signedIn, []store.Grant, error) {
	var ended []store.Grant
	if old, ok := ls.current(r); ok {
		var err error
		if ended, err = ls.store.EndSession(ctx, old.session.ID, "the user signed in again, which ended the session", ls.now()); err != nil {
			return signedIn{}, nil, fmt.Errorf("end old session: %w", err)
		}
	}
	token := oauth.NewToken()
	now := ls.now()
	authTime := now
	if !how.authTime.IsZero() && how.authTime.Before(now) {
		authTime = how.authTime
	}
	sess := store.Session{ID: oauth.NewID(), TokenHash: oauth.HashToken(token), UserID: u.ID, AuthTime: authTime,
		AMR: how.amr, IDP: how.idp, ExpiresAt: now.Add(ls.ttl)}
	if err := ls.store.CreateSession(ctx, sess); err != nil {
		return signedIn{}, ended, fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: ls.cookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: ls.secure, SameSite: http.SameSiteLaxMode,
	})
	return signedIn{sess, u}, ended, nil
}

// end deletes the session and its cookie, and ends the grants made in it
// that last only as long as it; it returns those.
func (ls loginSessions) end(ctx context.Context, w http.ResponseWriter, sess store.Session) ([]store.Grant, error) {
	http.SetCookie(w, &http.Cookie{Name: ls.cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: ls.secure, SameSite: http.SameSiteLaxMode})
	ended, err := ls.store.EndSession(ctx, sess.ID, "the user signed out", ls.now())
	if err != nil {
		return nil, fmt.Errorf("end session: %w", err)
	}
	return ended, nil
}
