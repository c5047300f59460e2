// Package tokenstore keeps what PhotoEditorApp knows about each signed-in
// browser session, on the server: the tokens ImageHost issued and who the
// user is. The browser holds only a random session id inside an encrypted
// cookie, so no token ever reaches it, and the cookie stays small whatever
// the tokens' size.
//
// Keeping sessions here also lets ImageHost end one from outside (OIDC
// Back-Channel Logout): the row is marked ended, and the next request with
// that cookie finds a dead session.
//
// Store is the contract; tokenstore/sqlite keeps sessions in a file for one
// instance, and app/postgres in PostgreSQL for several instances behind a
// load balancer. tokenstore/storetest is the conformance suite both pass.
package tokenstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound: no such session.
var ErrNotFound = errors.New("tokenstore: not found")

// ErrEnded: the session was ended (Store.End) while Update was changing it;
// the change was not saved.
var ErrEnded = errors.New("tokenstore: the session was ended")

// WriteTimeout bounds Update's write, which outlives the caller's context.
const WriteTimeout = 5 * time.Second

// Session is one browser's connection to ImageHost.
type Session struct {
	ID           string // the random value in the cookie
	Subject      string // the user's "sub" at ImageHost
	Name         string
	SID          string // ImageHost's session id, from the ID token's "sid"
	AccessToken  string
	RefreshToken string
	IDToken      string
	// DPoPKey is the private key the session's tokens are bound to (DPoP,
	// RFC 9449), sealed by the app (app/dpop.Sealer); "" when they are
	// bearer tokens. The store keeps it as it is given.
	DPoPKey     string
	Expiry      time.Time // of the access token
	Refreshes   int       // how many times the tokens were refreshed
	EndedReason string    // set when the session was ended from outside
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Store keeps sessions. Times come back to the millisecond, in UTC.
type Store interface {
	// Create stores a new session.
	Create(ctx context.Context, sess Session) error
	// Get returns a session, or ErrNotFound.
	Get(ctx context.Context, id string) (Session, error)
	// Update is the one read-modify-write of a session: it reads the
	// session, calls change on it, and saves what change changed, even when
	// change then returns an error (a refresh that ImageHost refused drops
	// the tokens and says why). It returns change's error.
	//
	// Two Updates of one session never overlap: the second reads what the
	// first saved. That holds through one Store and, on a store that
	// several instances share, through every Store on the database; it is
	// what lets a refresh happen once however many requests need it.
	//
	// Only the tokens, DPoPKey, Expiry, Refreshes, EndedReason and
	// UpdatedAt are saved, and only while the session is live: an ended session stays
	// ended. Ended before Update (EndedReason set), change still sees it and
	// decides; ended while change ran (a back-channel logout during a
	// refresh), the change is dropped and Update returns ErrEnded. A session
	// that is gone is ErrNotFound.
	//
	// Once change has run, its result is saved even if ctx ended meanwhile
	// (the browser went away): ImageHost has rotated the refresh token by
	// then, and a store that dropped the new one would keep only the spent
	// one, whose next use ImageHost takes for theft.
	Update(ctx context.Context, id string, change func(sess *Session) error) error
	// Delete forgets a session; a session that is gone is no error.
	Delete(ctx context.Context, id string) error
	// End marks sessions dead and drops their tokens and DPoP key: the one with
	// ImageHost session id sid (of subject, if given), or, when sid is
	// empty, every session of subject; with neither it fails. reason must
	// not be empty. It returns how many it ended; a session ended already
	// is not counted again.
	End(ctx context.Context, subject, sid, reason string) (int64, error)
	// DeleteOlderThan removes sessions not changed since t.
	DeleteOlderThan(ctx context.Context, t time.Time) error
}
