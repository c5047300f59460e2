// Package sqlite implements tokenstore.Store in a SQLite file, for one
// PhotoEditorApp process: the embedded default.
//
// One process owns the file, so the turns that Update promises are taken on
// a lock in memory, not in the database: a refresh's round trip to ImageHost
// never holds SQLite's one writer, which back-channel logout and new logins
// need meanwhile.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"oauthdemo/app/tokenstore"
)

// Store is a SQLite database of sessions.
type Store struct {
	db    *sql.DB
	locks [64]sync.Mutex // Update's turns, striped by session id: bounded memory
}

var _ tokenstore.Store = (*Store)(nil)

// Times are milliseconds since 1970 (UTC).
const schema = `CREATE TABLE IF NOT EXISTS sessions (
	id            TEXT PRIMARY KEY,
	subject       TEXT NOT NULL,
	name          TEXT NOT NULL,
	sid           TEXT NOT NULL,
	access_token  TEXT NOT NULL,
	refresh_token TEXT NOT NULL,
	id_token      TEXT NOT NULL,
	dpop_key      TEXT NOT NULL DEFAULT '',
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
	if err := addDPoPKey(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// addDPoPKey adds the dpop_key column to a file made before sessions had
// DPoP keys.
func addDPoPKey(ctx context.Context, db *sql.DB) error {
	var has bool
	if err := db.QueryRowContext(ctx, "SELECT count(*) > 0 FROM pragma_table_info('sessions') WHERE name = 'dpop_key'").Scan(&has); err != nil {
		return fmt.Errorf("tokenstore: schema: %w", err)
	}
	if has {
		return nil
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE sessions ADD COLUMN dpop_key TEXT NOT NULL DEFAULT ''"); err != nil {
		return fmt.Errorf("tokenstore: schema: add dpop_key: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// PoolStats returns the figures of the connection pool, for the app's
// metrics.
func (s *Store) PoolStats() map[string]sql.DBStats {
	return map[string]sql.DBStats{"sqlite": s.db.Stats()}
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sessions WHERE id = ''").Scan(&n); err != nil {
		return fmt.Errorf("tokenstore: ping: %w", err)
	}
	return nil
}

// Create stores a new session.
func (s *Store) Create(ctx context.Context, sess tokenstore.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, subject, name, sid, access_token, refresh_token, id_token,
			dpop_key, expiry, refreshes, ended_reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.Subject, sess.Name, sess.SID, sess.AccessToken, sess.RefreshToken, sess.IDToken, sess.DPoPKey,
		sess.Expiry.UnixMilli(), sess.Refreshes, sess.EndedReason, sess.CreatedAt.UnixMilli(), sess.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("tokenstore: create: %w", err)
	}
	return nil
}

// Get returns a session.
func (s *Store) Get(ctx context.Context, id string) (tokenstore.Session, error) {
	var sess tokenstore.Session
	var expiry, created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, subject, name, sid, access_token, refresh_token, id_token, dpop_key, expiry,
		refreshes, ended_reason, created_at, updated_at FROM sessions WHERE id = ?`, id).Scan(
		&sess.ID, &sess.Subject, &sess.Name, &sess.SID, &sess.AccessToken, &sess.RefreshToken, &sess.IDToken, &sess.DPoPKey,
		&expiry, &sess.Refreshes, &sess.EndedReason, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, tokenstore.ErrNotFound
	} else if err != nil {
		return sess, fmt.Errorf("tokenstore: get: %w", err)
	}
	sess.Expiry, sess.CreatedAt, sess.UpdatedAt = time.UnixMilli(expiry).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return sess, nil
}

// Update reads the session, calls change and saves what it changed, with
// the other Updates of the session waiting their turn (tokenstore.Store).
func (s *Store) Update(ctx context.Context, id string, change func(*tokenstore.Session) error) error {
	h := fnv.New32a()
	h.Write([]byte(id))
	mu := &s.locks[h.Sum32()%uint32(len(s.locks))]
	mu.Lock()
	defer mu.Unlock()
	sess, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	before := sess
	err = change(&sess)
	if sess == before {
		return err
	}
	// Only a live session's tokens change: a back-channel logout that
	// ended the session while change ran (a refresh at ImageHost) wins. The
	// write outlives ctx (tokenstore.Store).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenstore.WriteTimeout)
	defer cancel()
	res, serr := s.db.ExecContext(ctx, `UPDATE sessions SET access_token = ?, refresh_token = ?, id_token = ?, dpop_key = ?,
			expiry = ?, refreshes = ?, ended_reason = ?, updated_at = ? WHERE id = ? AND ended_reason = ''`,
		sess.AccessToken, sess.RefreshToken, sess.IDToken, sess.DPoPKey, sess.Expiry.UnixMilli(), sess.Refreshes, sess.EndedReason,
		sess.UpdatedAt.UnixMilli(), id)
	if serr != nil {
		return fmt.Errorf("tokenstore: update: %w", serr)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.gone(ctx, id)
	}
	return err
}

// gone says why an Update saved nothing: the session was ended, or deleted.
func (s *Store) gone(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return tokenstore.ErrEnded
}

// Delete forgets a session.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("tokenstore: delete: %w", err)
	}
	return nil
}

// End marks sessions dead and drops their tokens (tokenstore.Store).
func (s *Store) End(ctx context.Context, subject, sid, reason string) (int64, error) {
	if reason == "" {
		return 0, errors.New("tokenstore: end needs a reason")
	}
	q := "UPDATE sessions SET access_token = '', refresh_token = '', id_token = '', dpop_key = '', ended_reason = ? WHERE ended_reason = '' AND "
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

// DeleteOlderThan removes sessions not changed since t.
func (s *Store) DeleteOlderThan(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE updated_at < ?", t.UnixMilli())
	if err != nil {
		return fmt.Errorf("tokenstore: delete old: %w", err)
	}
	return nil
}
