package sqlite

import (
	"context"
	"database/sql"
	"time"

	"oauthdemo/authserver/store"
)

// CreateSession stores a login session.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO sessions (id, token_hash, user_id, auth_time, amr, idp, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		sess.ID, sess.TokenHash, sess.UserID, fmtTime(sess.AuthTime), sess.AMR, sess.IDP, fmtTime(sess.ExpiresAt))
	return mapErr("sqlite: create session", err)
}

// SessionByTokenHash returns the session whose cookie hashes to tokenHash,
// expired or not.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	var sess store.Session
	err := s.read.QueryRowContext(ctx,
		"SELECT id, token_hash, user_id, auth_time, amr, idp, expires_at FROM sessions WHERE token_hash = ?", tokenHash).Scan(
		&sess.ID, &sess.TokenHash, &sess.UserID, timeField{&sess.AuthTime}, &sess.AMR, &sess.IDP, timeField{&sess.ExpiresAt})
	return sess, mapErr("sqlite: session", err)
}

// EndSession deletes the session and its unredeemed codes, and revokes
// the grants made in it without offline_access, in one transaction.
func (s *Store) EndSession(ctx context.Context, id, reason string, now time.Time) ([]store.Grant, error) {
	var revoked []store.Grant
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		revoked, err = endSessions(ctx, tx, "id = ?", id, reason, now)
		return err
	})
	return revoked, mapErr("sqlite: end session", err)
}

// sessionBound is the condition on a grant that ends with its session: it
// has no offline_access among its space-separated scopes.
const sessionBound = "(' ' || scope || ' ') NOT LIKE '% offline_access %'"

// endSessions ends the sessions that match where (a condition on the
// sessions table with one argument): their session-bound grants are
// revoked, with a revocation recorded for each, their codes not yet
// redeemed deleted, and the sessions themselves. It returns the grants.
func endSessions(ctx context.Context, tx *sql.Tx, where string, arg any, reason string, now time.Time) ([]store.Grant, error) {
	ended := "SELECT id FROM sessions WHERE " + where
	rows, err := tx.QueryContext(ctx, "SELECT "+grantColumns+" FROM grants WHERE session_id IN ("+ended+
		") AND revoked_at = '' AND "+sessionBound, arg)
	if err != nil {
		return nil, err
	}
	var revoked []store.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		g.RevokedAt, g.RevokeReason = now.UTC(), reason
		revoked = append(revoked, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, g := range revoked {
		if _, err := tx.ExecContext(ctx, "UPDATE grants SET revoked_at = ?, revoke_reason = ? WHERE id = ?",
			fmtTime(now), reason, g.ID); err != nil {
			return nil, err
		}
		if err := recordRevocation(ctx, tx, store.RevokedGrant, g.ID, now); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM auth_codes WHERE session_id IN ("+ended+") AND consumed_at = ''", arg); err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE "+where, arg)
	return revoked, err
}

// DeleteExpired removes what can no longer be used, in one transaction.
// Grants and refresh tokens are kept: they are the audit trail of a family.
// Expired clients go as DeleteClient deletes one, grants and all.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) error {
	t := fmtTime(now)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := endSessions(ctx, tx, "expires_at < ?", t, store.ReasonSessionExpired, now); err != nil {
			return err
		}
		if err := deleteExpiredClients(ctx, tx, now); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM auth_requests WHERE expires_at < ?",
			"DELETE FROM auth_codes WHERE expires_at < ?",
			"DELETE FROM upstream_logins WHERE expires_at < ?",
		} {
			if _, err := tx.ExecContext(ctx, q, t); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM device_authorizations WHERE expires_at < ?", fmtTime(now.Add(-store.DeviceAuthorizationRetention))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM revocations WHERE revoked_at < ?", fmtTime(now.Add(-store.RevocationRetention))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM class_refusals WHERE minute < ?", now.Add(-store.RefusalRetention).Unix()/60); err != nil {
			return err
		}
		if err := deleteExpiredAttempts(ctx, tx, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM activity WHERE at < ?", fmtTime(now.Add(-store.ActivityRetention)))
		return err
	})
	s.proofs.sweep(now) // in memory: no part of the transaction
	return mapErr("sqlite: delete expired", err)
}

// deleteExpiredClients deletes, inside tx, the clients that expired before
// now, each as DeleteClient would.
func deleteExpiredClients(ctx context.Context, tx *sql.Tx, now time.Time) error {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM clients WHERE expires_at != '' AND expires_at < ?", fmtTime(now))
	if err != nil {
		return err
	}
	var expired []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		expired = append(expired, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range expired {
		if _, err := tx.ExecContext(ctx, "DELETE FROM clients WHERE id = ?", id); err != nil {
			return err
		}
		if err := clientDeleted(ctx, tx, id, now); err != nil {
			return err
		}
	}
	return nil
}
