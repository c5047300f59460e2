package main

// Keeping the access token fresh. When it has expired (or the API calls it
// invalid), the app uses the refresh token (RFC 6749 §6), stores the rotated
// refresh token ImageHost returns, and carries on.
//
// Two requests of one user may need a refresh at the same moment (two tabs).
// ImageHost rotates refresh tokens and treats a second use of the old one as
// theft, revoking everything (RFC 9700 §4.14.2). So refreshes of one session
// take turns: the first refreshes, the second finds fresh tokens and uses them,
// whichever instance of the app each request reached.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/app/dpop"
	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

// expirySkew refreshes a little early, so a token does not expire on its
// way to the API.
const expirySkew = 2 * time.Second

// reconnectError means the session's tokens are gone: ImageHost refused to
// refresh them, or the session was ended from outside. The user must
// connect again; reason says why.
type reconnectError struct{ reason string }

func (e *reconnectError) Error() string { return "reconnect: " + e.reason }

// sessionRows is what the token keeper does with the session store.
type sessionRows interface {
	Get(ctx context.Context, id string) (tokenstore.Session, error)
	Update(ctx context.Context, id string, change func(sess *tokenstore.Session) error) error
}

// tokenKeeper keeps sessions' tokens: it alone reads, changes and writes
// them back, one change at a time per session (update).
type tokenKeeper struct {
	store    sessionRows
	provider *provider
	now      func() time.Time
	locks    [64]sync.Mutex // striped by session id: bounded memory, rare contention
}

func (k *tokenKeeper) lock(sessionID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(sessionID))
	return &k.locks[h.Sum32()%uint32(len(k.locks))]
}

// update runs fn on the session's current row and stores what fn changed,
// even when fn then fails (a refresh ImageHost refused drops the tokens and
// says so). It is the one read-modify-write of a session: two requests of
// one session take turns in it, on two locks. This instance's lock comes
// first: its requests wait in memory, not holding a database connection.
// The store's comes second (tokenstore.Store.Update): with several
// instances on one database, requests of one browser that reached
// different instances wait for each other there. A session that is gone,
// or was ended from outside (before or during fn), is a reconnectError.
func (k *tokenKeeper) update(ctx context.Context, sessionID string, fn func(sess *tokenstore.Session) error) error {
	mu := k.lock(sessionID)
	mu.Lock()
	defer mu.Unlock()
	err := k.store.Update(ctx, sessionID, func(sess *tokenstore.Session) error {
		if sess.EndedReason != "" {
			return &reconnectError{sess.EndedReason}
		}
		before := *sess
		err := fn(sess)
		if *sess != before {
			sess.UpdatedAt = k.now()
		}
		return err
	})
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
		return &reconnectError{"Your session has ended."}
	case errors.Is(err, tokenstore.ErrEnded):
		// Ended while fn ran, by a back-channel logout: what fn got from
		// ImageHost was not kept.
		if sess, gerr := k.store.Get(ctx, sessionID); gerr == nil && sess.EndedReason != "" {
			return &reconnectError{sess.EndedReason}
		}
		return &reconnectError{"Your session has ended."}
	}
	return err
}

// forSession returns the tokens of one session, for one request.
func (k *tokenKeeper) forSession(sessionID string) *sessionTokens {
	return &sessionTokens{keeper: k, sessionID: sessionID}
}

// sessionTokens implements imagehost.Tokens for one request, and remembers
// whether it refreshed, for the page's "token refreshed" indicator. With
// DPoP it is imagehost.BoundTokens too: it hands out the session's key
// with the token.
type sessionTokens struct {
	keeper    *tokenKeeper
	sessionID string
	Refreshed bool
	// key is the DPoP key of the token get last returned; nil for a
	// bearer token.
	key *dpop.Key
}

