package postgres

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// laterRevocationWins ends every INSERT into revocations: a second
// revocation of the same thing moves its time forward, never back, so that
// for a client or subject every token issued up to the later time is
// revoked.
const laterRevocationWins = `ON CONFLICT (kind, id) DO UPDATE SET revoked_at = excluded.revoked_at
	WHERE excluded.revoked_at > revocations.revoked_at`

// recordRevocation records that kind $1, id $2 was revoked at $3 (nanos).
// DeleteUser and DeleteClient run it in the transaction that deletes.
const recordRevocation = "INSERT INTO revocations (kind, id, revoked_at) VALUES ($1, $2, $3) " + laterRevocationWins

// RevokeAccessToken records that the access token with that jti is revoked.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	_, err := s.pool.Exec(ctx, recordRevocation, string(store.RevokedToken), jti, nanos(now))
	return mapErr("postgres: revoke access token", err)
}

// RevocationsSince returns up to limit revocations recorded at or after t,
// oldest first.
func (s *Store) RevocationsSince(ctx context.Context, t time.Time, limit int) ([]store.Revocation, error) {
	from := nanos(t)
	if from == nil {
		from = int64(math.MinInt64) // the zero time: from the beginning
	}
	rows, err := s.pool.Query(ctx,
		"SELECT kind, id, revoked_at FROM revocations WHERE revoked_at >= $1 ORDER BY revoked_at, kind, id LIMIT $2",
		from, limit)
	if err != nil {
		return nil, mapErr("postgres: revocations since", err)
	}
	list, err := collect(rows, scanRevocation)
	return list, mapErr("postgres: revocations since", err)
}

// RevocationsOf returns the revocations of any of keys, in one query
// whatever their number: the keys travel as two arrays, kinds and ids,
// which unnest pairs up again, and the primary key answers each pair.
func (s *Store) RevocationsOf(ctx context.Context, keys []store.RevocationKey) ([]store.Revocation, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	kinds, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		kinds[i], ids[i] = string(k.Kind), k.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, id, revoked_at FROM revocations
		WHERE (kind, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, kinds, ids)
	if err != nil {
		return nil, mapErr("postgres: revocations of", err)
	}
	list, err := collect(rows, scanRevocation)
	return list, mapErr("postgres: revocations of", err)
}

func scanRevocation(row pgx.Row) (store.Revocation, error) {
	var r store.Revocation
	var kind string
	err := row.Scan(&kind, &r.ID, timeField{&r.RevokedAt})
	r.Kind = store.RevocationKind(kind)
	return r, err
}
