package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// attemptsLock is the first half of the advisory lock that a reservation
// takes for its key; the second half is a hash of the key. This one spells
// "Atmp" in ASCII.
//
// Under READ COMMITTED two reservations of one key, on two instances, could
// both count the same attempts and both insert one more: a burst would
// overshoot the limit. Holding the key's lock while counting and inserting
// makes them take turns; the second counts after the first committed.
// Keys whose hashes collide only take turns needlessly.
const attemptsLock int32 = 0x41746d70

// reserveAttempt counts key's live attempts ($1 key, $2 now) and, if there
// are fewer than $3, inserts one that expires at $4. It returns the new id
// (NULL when over the limit) and, when over, the expiry that lets the next
// attempt in: that of the $3-th newest live attempt.
const reserveAttempt = `WITH live AS (
		SELECT expires_at FROM attempts WHERE key = $1 AND expires_at > $2
	), added AS (
		INSERT INTO attempts (key, expires_at) SELECT $1, $4 WHERE (SELECT count(*) FROM live) < $3
		RETURNING id
	)
	SELECT (SELECT id FROM added), (SELECT expires_at FROM live ORDER BY expires_at DESC OFFSET $3 - 1 LIMIT 1)`

// ReserveAttempt counts an attempt for key if it is under max, in one
// round trip: a batch that takes the key's lock, then counts and inserts.
// The batch is one implicit transaction, so the lock is held until the
// insert is committed.
func (s *Store) ReserveAttempt(ctx context.Context, key string, max int, window time.Duration, now time.Time) (int64, time.Duration, error) {
	if max < 1 {
		return 0, 0, errors.New("postgres: reserve attempt: max must be positive")
	}
	key = attemptKey(key)
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1, hashtext($2))", attemptsLock, key)
	var id, until *int64
	b.Queue(reserveAttempt, key, nanos(now), max, nanos(now.Add(window))).QueryRow(func(row pgx.Row) error {
		return row.Scan(&id, &until)
	})
	if err := s.execBatch(ctx, b); err != nil {
		return 0, 0, mapErr("postgres: reserve attempt", err)
	}
	switch {
	case id != nil:
		return *id, 0, nil
	case until != nil:
		return 0, time.Unix(0, *until).Sub(now), nil
	}
	return 0, 0, fmt.Errorf("postgres: reserve attempt: neither counted nor refused")
}

// ReleaseAttempt deletes the attempt.
func (s *Store) ReleaseAttempt(ctx context.Context, key string, id int64) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM attempts WHERE id = $1 AND key = $2", id, attemptKey(key))
	return mapErr("postgres: release attempt", err)
}

// ResetAttempts deletes every attempt of key.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM attempts WHERE key = $1", attemptKey(key))
	return mapErr("postgres: reset attempts", err)
}

// attemptKey is how key is kept in the text column: as it is when it is
// store.Text, else with each NUL and each byte that is not UTF-8 written as
// U+FFFD. Keys carry outside strings (the username typed at /login), and
// an attempt must count whatever was typed. Keys that share a count this
// way differ only where their sender typed what no text can hold.
func attemptKey(key string) string {
	if store.Text(key) {
		return key
	}
	return strings.ReplaceAll(strings.ToValidUTF8(key, "\uFFFD"), "\x00", "\uFFFD")
}

// queueDeleteExpiredAttempts queues the sweep of the attempts that expired
// before now ($1), then of the oldest beyond store.MaxAttempts.
func queueDeleteExpiredAttempts(b *pgx.Batch, now time.Time) {
	b.Queue("DELETE FROM attempts WHERE expires_at <= $1", nanos(now))
	b.Queue("DELETE FROM attempts WHERE id <= (SELECT id FROM attempts ORDER BY id DESC OFFSET $1 LIMIT 1)", store.MaxAttempts)
}
