package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"oauthdemo/authserver/store"
)

// SetUserAdmin makes the user an admin, or no longer one.
func (s *Store) SetUserAdmin(ctx context.Context, id string, admin bool) error {
	res, err := s.write.ExecContext(ctx, "UPDATE users SET admin = ? WHERE id = ?", admin, id)
	return mustAffect("sqlite: set user admin", res, err)
}

// SetUserDisabled disables the user, ending everything they hold, or
// enables them again, in one transaction: their sessions end as EndSession
// ends one, and then their other grants are revoked too.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		at := ""
		if disabled {
			at = fmtTime(now)
		}
		res, err := tx.ExecContext(ctx, "UPDATE users SET disabled_at = ? WHERE id = ?", at, id)
		if err := mustAffect("sqlite: set user disabled", res, err); err != nil || !disabled {
			return err
		}
		if _, err := endSessions(ctx, tx, "user_id = ?", id, store.ReasonUserDisabled, now); err != nil {
			return err
		}
		// What outlives a session: codes of none, and grants with
		// offline_access.
		if _, err := tx.ExecContext(ctx, "DELETE FROM auth_codes WHERE user_id = ? AND consumed_at = ''", id); err != nil {
			return err
		}
		if err := revokeUserGrants(ctx, tx, id, store.ReasonUserDisabled, now); err != nil {
			return err
		}
		// The access tokens are signed JWTs that no row holds: every one
		// issued up to now is refused by this subject's revocation.
		return recordRevocation(ctx, tx, store.RevokedSubject, id, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("sqlite: set user disabled", err)
}

// revokeUserGrants revokes, inside tx, every grant of the user not yet
// revoked, and records a revocation for each.
func revokeUserGrants(ctx context.Context, tx *sql.Tx, userID, reason string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM grants WHERE user_id = ? AND revoked_at = ''", userID)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, g := range ids {
		if _, err := tx.ExecContext(ctx, "UPDATE grants SET revoked_at = ?, revoke_reason = ? WHERE id = ?", fmtTime(now), reason, g); err != nil {
			return err
		}
		if err := recordRevocation(ctx, tx, store.RevokedGrant, g, now); err != nil {
			return err
		}
	}
	return nil
}

// JoinUser checks the code and the class's size and creates the user in one
// write transaction: SQLite runs one at a time.
func (s *Store) JoinUser(ctx context.Context, u store.User, codeHash []byte, maxJoined int) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var open []byte
		err := tx.QueryRowContext(ctx, "SELECT code_hash FROM join_code WHERE id = 1").Scan(&open)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (len(open) == 0 || !bytes.Equal(open, codeHash))) {
			// Both are hashes of 256 bits: comparing them in constant
			// time would protect nothing.
			return fmt.Errorf("sqlite: join: wrong or closed code: %w", store.ErrNotFound)
		} else if err != nil {
			return err
		}
		var joined int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE joined_at != ''").Scan(&joined); err != nil {
			return err
		}
		if joined >= maxJoined {
			return fmt.Errorf("sqlite: join: %d joined already: %w", joined, store.ErrQuotaExceeded)
		}
		_, err = tx.ExecContext(ctx, insertUser, userValues(u)...)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrQuotaExceeded) {
		return err
	}
	return mapErr("sqlite: join", err)
}

// JoinCode returns the join code.
func (s *Store) JoinCode(ctx context.Context) (store.JoinCode, error) {
	var c store.JoinCode
	err := s.read.QueryRowContext(ctx, "SELECT code_hash, configured_hash, set_at FROM join_code WHERE id = 1").
		Scan(&c.Hash, &c.Configured, timeField{&c.SetAt})
	return c, mapErr("sqlite: join code", err)
}

