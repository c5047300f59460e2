package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// joinLock is the first half of the advisory lock JoinUser takes, so that
// joins at the same moment on several instances count the class one at a
// time; the second half is 0. This one spells "Join" in ASCII.
const joinLock int32 = 0x4a6f696e

// SetUserAdmin makes the user an admin, or no longer one.
func (s *Store) SetUserAdmin(ctx context.Context, id string, admin bool) error {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET admin = $1 WHERE id = $2", admin, id)
	return mustAffect("postgres: set user admin", tag, err)
}

// SetUserDisabled disables the user, ending everything they hold, or
// enables them again, in one transaction that takes the revocation lock
// first (revocations.go): their sessions end as EndSession ends one, and
// then their other grants are revoked too.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if !disabled {
			tag, err := tx.Exec(ctx, "UPDATE users SET disabled_at = NULL WHERE id = $1", id)
			return mustAffect("postgres: set user disabled", tag, err)
		}
		if _, err := tx.Exec(ctx, lockRevocations, revocationLock); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE users SET disabled_at = $1 WHERE id = $2", nanos(now), id)
		if err := mustAffect("postgres: set user disabled", tag, err); err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueEndSessions(b, "user_id = $1", id, store.ReasonUserDisabled, now)
		// What outlives a session: codes of none, and grants with
		// offline_access.
		b.Queue("DELETE FROM auth_codes WHERE user_id = $1 AND consumed_at IS NULL", id)
		b.Queue(`WITH revoked AS (
				UPDATE grants SET revoked_at = $1, revoke_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL RETURNING id
			)
			INSERT INTO revocations (kind, id, revoked_at) SELECT $4, id, $1 FROM revoked `+laterRevocationWins,
			nanos(now), store.ReasonUserDisabled, id, string(store.RevokedGrant))
		// The access tokens are signed JWTs that no row holds: every one
		// issued up to now is refused by this subject's revocation.
		b.Queue(recordRevocation, string(store.RevokedSubject), id, nanos(now))
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("postgres: set user disabled", err)
}

// JoinUser checks the code and the class's size and creates the user in one
// transaction, under the join lock: READ COMMITTED alone would let two
// joins count the same class and both get in.
func (s *Store) JoinUser(ctx context.Context, u store.User, codeHash []byte, maxJoined int) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", joinLock); err != nil {
			return err
		}
		var open []byte
		err := tx.QueryRow(ctx, "SELECT code_hash FROM join_code WHERE id = 1").Scan(&open)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (len(open) == 0 || !bytes.Equal(open, codeHash))) {
			// Both are hashes of 256 bits: comparing them in constant
			// time would protect nothing.
			return fmt.Errorf("postgres: join: wrong or closed code: %w", store.ErrNotFound)
		} else if err != nil {
			return err
		}
		var joined int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM users WHERE joined_at IS NOT NULL").Scan(&joined); err != nil {
			return err
		}
		if joined >= maxJoined {
			return fmt.Errorf("postgres: join: %d joined already: %w", joined, store.ErrQuotaExceeded)
		}
		_, err = tx.Exec(ctx, insertUser, userValues(u)...)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrQuotaExceeded) {
		return err
	}
	return mapErr("postgres: join", err)
}

// JoinCode returns the join code.
func (s *Store) JoinCode(ctx context.Context) (store.JoinCode, error) {
	var c store.JoinCode
	err := s.pool.QueryRow(ctx, "SELECT code_hash, configured_hash, set_at FROM join_code WHERE id = 1").
		Scan(&c.Hash, &c.Configured, timeField{&c.SetAt})
	return c, mapErr("postgres: join code", err)
}

// SetJoinCode replaces the join code.
func (s *Store) SetJoinCode(ctx context.Context, c store.JoinCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO join_code (id, code_hash, configured_hash, set_at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET code_hash = excluded.code_hash, configured_hash = excluded.configured_hash, set_at = excluded.set_at`,
		nilIfEmpty(c.Hash), nilIfEmpty(c.Configured), nanos(c.SetAt))
	return mapErr("postgres: set join code", err)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// queueClassProgress queues, in AddActivity's batch, what entries add to
// the class view: each milestone moves its user's row, each refusal its
// minute's count. store.SumClass gives them sorted, so every instance's
// batch locks the rows in the same order, and two cannot deadlock.
func queueClassProgress(b *pgx.Batch, entries []store.Activity) {
	progress, refusals := store.SumClass(entries)
	for _, d := range progress {
		b.Queue(`INSERT INTO class_progress (user_id, milestone, first_at, last_at, count, refusal)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (user_id, milestone) DO UPDATE SET first_at = LEAST(class_progress.first_at, $3),
				last_at = GREATEST(class_progress.last_at, $4), count = class_progress.count + $5,
				refusal = CASE WHEN $4 >= class_progress.last_at THEN $6 ELSE class_progress.refusal END`,
			d.UserID, string(d.Milestone), nanos(d.Step.First), nanos(d.Step.Last), d.Step.Count, d.Step.Refusal)
	}
	for _, d := range refusals {
		b.Queue(`INSERT INTO class_refusals (minute, refusal, count) VALUES ($1, $2, $3)
			ON CONFLICT (minute, refusal) DO UPDATE SET count = class_refusals.count + $3`, d.Minute, d.Refusal, d.Count)
	}
}

// ClassProgress reads the attendees with their milestones, and the
// refusals of the last minutes: two indexed queries over small tables.
func (s *Store) ClassProgress(ctx context.Context, maxAttendees int, refusalsSince time.Time, maxRefusals int) (store.Class, error) {
	var class store.Class
	rows, err := s.pool.Query(ctx, `SELECT u.`+strings.ReplaceAll(userColumns, ", ", ", u.")+`, p.milestone, p.first_at, p.last_at, p.count, p.refusal
		FROM (SELECT * FROM users WHERE joined_at IS NOT NULL ORDER BY joined_at, id LIMIT $1) u
		LEFT JOIN class_progress p ON p.user_id = u.id
		ORDER BY u.joined_at, u.id`, maxAttendees)
	if err != nil {
		return class, mapErr("postgres: class progress", err)
	}
	var u store.User
	var milestone, refusal *string
	var count *int
	var step store.Step
	_, err = pgx.ForEachRow(rows, []any{&u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, timeField{&u.CreatedAt},
		&u.Admin, timeField{&u.JoinedAt}, timeField{&u.DisabledAt}, &milestone, timeField{&step.First}, timeField{&step.Last}, &count, &refusal}, func() error {
		if n := len(class.Attendees); n == 0 || class.Attendees[n-1].User.ID != u.ID {
			class.Attendees = append(class.Attendees, store.Attendee{User: u, Steps: map[store.Milestone]store.Step{}})
		}
		if milestone != nil {
			step.Count, step.Refusal = *count, *refusal
			class.Attendees[len(class.Attendees)-1].Steps[store.Milestone(*milestone)] = step
		}
		return nil
	})
	if err != nil {
		return class, mapErr("postgres: class progress", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT refusal, sum(count) FROM class_refusals WHERE minute >= $1
		GROUP BY refusal ORDER BY sum(count) DESC, refusal LIMIT $2`, refusalsSince.Unix()/60, maxRefusals)
	if err != nil {
		return class, mapErr("postgres: class refusals", err)
	}
	class.Refusals, err = collect(rows, func(row pgx.Row) (store.RefusalCount, error) {
		var r store.RefusalCount
		err := row.Scan(&r.Refusal, &r.Count)
		return r, err
	})
	return class, mapErr("postgres: class refusals", err)
}
