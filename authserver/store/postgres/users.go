package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

const userColumns = "id, username, password_hash, name, email, created_at, admin, joined_at, disabled_at"

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, timeField{&u.CreatedAt},
		&u.Admin, timeField{&u.JoinedAt}, timeField{&u.DisabledAt})
	return u, err
}

// insertUser is the statement that stores a new user, and userValues its
// arguments.
const insertUser = "INSERT INTO users (" + userColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"

func userValues(u store.User) []any {
	return []any{u.ID, u.Username, u.PasswordHash, u.Name, u.Email, nanos(u.CreatedAt), u.Admin, nanos(u.JoinedAt), nanos(u.DisabledAt)}
}

// CreateUser stores a new user; a taken id or username is store.ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.pool.Exec(ctx, insertUser, userValues(u)...)
	return mapErr("postgres: create user", err)
}

// UserByID returns the user with that subject identifier.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	return u, mapErr("postgres: user by id", err)
}

// UserByUsername returns the user with that login name, in any case
// (the index of migration 0013 makes it one user, and serves this query).
func (s *Store) UserByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(username COLLATE "C") = lower($1 COLLATE "C")`, username))
	return u, mapErr("postgres: user by username", err)
}

// ListUsers returns every user, by username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY username")
	if err != nil {
		return nil, mapErr("postgres: list users", err)
	}
	users, err := collect(rows, scanUser)
	return users, mapErr("postgres: list users", err)
}

// SetUserPassword replaces the user's password hash.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET password_hash = $1 WHERE id = $2", passwordHash, id)
	return mustAffect("postgres: set user password", tag, err)
}

// DeleteUser deletes a user and, through foreign keys, their sessions,
// consents, codes and grants. Their photos, activity and class progress go
// too, in the same transaction, only if the user existed; it also records
// the user as a revoked subject, after taking the revocation lock
// (revocations.go): their access tokens are signed JWTs that no row holds.
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockRevocations, revocationLock); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", id)
		if err := mustAffect("postgres: delete user", tag, err); err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM photos WHERE owner = $1", "DELETE FROM activity WHERE user_id = $1",
			"DELETE FROM class_progress WHERE user_id = $1"} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, recordRevocation, string(store.RevokedSubject), id, nanos(now))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("postgres: delete user", err)
}
