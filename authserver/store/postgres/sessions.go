package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// CreateSession stores a login session.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO sessions (id, token_hash, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)",
		sess.ID, sess.TokenHash, sess.UserID, nanos(sess.AuthTime), nanos(sess.ExpiresAt))
	return mapErr("postgres: create session", err)
}

// SessionByTokenHash returns the session whose cookie hashes to tokenHash,
// expired or not.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	var sess store.Session
	err := s.pool.QueryRow(ctx,
		"SELECT id, token_hash, user_id, auth_time, expires_at FROM sessions WHERE token_hash = $1", tokenHash).Scan(
		&sess.ID, &sess.TokenHash, &sess.UserID, timeField{&sess.AuthTime}, timeField{&sess.ExpiresAt})
	return sess, mapErr("postgres: session", err)
}

// DeleteSession ends a session; ending an unknown one is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id)
	return mapErr("postgres: delete session", err)
}

// DeleteExpired removes what can no longer be used, in one batch (one
// implicit transaction). Grants and refresh tokens are kept: they are the
// audit trail of a family. Expired clients go as DeleteClient deletes one,
// grants and all, their revocations recorded under the revocation lock
// (revocations.go), which the batch takes first.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) error {
	t := nanos(now)
	b := &pgx.Batch{}
	b.Queue(lockRevocations, revocationLock)
	b.Queue(`WITH expired AS (
			DELETE FROM clients WHERE expires_at < $1 RETURNING id
		), gone_photos AS (
			DELETE FROM photos WHERE owner IN (SELECT id FROM expired) AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = photos.owner)
		)
		INSERT INTO revocations (kind, id, revoked_at) SELECT $2, id, $1 FROM expired `+laterRevocationWins,
		t, string(store.RevokedClient))
	b.Queue("DELETE FROM auth_requests WHERE expires_at < $1", t)
	b.Queue("DELETE FROM auth_codes WHERE expires_at < $1", t)
	b.Queue("DELETE FROM sessions WHERE expires_at < $1", t)
	b.Queue("DELETE FROM revocations WHERE revoked_at < $1", nanos(now.Add(-store.RevocationRetention)))
	b.Queue("DELETE FROM activity WHERE at < $1", nanos(now.Add(-store.ActivityRetention)))
	b.Queue("DELETE FROM class_refusals WHERE minute < $1", now.Add(-store.RefusalRetention).Unix()/60)
	return mapErr("postgres: delete expired", s.execBatch(ctx, b))
}
