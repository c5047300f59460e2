// Package tokenstore keeps what PhotoEditorApp knows about each signed-in
// browser session, on the server: the tokens ImageHost issued and who the
// user is. The browser holds only a random session id inside an encrypted
// cookie, so no token ever reaches it, and the cookie stays small whatever
// the tokens' size.
//
// Keeping sessions here also lets ImageHost end one from outside (OIDC
// Back-Channel Logout): the row is marked ended, and the next request with
// that cookie finds a dead session.
package tokenstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// ErrNotFound: no such session.
var ErrNotFound = errors.New("tokenstore: not found")

// Session is one browser's connection to ImageHost.
type Session struct {
	ID           string // the random value in the cookie
	Subject      string // the user's "sub" at ImageHost
	Name         string
	SID          string // ImageHost's session id, from the ID token's "sid"
	AccessToken  string
	RefreshToken string
	IDToken      string
	Expiry       time.Time // of the access token
	Refreshes    int       // how many times the tokens were refreshed
	EndedReason  string    // set when the session was ended from outside
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Store is a SQLite database of sessions.
type Store struct{ db *sql.DB }

const schema = `CREATE TABLE IF NOT EXISTS sessions (
	id            TEXT PRIMARY KEY,
	subject       TEXT NOT NULL,
	name          TEXT NOT NULL,
	sid           TEXT NOT NULL,
	access_token  TEXT NOT NULL,
	refresh_token TEXT NOT NULL,
	id_token      TEXT NOT NULL,
	expiry        INTEGER NOT NULL,
	refreshes     INTEGER NOT NULL,
	ended_reason  TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_sid ON sessions(sid);
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions(subject);`

// Open opens or creates the database file.
func Open(ctx context.Context, file string) (*Store, error) {
	// The database holds every connected user's tokens: it is created
	// readable by its owner only, whatever the umask. SQLite gives its
	// journal files the database's permissions.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: create %s: %w", file, err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("tokenstore: open: %w", err)
	}
	db.SetMaxOpenConns(1) // one writer; these rows are small and few
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("tokenstore: schema: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// PoolStats returns the figures of the connection pool, for the app's
// metrics.
func (s *Store) PoolStats() map[string]sql.DBStats {
	return map[string]sql.DBStats{"sqlite": s.db.Stats()}
}

// Save creates or replaces a session.
func (s *Store) Save(ctx context.Context, sess Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, subject, name, sid, access_token, refresh_token, id_token,
			expiry, refreshes, ended_reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, name = excluded.name, sid = excluded.sid,
			access_token = excluded.access_token, refresh_token = excluded.refresh_token, id_token = excluded.id_token,
			expiry = excluded.expiry, refreshes = excluded.refreshes, ended_reason = excluded.ended_reason,
			updated_at = excluded.updated_at`,
		sess.ID, sess.Subject, sess.Name, sess.SID, sess.AccessToken, sess.RefreshToken, sess.IDToken,
		sess.Expiry.UnixMilli(), sess.Refreshes, sess.EndedReason, sess.CreatedAt.UnixMilli(), sess.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("tokenstore: save: %w", err)
	}
	return nil
}

// Get returns a session.
func (s *Store) Get(ctx context.Context, id string) (Session, error) {
	var sess Session
	var expiry, created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, subject, name, sid, access_token, refresh_token, id_token, expiry,
		refreshes, ended_reason, created_at, updated_at FROM sessions WHERE id = ?`, id).Scan(
		&sess.ID, &sess.Subject, &sess.Name, &sess.SID, &sess.AccessToken, &sess.RefreshToken, &sess.IDToken,
		&expiry, &sess.Refreshes, &sess.EndedReason, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, ErrNotFound
	} else if err != nil {
		return sess, fmt.Errorf("tokenstore: get: %w", err)
	}
	sess.Expiry, sess.CreatedAt, sess.UpdatedAt = time.UnixMilli(expiry), time.UnixMilli(created), time.UnixMilli(updated)
	return sess, nil
}

// Delete forgets a session.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("tokenstore: delete: %w", err)
	}
	return nil
}

// End marks sessions dead and drops their tokens: the one with ImageHost
// session id sid, or, when sid is empty, every session of subject. It
// returns how many it ended.
func (s *Store) End(ctx context.Context, subject, sid, reason string) (int64, error) {
	q := "UPDATE sessions SET access_token = '', refresh_token = '', id_token = '', ended_reason = ? WHERE ended_reason = '' AND "
	args := []any{reason}
	switch {
	case sid != "":
		q += "sid = ?"
		args = append(args, sid)
		if subject != "" {
			q += " AND subject = ?"
			args = append(args, subject)
		}
	case subject != "":
		q += "subject = ?"
		args = append(args, subject)
	default:
		return 0, errors.New("tokenstore: end needs a subject or a sid")
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("tokenstore: end: %w", err)
	}
	return res.RowsAffected()
}

// DeleteOlderThan removes sessions not used since t.
func (s *Store) DeleteOlderThan(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE updated_at < ?", t.UnixMilli())
	if err != nil {
		return fmt.Errorf("tokenstore: delete old: %w", err)
	}
	return nil
}
