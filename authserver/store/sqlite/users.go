package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"oauthdemo/authserver/store"
)

const userColumns = "id, username, password_hash, name, email, created_at, admin, joined_at, disabled_at"

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, timeField{&u.CreatedAt},
		&u.Admin, timeField{&u.JoinedAt}, timeField{&u.DisabledAt})
	return u, err
}

// insertUser is the statement that stores a new user, and userValues its
// arguments.
const insertUser = "INSERT INTO users (" + userColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

func userValues(u store.User) []any {
	return []any{u.ID, u.Username, u.PasswordHash, u.Name, u.Email, fmtTime(u.CreatedAt), u.Admin, fmtTime(u.JoinedAt), fmtTime(u.DisabledAt)}
}

// CreateUser stores a new user; a taken id or username is store.ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.write.ExecContext(ctx, insertUser, userValues(u)...)
	return mapErr("sqlite: create user", err)
}

// UserByID returns the user with that subject identifier.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.hot.userByID.QueryRowContext(ctx, id))
	return u, mapErr("sqlite: user by id", err)
}

// UserByUsername returns the user with that login name, in any case
// (the index of migration 0013 makes it one user).
func (s *Store) UserByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE username = ? COLLATE NOCASE", username))
	return u, mapErr("sqlite: user by username", err)
}

// ListUsers returns every user, by username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY username")
	if err != nil {
		return nil, mapErr("sqlite: list users", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr("sqlite: list users", err)
		}
		users = append(users, u)
	}
	return users, mapErr("sqlite: list users", rows.Err())
}

// SetUserPassword replaces the user's password hash.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string) error {
	res, err := s.write.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", passwordHash, id)
	return mustAffect("sqlite: set user password", res, err)
}

// DeleteUser deletes a user and, through foreign keys, their sessions,
// consents, codes and grants. Their photos, activity and class progress go
// too, in the same
// transaction, which also records the user as a revoked subject: their
// access tokens are signed JWTs that no row holds.
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
		if err := mustAffect("sqlite: delete user", res, err); err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM photos WHERE owner = ?", "DELETE FROM activity WHERE user_id = ?",
			"DELETE FROM class_progress WHERE user_id = ?"} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return recordRevocation(ctx, tx, store.RevokedSubject, id, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("sqlite: delete user", err)
}
