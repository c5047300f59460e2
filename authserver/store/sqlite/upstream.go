package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"oauthdemo/authserver/store"
)

const upstreamLoginColumns = `id_hash, upstream, auth_request_id, next, flow_ref, created_at, expires_at,
	issuer, subject, preferred_username, name, email, amr, verified, auth_time`

func scanUpstreamLogin(row interface{ Scan(...any) error }) (store.UpstreamLogin, error) {
	var l store.UpstreamLogin
	id := &l.Identity
	err := row.Scan(&l.IDHash, &l.Upstream, &l.AuthRequestID, &l.Next, &l.FlowRef, timeField{&l.CreatedAt}, timeField{&l.ExpiresAt},
		&id.Issuer, &id.Subject, &id.Username, &id.Name, &id.Email, &id.AMR, &id.Verified, timeField{&id.AuthTime})
	return l, err
}

// CreateUpstreamLogin stores l if fewer than maxPending unexpired ones are
// stored. One INSERT ... SELECT counts and inserts: SQLite runs it under
// the one write lock, so a burst cannot together overshoot the cap.
func (s *Store) CreateUpstreamLogin(ctx context.Context, l store.UpstreamLogin, maxPending int) error {
	id := l.Identity
	res, err := s.write.ExecContext(ctx, `INSERT INTO upstream_logins (`+upstreamLoginColumns+`)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE (SELECT count(*) FROM upstream_logins WHERE expires_at > ?) < ?`,
		l.IDHash, l.Upstream, l.AuthRequestID, l.Next, l.FlowRef, fmtTime(l.CreatedAt), fmtTime(l.ExpiresAt),
		id.Issuer, id.Subject, id.Username, id.Name, id.Email, id.AMR, id.Verified, fmtTime(id.AuthTime),
		fmtTime(l.CreatedAt), maxPending)
	if err != nil {
		return mapErr("sqlite: create upstream login", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr("sqlite: create upstream login", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create upstream login: %d pending: %w", maxPending, store.ErrQuotaExceeded)
	}
	return nil
}

// UpstreamLogin returns an unexpired sign-in under way.
func (s *Store) UpstreamLogin(ctx context.Context, idHash []byte, now time.Time) (store.UpstreamLogin, error) {
	l, err := scanUpstreamLogin(s.read.QueryRowContext(ctx, "SELECT "+upstreamLoginColumns+
		" FROM upstream_logins WHERE id_hash = ? AND expires_at > ?", idHash, fmtTime(now)))
	return l, mapErr("sqlite: upstream login", err)
}

// TakeUpstreamLogin deletes an unexpired sign-in and returns it, with one
// DELETE ... RETURNING: of two concurrent calls, the second finds no row.
func (s *Store) TakeUpstreamLogin(ctx context.Context, idHash []byte, now time.Time) (store.UpstreamLogin, error) {
	l, err := scanUpstreamLogin(s.write.QueryRowContext(ctx, "DELETE FROM upstream_logins WHERE id_hash = ? AND expires_at > ? RETURNING "+
		upstreamLoginColumns, idHash, fmtTime(now)))
	return l, mapErr("sqlite: take upstream login", err)
}

// UserByUpstream returns the user an upstream identity is linked to.
func (s *Store) UserByUpstream(ctx context.Context, issuer, subject string) (store.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+` FROM users
		WHERE id = (SELECT user_id FROM upstream_links WHERE issuer = ? AND subject = ?)`, issuer, subject))
	return u, mapErr("sqlite: user by upstream identity", err)
}

// LinkUpstream links an identity to an existing user; the primary key on
// (issuer, subject) refuses a second link of one identity.
func (s *Store) LinkUpstream(ctx context.Context, l store.UpstreamLink) error {
	return mapErr("sqlite: link upstream identity", insertUpstreamLink(ctx, s.write, l))
}

// CreateUpstreamUser creates the user and its link in one transaction.
func (s *Store) CreateUpstreamUser(ctx context.Context, u store.User, l store.UpstreamLink) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertUser, userValues(u)...); err != nil {
			return err
		}
		l.UserID = u.ID
		return insertUpstreamLink(ctx, tx, l)
	})
	return mapErr("sqlite: create upstream user", err)
}

func insertUpstreamLink(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, l store.UpstreamLink) error {
	_, err := db.ExecContext(ctx, "INSERT INTO upstream_links (issuer, subject, user_id, upstream, created_at) VALUES (?, ?, ?, ?, ?)",
		l.Issuer, l.Subject, l.UserID, l.Upstream, fmtTime(l.CreatedAt))
	return err
}
