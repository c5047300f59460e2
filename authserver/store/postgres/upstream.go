package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// upstreamCapLock is the key of the advisory lock that makes the count of
// pending upstream logins and the insert of a new one one step. It spells
// "ImageUps" in ASCII.
const upstreamCapLock int64 = 0x496d616765557073

const upstreamLoginColumns = `id_hash, upstream, auth_request_id, next, flow_ref, created_at, expires_at,
	issuer, subject, preferred_username, name, email, amr, verified, auth_time`

func scanUpstreamLogin(row pgx.Row) (store.UpstreamLogin, error) {
	var l store.UpstreamLogin
	id := &l.Identity
	err := row.Scan(&l.IDHash, &l.Upstream, &l.AuthRequestID, &l.Next, &l.FlowRef, timeField{&l.CreatedAt}, timeField{&l.ExpiresAt},
		&id.Issuer, &id.Subject, &id.Username, &id.Name, &id.Email, &id.AMR, &id.Verified, timeField{&id.AuthTime})
	return l, err
}

// CreateUpstreamLogin stores l if fewer than maxPending unexpired ones are
// stored: one batch that takes the cap's lock, then inserts only if the
// count, read in a snapshot taken after the lock was granted, leaves room
// (as CreateDeviceAuthorization does).
func (s *Store) CreateUpstreamLogin(ctx context.Context, l store.UpstreamLogin, maxPending int) error {
	var created bool
	id := l.Identity
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", upstreamCapLock)
	b.Queue(`WITH created AS (
			INSERT INTO upstream_logins (`+upstreamLoginColumns+`)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
			WHERE (SELECT count(*) FROM upstream_logins WHERE expires_at > $6) < $16
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM created)`,
		l.IDHash, l.Upstream, l.AuthRequestID, l.Next, l.FlowRef, nanos(l.CreatedAt), nanos(l.ExpiresAt),
		id.Issuer, id.Subject, id.Username, id.Name, id.Email, id.AMR, id.Verified, nanos(id.AuthTime), maxPending).QueryRow(func(row pgx.Row) error {
		return row.Scan(&created)
	})
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: create upstream login", err)
	}
	if !created {
		return fmt.Errorf("postgres: create upstream login: %d pending: %w", maxPending, store.ErrQuotaExceeded)
	}
	return nil
}

// UpstreamLogin returns an unexpired sign-in under way.
func (s *Store) UpstreamLogin(ctx context.Context, idHash []byte, now time.Time) (store.UpstreamLogin, error) {
	l, err := scanUpstreamLogin(s.pool.QueryRow(ctx, "SELECT "+upstreamLoginColumns+
		" FROM upstream_logins WHERE id_hash = $1 AND expires_at > $2", idHash, nanos(now)))
	return l, mapErr("postgres: upstream login", err)
}

// TakeUpstreamLogin deletes an unexpired sign-in and returns it, with one
// DELETE ... RETURNING: a second, concurrent one waits for the first's row
// lock, then finds the row gone.
func (s *Store) TakeUpstreamLogin(ctx context.Context, idHash []byte, now time.Time) (store.UpstreamLogin, error) {
	l, err := scanUpstreamLogin(s.pool.QueryRow(ctx, "DELETE FROM upstream_logins WHERE id_hash = $1 AND expires_at > $2 RETURNING "+
		upstreamLoginColumns, idHash, nanos(now)))
	return l, mapErr("postgres: take upstream login", err)
}

// UserByUpstream returns the user an upstream identity is linked to.
func (s *Store) UserByUpstream(ctx context.Context, issuer, subject string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+` FROM users
		WHERE id = (SELECT user_id FROM upstream_links WHERE issuer = $1 AND subject = $2)`, issuer, subject))
	return u, mapErr("postgres: user by upstream identity", err)
}

// insertUpstreamLink is the one statement that links an identity; the
// primary key on (issuer, subject) refuses a second link of one identity.
const insertUpstreamLink = "INSERT INTO upstream_links (issuer, subject, user_id, upstream, created_at) VALUES ($1, $2, $3, $4, $5)"

// LinkUpstream links an identity to an existing user.
func (s *Store) LinkUpstream(ctx context.Context, l store.UpstreamLink) error {
	_, err := s.pool.Exec(ctx, insertUpstreamLink, l.Issuer, l.Subject, l.UserID, l.Upstream, nanos(l.CreatedAt))
	return mapErr("postgres: link upstream identity", err)
}

// CreateUpstreamUser creates the user and its link in one batch (one
// implicit transaction): both, or neither.
func (s *Store) CreateUpstreamUser(ctx context.Context, u store.User, l store.UpstreamLink) error {
	b := &pgx.Batch{}
	b.Queue(insertUser, userValues(u)...)
	b.Queue(insertUpstreamLink, l.Issuer, l.Subject, u.ID, l.Upstream, nanos(l.CreatedAt))
	return mapErr("postgres: create upstream user", s.execBatch(ctx, b))
}
