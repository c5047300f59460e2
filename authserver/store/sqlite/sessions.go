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
		"INSERT INTO sessions (id, token_hash, user_id, auth_time, expires_at) VALUES (?, ?, ?, ?, ?)",
		sess.ID, sess.TokenHash, sess.UserID, fmtTime(sess.AuthTime), fmtTime(sess.ExpiresAt))
	return mapErr("sqlite: create session", err)
}

// SessionByTokenHash returns the session whose cookie hashes to tokenHash,
// expired or not.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	var sess store.Session
	err := s.read.QueryRowContext(ctx,
		"SELECT id, token_hash, user_id, auth_time, expires_at FROM sessions WHERE token_hash = ?", tokenHash).Scan(
		&sess.ID, &sess.TokenHash, &sess.UserID, timeField{&sess.AuthTime}, timeField{&sess.ExpiresAt})
	return sess, mapErr("sqlite: session", err)
}

// DeleteSession ends a session; ending an unknown one is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.write.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
	return mapErr("sqlite: delete session", err)
}

// DeleteExpired removes what can no longer be used, in one transaction.
// Grants and refresh tokens are kept: they are the audit trail of a family.
// Expired clients go as DeleteClient deletes one, grants and all.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) error {
	t := fmtTime(now)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := deleteExpiredClients(ctx, tx, now); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM auth_requests WHERE expires_at < ?",
			"DELETE FROM auth_codes WHERE expires_at < ?",
			"DELETE FROM sessions WHERE expires_at < ?",
		} {
			if _, err := tx.ExecContext(ctx, q, t); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM revocations WHERE revoked_at < ?", fmtTime(now.Add(-store.RevocationRetention))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM class_refusals WHERE minute < ?", now.Add(-store.RefusalRetention).Unix()/60); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM activity WHERE at < ?", fmtTime(now.Add(-store.ActivityRetention)))
		return err
	})
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
