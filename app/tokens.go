package main

// Keeping the access token fresh. When it has expired (or the API calls it
// invalid), the app uses the refresh token (RFC 6749 §6), stores the rotated
// refresh token ImageHost returns, and carries on.
//
// Two requests of one user may need a refresh at the same moment (two tabs).
// ImageHost rotates refresh tokens and treats a second use of the old one as
// theft, revoking everything (RFC 9700 §4.14.2). So refreshes of one session
// take turns: the first refreshes, the second finds fresh tokens and uses them.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"golang.org/x/oauth2"

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

// tokenKeeper refreshes sessions' tokens, one refresh at a time per session.
type tokenKeeper struct {
	store    *tokenstore.Store
	provider *provider
	now      func() time.Time
	locks    [64]sync.Mutex // striped by session id: bounded memory, rare contention
}

func (k *tokenKeeper) lock(sessionID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(sessionID))
	return &k.locks[h.Sum32()%uint32(len(k.locks))]
}

// forSession returns the tokens of one session, for one request.
func (k *tokenKeeper) forSession(sessionID string) *sessionTokens {
	return &sessionTokens{keeper: k, sessionID: sessionID}
}

// sessionTokens implements imagehost.Tokens for one request, and remembers
// whether it refreshed, for the page's "token refreshed" indicator.
type sessionTokens struct {
	keeper    *tokenKeeper
	sessionID string
	Refreshed bool
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
	mu := t.keeper.lock(t.sessionID)
	mu.Lock()
	defer mu.Unlock()
	sess, err := t.keeper.store.Get(ctx, t.sessionID)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return "", &reconnectError{"Your session has ended."}
	} else if err != nil {
		return "", err
	}
	if sess.EndedReason != "" {
		return "", &reconnectError{sess.EndedReason}
	}
	stillGood := t.keeper.now().Add(expirySkew).Before(sess.Expiry)
	if sess.AccessToken != rejected && stillGood {
		return sess.AccessToken, nil
	}
	if rejected != "" && sess.AccessToken != rejected {
		return sess.AccessToken, nil // another request refreshed already
	}
	return t.refresh(ctx, sess)
}

// refresh redeems the refresh token; the caller holds the session's lock.
func (t *sessionTokens) refresh(ctx context.Context, sess tokenstore.Session) (string, error) {
	if sess.RefreshToken == "" {
		return "", t.end(ctx, sess, "Your access to ImageHost expired.")
	}
	d, err := t.keeper.provider.discover(ctx)
	if err != nil {
		return "", err
	}
	ctx = flow.WithStep(ctx, flow.StepRefresh)
	tok, err := d.oauth.TokenSource(t.keeper.provider.withHTTP(ctx), &oauth2.Token{RefreshToken: sess.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client") {
		// RFC 6749 §5.2 invalid_grant: the refresh token is "invalid,
		// expired, revoked". It will not get better: drop the tokens.
		reason := "ImageHost no longer accepts this app's access (it was revoked or expired)."
		if re.ErrorDescription != "" {
			reason = "ImageHost no longer accepts this app's access: " + re.ErrorDescription + "."
		}
		return "", t.end(ctx, sess, reason)
	} else if err != nil {
		return "", fmt.Errorf("refresh tokens: %w", err)
	}
	sess.AccessToken, sess.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		sess.RefreshToken = tok.RefreshToken // the rotated one; the old one is now spent
	}
	sess.Refreshes++
	sess.UpdatedAt = t.keeper.now()
	if err := t.keeper.store.Save(ctx, sess); err != nil {
		return "", err
	}
	t.Refreshed = true
	return sess.AccessToken, nil
}

// end drops the session's tokens and returns the error that sends the user
// back to Connect.
func (t *sessionTokens) end(ctx context.Context, sess tokenstore.Session, reason string) error {
	sess.AccessToken, sess.RefreshToken, sess.IDToken, sess.EndedReason = "", "", "", reason
	if err := t.keeper.store.Save(ctx, sess); err != nil {
		return err
	}
	return &reconnectError{reason}
}
