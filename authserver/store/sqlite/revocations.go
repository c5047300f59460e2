package sqlite

import (
	"context"
	"database/sql"
	"time"

	"oauthdemo/authserver/store"
)

// execer is a transaction, or the writer connection itself.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// recordRevocation records, inside tx, that kind/id was revoked at now. A
// second revocation of the same thing moves the time forward, never back:
// for a client or subject, every token issued up to the later time is
// revoked. Moving it replaces the row, which so gets the next seq: a reader
// following the table by seq reads the later time too.
func recordRevocation(ctx context.Context, tx execer, kind store.RevocationKind, id string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO revocations (kind, id, revoked_at) SELECT ?1, ?2, ?3
		WHERE NOT EXISTS (SELECT 1 FROM revocations WHERE kind = ?1 AND id = ?2 AND revoked_at >= ?3)`,
		string(kind), id, fmtTime(now))
	return err
}

// RevokeAccessToken records that the access token with that jti is revoked.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	return mapErr("sqlite: revoke access token", recordRevocation(ctx, s.write, store.RevokedToken, jti, now))
}

// RevocationsSince returns up to limit revocations numbered after
// afterSeq, by number.
func (s *Store) RevocationsSince(ctx context.Context, afterSeq int64, limit int) ([]store.Revocation, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT seq, kind, id, revoked_at FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
	if err != nil {
		return nil, mapErr("sqlite: revocations since", err)
	}
	return scanRevocations(rows, "sqlite: revocations since")
}

// revocationsOfQuery looks up four keys at once, the four claims an access
// token can be revoked by; the primary key answers each pair.
const revocationsOfQuery = `SELECT seq, kind, id, revoked_at FROM revocations
	WHERE (kind = ? AND id = ?) OR (kind = ? AND id = ?) OR (kind = ? AND id = ?) OR (kind = ? AND id = ?)`

// RevocationsOf returns the revocations of any of keys, four keys a query.
func (s *Store) RevocationsOf(ctx context.Context, keys []store.RevocationKey) ([]store.Revocation, error) {
	var all []store.Revocation
	for len(keys) > 0 {
		// Unused places get an empty kind, which no revocation has.
		args := make([]any, 8)
		for i := range 4 {
			args[2*i], args[2*i+1] = "", ""
			if i < len(keys) {
				args[2*i], args[2*i+1] = string(keys[i].Kind), keys[i].ID
			}
		}
		keys = keys[min(4, len(keys)):]
		rows, err := s.hot.revocationsOf.QueryContext(ctx, args...)
		if err != nil {
			return nil, mapErr("sqlite: revocations of", err)
		}
		found, err := scanRevocations(rows, "sqlite: revocations of")
		if err != nil {
			return nil, err
		}
		all = append(all, found...)
	}
	return all, nil
}

func scanRevocations(rows *sql.Rows, op string) ([]store.Revocation, error) {
	defer rows.Close()
	var list []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var kind string
		if err := rows.Scan(&r.Seq, &kind, &r.ID, timeField{&r.RevokedAt}); err != nil {
			return nil, mapErr(op, err)
		}
		r.Kind = store.RevocationKind(kind)
		list = append(list, r)
	}
	return list, mapErr(op, rows.Err())
}
