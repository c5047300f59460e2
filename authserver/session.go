package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// sessionCookie is ImageHost's login cookie. Its value is a random token; the
// database holds only its hash.
const sessionCookie = "imagehost_session"

// loginSessions starts, finds and ends users' login sessions at ImageHost.
type loginSessions struct {
	store  sessionStore
	now    func() time.Time
	ttl    time.Duration
	secure bool
}

// sessionStore is what login sessions keep in storage: the sessions, by the
// hash of their cookie, and their users.
type sessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error)
	DeleteSession(ctx context.Context, id string) error
	UserByID(ctx context.Context, id string) (store.User, error)
}

// signedIn is a valid login session and its user.
type signedIn struct {
	session store.Session
	user    store.User
}

// current returns the request's valid session and its user.
func (ls loginSessions) current(r *http.Request) (signedIn, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return signedIn{}, false
	}
	sess, err := ls.store.SessionByTokenHash(r.Context(), oauth.HashToken(c.Value))
	if err != nil || !ls.now().Before(sess.ExpiresAt) {
		return signedIn{}, false
	}
	u, err := ls.store.UserByID(r.Context(), sess.UserID)
	if err != nil || u.Disabled() { // disabling deletes the sessions; this covers a race with it
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

// start ends any session the browser had and begins a new one for u. A new
// id at every login defeats session fixation.
func (ls loginSessions) start(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) (signedIn, error) {
	if old, ok := ls.current(r); ok {
		if err := ls.store.DeleteSession(ctx, old.session.ID); err != nil {
			return signedIn{}, fmt.Errorf("end old session: %w", err)
		}
	}
	token := oauth.NewToken()
	now := ls.now()
	sess := store.Session{ID: oauth.NewID(), TokenHash: oauth.HashToken(token), UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(ls.ttl)}
	if err := ls.store.CreateSession(ctx, sess); err != nil {
		return signedIn{}, fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: ls.secure, SameSite: http.SameSiteLaxMode,
	})
	return signedIn{sess, u}, nil
}

// end deletes the session and its cookie.
func (ls loginSessions) end(ctx context.Context, w http.ResponseWriter, sess store.Session) error {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: ls.secure, SameSite: http.SameSiteLaxMode})
	if err := ls.store.DeleteSession(ctx, sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