// SetJoinCode replaces the join code.
func (s *Store) SetJoinCode(ctx context.Context, c store.JoinCode) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO join_code (id, code_hash, configured_hash, set_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET code_hash = excluded.code_hash, configured_hash = excluded.configured_hash, set_at = excluded.set_at`,
		nilIfEmpty(c.Hash), nilIfEmpty(c.Configured), fmtTime(c.SetAt))
	return mapErr("sqlite: set join code", err)
}

// prefixed qualifies each of a list of columns with a table's alias.
func prefixed(alias, columns string) string {
	return alias + strings.ReplaceAll(columns, ", ", ", "+alias)
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// addClassProgress sums entries up for the class view, inside AddActivity's
// transaction: each milestone moves its user's row, each refusal its
// minute's count.
func addClassProgress(ctx context.Context, tx *sql.Tx, entries []store.Activity) error {
	progress, refusals := store.SumClass(entries)
	for _, d := range progress {
		if _, err := tx.ExecContext(ctx, `INSERT INTO class_progress (user_id, milestone, first_at, last_at, count, refusal)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6)
			ON CONFLICT (user_id, milestone) DO UPDATE SET first_at = min(first_at, ?3), last_at = max(last_at, ?4),
				count = count + ?5, refusal = CASE WHEN ?4 >= last_at THEN ?6 ELSE refusal END`,
			d.UserID, string(d.Milestone), fmtTime(d.Step.First), fmtTime(d.Step.Last), d.Step.Count, d.Step.Refusal); err != nil {
			return err
		}
	}
	for _, d := range refusals {
		if _, err := tx.ExecContext(ctx, `INSERT INTO class_refusals (minute, refusal, count) VALUES (?1, ?2, ?3)
			ON CONFLICT (minute, refusal) DO UPDATE SET count = count + ?3`, d.Minute, d.Refusal, d.Count); err != nil {
			return err
		}
	}
	return nil
}

// ClassProgress reads the attendees with their milestones, and the
// refusals of the last minutes: two indexed queries over small tables.
func (s *Store) ClassProgress(ctx context.Context, maxAttendees int, refusalsSince time.Time, maxRefusals int) (store.Class, error) {
	var class store.Class
	rows, err := s.read.QueryContext(ctx, `SELECT `+prefixed("u.", userColumns)+`, p.milestone, p.first_at, p.last_at, p.count, p.refusal
		FROM (SELECT * FROM users WHERE joined_at != '' ORDER BY joined_at, id LIMIT ?) u
		LEFT JOIN class_progress p ON p.user_id = u.id
		ORDER BY u.joined_at, u.id`, maxAttendees)
	if err != nil {
		return class, mapErr("sqlite: class progress", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u store.User
		var milestone, refusal sql.NullString
		var count sql.NullInt64
		var step store.Step
		var first, last sql.NullString
		if err := rows.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, timeField{&u.CreatedAt},
			&u.Admin, timeField{&u.JoinedAt}, timeField{&u.DisabledAt}, &milestone, &first, &last, &count, &refusal); err != nil {
			return class, mapErr("sqlite: class progress", err)
		}
		if n := len(class.Attendees); n == 0 || class.Attendees[n-1].User.ID != u.ID {
			class.Attendees = append(class.Attendees, store.Attendee{User: u, Steps: map[store.Milestone]store.Step{}})
		}
		if !milestone.Valid {
			continue
		}
		if step.First, err = parseTime(first.String); err != nil {
			return class, err
		}
		if step.Last, err = parseTime(last.String); err != nil {
			return class, err
		}
		step.Count, step.Refusal = int(count.Int64), refusal.String
		class.Attendees[len(class.Attendees)-1].Steps[store.Milestone(milestone.String)] = step
	}
	if err := rows.Err(); err != nil {
		return class, mapErr("sqlite: class progress", err)
	}
	rows.Close()

	rows, err = s.read.QueryContext(ctx, `SELECT refusal, sum(count) FROM class_refusals WHERE minute >= ?
		GROUP BY refusal ORDER BY sum(count) DESC, refusal LIMIT ?`, refusalsSince.Unix()/60, maxRefusals)
	if err != nil {
		return class, mapErr("sqlite: class refusals", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.RefusalCount
		if err := rows.Scan(&r.Refusal, &r.Count); err != nil {
			return class, mapErr("sqlite: class refusals", err)
		}
		class.Refusals = append(class.Refusals, r)
	}
	return class, mapErr("sqlite: class refusals", rows.Err())
}
