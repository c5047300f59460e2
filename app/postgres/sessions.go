package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/app/tokenstore"
)

// Sessions is a tokenstore.Store in PostgreSQL, shared by every instance
// on the database.
type Sessions struct{ db *DB }

var _ tokenstore.Store = (*Sessions)(nil)

const sessionColumns = `id, subject, name, sid, access_token, refresh_token, id_token, dpop_key, expiry,
	refreshes, ended_reason, created_at, updated_at`

// ms is how a time is stored: milliseconds since 1970.
func ms(t time.Time) int64 { return t.UnixMilli() }

func scanSession(row pgx.Row) (tokenstore.Session, error) {
	var sess tokenstore.Session
	var expiry, created, updated int64
	err := row.Scan(&sess.ID, &sess.Subject, &sess.Name, &sess.SID, &sess.AccessToken, &sess.RefreshToken, &sess.IDToken, &sess.DPoPKey,
		&expiry, &sess.Refreshes, &sess.EndedReason, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, tokenstore.ErrNotFound
	} else if err != nil {
		return sess, err
	}
	sess.Expiry, sess.CreatedAt, sess.UpdatedAt = time.UnixMilli(expiry).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return sess, nil
}

// Create stores a new session.
func (s *Sessions) Create(ctx context.Context, sess tokenstore.Session) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO photoeditor.sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		sess.ID, sess.Subject, sess.Name, sess.SID, sess.AccessToken, sess.RefreshToken, sess.IDToken, sess.DPoPKey,
		ms(sess.Expiry), sess.Refreshes, sess.EndedReason, ms(sess.CreatedAt), ms(sess.UpdatedAt))
	if err != nil {
		return fmt.Errorf("tokenstore: create: %w", err)
	}
	return nil
}

// Get returns a session.
func (s *Sessions) Get(ctx context.Context, id string) (tokenstore.Session, error) {
	sess, err := scanSession(s.db.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM photoeditor.sessions WHERE id = $1`, id))
	if err != nil && !errors.Is(err, tokenstore.ErrNotFound) {
		return sess, fmt.Errorf("tokenstore: get: %w", err)
	}
	return sess, err
}

// Update reads the session, calls change and saves what it changed, while
// holding the session's advisory lock: the Updates of one session, from
// every instance on the database, take turns (tokenstore.Store). It is
// what makes a refresh happen once when requests of one browser, landing
// on several instances, all find the access token expired: the first
// refreshes, the others wait, then read the tokens it saved.
//
// The lock is a transaction's (pg_advisory_xact_lock), so PostgreSQL frees
// it whatever happens to this process: at COMMIT, or when the connection
// ends. Nothing but Update takes it: reading a session, ending it
// (back-channel logout) and deleting it (Disconnect) never wait for a
// refresh. So the write is conditional: a session ended or deleted while
// change ran (at ImageHost) stays so.
//
// Two round trips: BEGIN, the lock and the read go together, since
// PostgreSQL runs them in order and the read's snapshot is taken once the
// lock is held; the write (if any), its check and COMMIT go together too.
// The lock waits for as long as ctx allows; the write outlives ctx, for
// tokenstore.WriteTimeout at most.
func (s *Sessions) Update(ctx context.Context, id string, change func(*tokenstore.Session) error) error {
	select {
	case s.db.updates <- struct{}{}:
		defer func() { <-s.db.updates }()
	case <-ctx.Done():
		return fmt.Errorf("tokenstore: update: %w", ctx.Err())
	}
	conn, err := s.db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("tokenstore: update: %w", err)
	}
	// Released inside the transaction, after an error on the way, the
	// connection is closed rather than reused (pgxpool checks), and
	// PostgreSQL ends the transaction and frees the lock.
	defer conn.Release()
	rollback := func() { conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") }

	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue("SELECT pg_advisory_xact_lock($1, $2)", lockSession, hash32(id))
	b.Queue(`SELECT `+sessionColumns+` FROM photoeditor.sessions WHERE id = $1`, id)
	br := conn.SendBatch(ctx, b)
	_, err1 := br.Exec()
	_, err2 := br.Exec()
	sess, err3 := scanSession(br.QueryRow())
	if err := errors.Join(err1, err2, br.Close()); err != nil || (err3 != nil && !errors.Is(err3, tokenstore.ErrNotFound)) {
		rollback()
		return fmt.Errorf("tokenstore: update: read under lock: %w", errors.Join(err, err3))
	}
	if err3 != nil {
		rollback()
		return err3 // ErrNotFound
	}

	before := sess
	changeErr := change(&sess)
	// The write outlives ctx (tokenstore.Store).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenstore.WriteTimeout)
	defer cancel()
	b = &pgx.Batch{}
	if sess != before {
		b.Queue(`UPDATE photoeditor.sessions SET access_token = $2, refresh_token = $3, id_token = $4, dpop_key = $9, expiry = $5,
				refreshes = $6, ended_reason = $7, updated_at = $8 WHERE id = $1 AND ended_reason = ''`,
			id, sess.AccessToken, sess.RefreshToken, sess.IDToken, ms(sess.Expiry), sess.Refreshes, sess.EndedReason, ms(sess.UpdatedAt),
			sess.DPoPKey)
		b.Queue("SELECT count(*) FROM photoeditor.sessions WHERE id = $1", id)
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	saved, exists := true, 1
	if sess != before {
		tag, err1 := br.Exec()
		err2 := br.QueryRow().Scan(&exists)
		if err := errors.Join(err1, err2); err != nil {
			br.Close()
			rollback()
			return fmt.Errorf("tokenstore: update: write: %w", err)
		}
		saved = tag.RowsAffected() == 1
	}
	_, err = br.Exec()
	if err := errors.Join(err, br.Close()); err != nil {
		rollback()
		return fmt.Errorf("tokenstore: update: commit: %w", err)
	}
	switch {
	case saved:
		return changeErr
	case exists == 0:
		return tokenstore.ErrNotFound // deleted while change ran
	default:
		return tokenstore.ErrEnded
	}
}

// Delete forgets a session.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	if _, err := s.db.pool.Exec(ctx, "DELETE FROM photoeditor.sessions WHERE id = $1", id); err != nil {
		return fmt.Errorf("tokenstore: delete: %w", err)
	}
	return nil
}

// End marks sessions dead and drops their tokens (tokenstore.Store).
func (s *Sessions) End(ctx context.Context, subject, sid, reason string) (int64, error) {
	if reason == "" {
		return 0, errors.New("tokenstore: end needs a reason")
	}
	q := `UPDATE photoeditor.sessions SET access_token = '', refresh_token = '', id_token = '', dpop_key = '', ended_reason = $1
		WHERE ended_reason = '' AND `
	args := []any{reason}
	switch {
	case sid != "":
		q += "sid = $2"
		args = append(args, sid)
		if subject != "" {
			q += " AND subject = $3"
			args = append(args, subject)
		}
	case subject != "":
		q += "subject = $2"
		args = append(args, subject)
	default:
		return 0, errors.New("tokenstore: end needs a subject or a sid")
	}
	tag, err := s.db.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("tokenstore: end: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteOlderThan removes sessions not changed since t.
func (s *Sessions) DeleteOlderThan(ctx context.Context, t time.Time) error {
	if _, err := s.db.pool.Exec(ctx, "DELETE FROM photoeditor.sessions WHERE updated_at < $1", ms(t)); err != nil {
		return fmt.Errorf("tokenstore: delete old: %w", err)
	}
	return nil
}
