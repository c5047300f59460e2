package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// revocationLock is the first half of the advisory lock that orders the
// revocations table's numbers (seq); the second half is 0. This one spells
// "Revo" in ASCII.
//
// A reader that follows the table by seq (revocation.Set) asks for the
// rows numbered after the highest it has read. A sequence hands out its
// numbers when a transaction asks, not when it commits: without more, a
// transaction could take number 7, another take 8 and commit, a reader read
// 8 and move past 7, and 7 commit a moment later, never to be read. So
// every transaction that records a revocation first takes this lock,
// exclusively (lockRevocations), and holds it until it commits: one at a
// time, the numbers are committed in the order they are given.
//
// CreateGrant takes it shared, so that it and RevokeGrant of the same
// grant take turns too (grants.go). To rule out deadlocks, a transaction
// takes it before anything else.
const revocationLock int32 = 0x5265766f

// lockRevocations is the statement that takes the revocation lock for the
// rest of the transaction, exclusively. A batch queues it first.
const lockRevocations = "SELECT pg_advisory_xact_lock($1, 0)"

// laterRevocationWins ends every INSERT into revocations: a second
// revocation of the same thing moves its time forward, never back, so that
// for a client or subject every token issued up to the later time is
// revoked. The row then takes a new number, so that a reader following the
// table by seq reads the later time too.
const laterRevocationWins = `ON CONFLICT (kind, id) DO UPDATE SET revoked_at = excluded.revoked_at, seq = nextval('revocation_seq')
	WHERE excluded.revoked_at > revocations.revoked_at`

// recordRevocation records that kind $1, id $2 was revoked at $3 (nanos).
// It runs after lockRevocations, in the same transaction: DeleteUser and
// DeleteClient run it in the transaction that deletes.
const recordRevocation = "INSERT INTO revocations (kind, id, revoked_at) VALUES ($1, $2, $3) " + laterRevocationWins

// RevokeAccessToken records that the access token with that jti is revoked.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(lockRevocations, revocationLock)
	b.Queue(recordRevocation, string(store.RevokedToken), jti, nanos(now))
	return mapErr("postgres: revoke access token", s.execBatch(ctx, b))
}

// RevocationsSince returns up to limit revocations numbered after
// afterSeq, by number.
func (s *Store) RevocationsSince(ctx context.Context, afterSeq int64, limit int) ([]store.Revocation, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT seq, kind, id, revoked_at FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2", afterSeq, limit)
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
	rows, err := s.pool.Query(ctx, `SELECT seq, kind, id, revoked_at FROM revocations
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
	err := row.Scan(&r.Seq, &kind, &r.ID, timeField{&r.RevokedAt})
	r.Kind = store.RevocationKind(kind)
	return r, err
}
