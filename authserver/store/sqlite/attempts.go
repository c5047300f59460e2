package sqlite

import (
	"context"
	"database/sql"
	"time"

	"oauthdemo/authserver/store"
)

// ReserveAttempt counts an attempt for key if it is under max. The write
// connection is one, and its transactions begin IMMEDIATE: the count and
// the insert take their turn with every other write.
func (s *Store) ReserveAttempt(ctx context.Context, key string, max int, window time.Duration, now time.Time) (int64, time.Duration, error) {
	var id int64
	var wait time.Duration
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The newest max live attempts, newest first: if there are max of
		// them, the last is the one whose expiry lets the next in.
		rows, err := tx.QueryContext(ctx, "SELECT expires_at FROM attempts WHERE key = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT ?",
			key, fmtTime(now), max)
		if err != nil {
			return err
		}
		var live []time.Time
		for rows.Next() {
			var t time.Time
			if err := rows.Scan(timeField{&t}); err != nil {
				rows.Close()
				return err
			}
			live = append(live, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(live) >= max {
			wait = live[max-1].Sub(now)
			return nil
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO attempts (key, expires_at) VALUES (?, ?)", key, fmtTime(now.Add(window)))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, wait, mapErr("sqlite: reserve attempt", err)
}

// ReleaseAttempt deletes the attempt.
func (s *Store) ReleaseAttempt(ctx context.Context, key string, id int64) error {
	_, err := s.write.ExecContext(ctx, "DELETE FROM attempts WHERE id = ? AND key = ?", id, key)
	return mapErr("sqlite: release attempt", err)
}

// ResetAttempts deletes every attempt of key.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	_, err := s.write.ExecContext(ctx, "DELETE FROM attempts WHERE key = ?", key)
	return mapErr("sqlite: reset attempts", err)
}

// deleteExpiredAttempts sweeps, inside tx, the attempts that expired before
// now, then the oldest beyond store.MaxAttempts.
func deleteExpiredAttempts(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM attempts WHERE expires_at <= ?", fmtTime(now)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM attempts WHERE id <= (SELECT id FROM attempts ORDER BY id DESC LIMIT 1 OFFSET ?)", store.MaxAttempts)
	return err
}
