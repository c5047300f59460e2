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
		"INSERT INTO sessions (id, token_hash, user_id, auth_time, amr, idp, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		sess.ID, sess.TokenHash, sess.UserID, nanos(sess.AuthTime), sess.AMR, sess.IDP, nanos(sess.ExpiresAt))
	return mapErr("postgres: create session", err)
}

// SessionByTokenHash returns the session whose cookie hashes to tokenHash,
// expired or not.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	var sess store.Session
	err := s.pool.QueryRow(ctx,
		"SELECT id, token_hash, user_id, auth_time, amr, idp, expires_at FROM sessions WHERE token_hash = $1", tokenHash).Scan(
		&sess.ID, &sess.TokenHash, &sess.UserID, timeField{&sess.AuthTime}, &sess.AMR, &sess.IDP, timeField{&sess.ExpiresAt})
	return sess, mapErr("postgres: session", err)
}

// EndSession deletes the session and its unredeemed codes, and revokes
// the grants made in it without offline_access, in one batch (one implicit
// transaction) that takes the revocation lock first (revocations.go).
func (s *Store) EndSession(ctx context.Context, id, reason string, now time.Time) ([]store.Grant, error) {
	b := &pgx.Batch{}
	b.Queue(lockRevocations, revocationLock)
	revoked := queueEndSessions(b, "id = $1", id, reason, now)
	err := s.execBatch(ctx, b)
	return *revoked, mapErr("postgres: end session", err)
}

// sessionBound is the condition on a grant that ends with its session: it
// has no offline_access among its space-separated scopes.
const sessionBound = "NOT ('offline_access' = ANY (string_to_array(scope, ' ')))"

// queueEndSessions queues the statements that end the sessions matching
// where (a condition on the sessions table with one argument, $1): their
// session-bound grants are revoked, with a revocation recorded for each in
// the same statement, their codes not yet redeemed deleted, and the
// sessions themselves. The grants it revoked are in the result once the
// batch has run. The batch must hold the revocation lock already.
func queueEndSessions(b *pgx.Batch, where string, arg any, reason string, now time.Time) *[]store.Grant {
	revoked := new([]store.Grant)
	ended := "SELECT id FROM sessions WHERE " + where
	b.Queue(`WITH revoked AS (
			UPDATE grants SET revoked_at = $2, revoke_reason = $3
			WHERE session_id IN (`+ended+`) AND revoked_at IS NULL AND `+sessionBound+`
			RETURNING `+grantColumns+`
		), recorded AS (
			INSERT INTO revocations (kind, id, revoked_at) SELECT $4, id, $2 FROM revoked `+laterRevocationWins+`
		)
		SELECT `+grantColumns+` FROM revoked ORDER BY created_at, id`,
		arg, nanos(now), reason, string(store.RevokedGrant)).Query(func(rows pgx.Rows) error {
		var err error
		*revoked, err = collect(rows, scanGrant)
		return err
	})
	b.Queue("DELETE FROM auth_codes WHERE session_id IN ("+ended+") AND consumed_at IS NULL", arg)
	b.Queue("DELETE FROM sessions WHERE "+where, arg)
	return revoked
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
	b.Queue("DELETE FROM upstream_logins WHERE expires_at < $1", t)
	queueEndSessions(b, "expires_at < $1", t, store.ReasonSessionExpired, now)
	b.Queue("DELETE FROM device_authorizations WHERE expires_at < $1", nanos(now.Add(-store.DeviceAuthorizationRetention)))
	b.Queue("DELETE FROM revocations WHERE revoked_at < $1", nanos(now.Add(-store.RevocationRetention)))
	b.Queue("DELETE FROM activity WHERE at < $1", nanos(now.Add(-store.ActivityRetention)))
	b.Queue("DELETE FROM class_refusals WHERE minute < $1", now.Add(-store.RefusalRetention).Unix()/60)
	queueDeleteExpiredAttempts(b, now)
	// Last: its trigger holds the proofs' shard counts (dpop.go) until the
	// batch ends.
	b.Queue("DELETE FROM dpop_proofs WHERE expires_at < $1", t)
	return mapErr("postgres: delete expired", s.execBatch(ctx, b))
}