// Prove returns ctx carrying the session's DPoP key, for the proof of a
// request with the access token AccessToken or Refresh returned last, and
// whether that token is bound to it (RFC 9449 §7.1).
func (t *sessionTokens) Prove(ctx context.Context) (context.Context, bool) {
	if t.key == nil {
		return ctx, false
	}
	return dpop.WithKey(ctx, t.key), true
}

// AccessToken returns a valid access token, refreshing an expired one.
func (t *sessionTokens) AccessToken(ctx context.Context) (string, error) {
	return t.get(ctx, "")
}

// Refresh returns a newer token than rejected, refreshing only if no other
// request has done so since.
func (t *sessionTokens) Refresh(ctx context.Context, rejected string) (string, error) {
	return t.get(ctx, rejected)
}

func (t *sessionTokens) get(ctx context.Context, rejected string) (string, error) {
	var token string
	var key *dpop.Key
	refreshed := false
	err := t.keeper.update(ctx, t.sessionID, func(sess *tokenstore.Session) error {
		stillGood := t.keeper.now().Add(expirySkew).Before(sess.Expiry)
		// Still good, or refused but since replaced by another request's
		// refresh: use it.
		if sess.AccessToken != rejected && (stillGood || rejected != "") {
			token = sess.AccessToken
		} else {
			if err := t.keeper.refresh(ctx, sess); err != nil {
				return err
			}
			refreshed, token = true, sess.AccessToken
		}
		var err error
		key, err = t.keeper.provider.keys.keyOf(*sess)
		return err
	})
	if err != nil {
		return "", err // never a token the store did not keep
	}
	t.Refreshed = t.Refreshed || refreshed
	t.key = key
	return token, nil
}

// refresh redeems the session's refresh token (RFC 6749 §6) and keeps what
// ImageHost returns; the caller holds the session's lock (update).
func (k *tokenKeeper) refresh(ctx context.Context, sess *tokenstore.Session) error {
	if sess.RefreshToken == "" {
		return end(sess, "Your access to ImageHost expired.")
	}
	d, err := k.provider.discover(ctx)
	if err != nil {
		return err
	}
	// Once sent, the refresh is seen through even if the browser goes away:
	// ImageHost rotates the refresh token whether or not the app reads its
	// answer, and an answer dropped half-way would leave the session only
	// the spent token, whose next use ImageHost takes for theft. The HTTP
	// client's timeout still bounds it, and the store's Update keeps what
	// comes back (tokenstore.Store).
	ctx = flow.WithStep(context.WithoutCancel(ctx), flow.StepRefresh)
	// With DPoP, the refresh carries a proof of the session's key, and the
	// new access token is bound to it (dpop.go).
	key, err := k.provider.keys.keyOf(*sess)
	if err != nil {
		return end(sess, "The app could not read this session's key.")
	}
	tok, err := d.oauth.TokenSource(k.provider.withHTTP(k.provider.keys.with(ctx, key)), &oauth2.Token{RefreshToken: sess.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client") {
		// RFC 6749 §5.2 invalid_grant: the refresh token is "invalid,
		// expired, revoked". It will not get better: drop the tokens.
		reason := "ImageHost no longer accepts this app's access (it was revoked or expired)."
		if re.ErrorDescription != "" {
			reason = "ImageHost no longer accepts this app's access: " + re.ErrorDescription + "."
		}
		return end(sess, reason)
	} else if err != nil {
		return fmt.Errorf("refresh tokens: %w", err)
	}
	sess.AccessToken, sess.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		sess.RefreshToken = tok.RefreshToken // the rotated one; the old one is now spent
	}
	k.provider.keys.rebind(sess, tok)
	sess.Refreshes++
	return nil
}

// end drops the session's tokens and returns the error that sends the user
// back to Connect.
func end(sess *tokenstore.Session, reason string) error {
	sess.AccessToken, sess.RefreshToken, sess.IDToken, sess.DPoPKey, sess.EndedReason = "", "", "", "", reason
	return &reconnectError{reason}
}
