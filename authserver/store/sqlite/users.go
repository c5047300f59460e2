package sqlite

import (
	"context"

	"oauthdemo/authserver/store"
)

const userColumns = "id, username, password_hash, name, email, created_at"

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, timeField{&u.CreatedAt})
	return u, err
}

// CreateUser stores a new user; a taken id or username is store.ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		u.ID, u.Username, u.PasswordHash, u.Name, u.Email, fmtTime(u.CreatedAt))
	return mapErr("sqlite: create user", err)
}

// UserByID returns the user with that subject identifier.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.hot.userByID.QueryRowContext(ctx, id))
	return u, mapErr("sqlite: user by id", err)
}

// UserByUsername returns the user with that login name.
func (s *Store) UserByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE username = ?", username))
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

// DeleteUser deletes a user and, through foreign keys, their sessions,
// consents, codes and grants. Their photos go too.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
	if err := mustAffect("sqlite: delete user", res, err); err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx, "DELETE FROM photos WHERE owner = ?", id)
	return mapErr("sqlite: delete user photos", err)
}
