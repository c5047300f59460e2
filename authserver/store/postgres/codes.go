package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

const authRequestColumns = `id, client_id, redirect_uri, scope, state, nonce, code_challenge, code_challenge_method,
	prompt, max_age, browser_hash, user_id, session_id, auth_time, created_at, expires_at`

// SaveAuthRequest stores a validated authorization request.
func (s *Store) SaveAuthRequest(ctx context.Context, r store.AuthRequest) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO auth_requests ("+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		r.ID, r.ClientID, r.RedirectURI, r.Scope, r.State, r.Nonce, r.CodeChallenge, r.CodeChallengeMethod,
		r.Prompt, r.MaxAge, r.BrowserHash, r.UserID, r.SessionID, nanos(r.AuthTime), nanos(r.CreatedAt), nanos(r.ExpiresAt))
	return mapErr("postgres: save auth request", err)
}

// AuthRequestByID returns a pending authorization request, expired or not.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := s.pool.QueryRow(ctx, "SELECT "+authRequestColumns+" FROM auth_requests WHERE id = $1", id).Scan(
		&r.ID, &r.ClientID, &r.RedirectURI, &r.Scope, &r.State, &r.Nonce, &r.CodeChallenge, &r.CodeChallengeMethod,
		&r.Prompt, &r.MaxAge, &r.BrowserHash, &r.UserID, &r.SessionID, timeField{&r.AuthTime}, timeField{&r.CreatedAt}, timeField{&r.ExpiresAt})
	return r, mapErr("postgres: auth request by id", err)
}

// SetAuthRequestLogin records who logged in for the request, in which
// session, and when.
func (s *Store) SetAuthRequestLogin(ctx context.Context, id, userID, sessionID string, authTime time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE auth_requests SET user_id = $1, session_id = $2, auth_time = $3 WHERE id = $4",
		userID, sessionID, nanos(authTime), id)
	return mustAffect("postgres: set auth request login", tag, err)
}

// DeleteAuthRequest ends a request. Of two concurrent DELETEs of the row,
// the second waits for the first's row lock, then finds the row gone and
// deletes nothing: exactly one call succeeds, the others get ErrNotFound.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM auth_requests WHERE id = $1", id)
	return mustAffect("postgres: delete auth request", tag, err)
}

const authCodeColumns = `code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge,
	code_challenge_method, session_id, auth_time, amr, idp, expires_at, grant_id, consumed_at, flow_ref`

func scanAuthCode(row pgx.Row) (store.AuthCode, error) {
	var c store.AuthCode
	err := row.Scan(&c.CodeHash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, &c.SessionID, timeField{&c.AuthTime}, &c.AMR, &c.IDP, timeField{&c.ExpiresAt}, &c.GrantID,
		timeField{&c.ConsumedAt}, &c.FlowRef)
	return c, err
}

// SaveAuthCode stores an issued authorization code.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO auth_codes ("+authCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		c.CodeHash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
		c.CodeChallengeMethod, c.SessionID, nanos(c.AuthTime), c.AMR, c.IDP, nanos(c.ExpiresAt), c.GrantID, nanos(c.ConsumedAt), c.FlowRef)
	return mapErr("postgres: save auth code", err)
}

// ConsumeAuthCode marks the code used with one conditional UPDATE, so that
// of two concurrent redemptions exactly one succeeds: the second waits for
// the first's row lock, then finds consumed_at set and updates nothing. Only
// then does it read the code, to tell a replay (with the first redemption's
// grant) from an unknown code.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash []byte, grantID string, now time.Time) (store.AuthCode, error) {
	c, err := scanAuthCode(s.pool.QueryRow(ctx, `UPDATE auth_codes SET grant_id = $1, consumed_at = $2
		WHERE code_hash = $3 AND consumed_at IS NULL
		RETURNING `+authCodeColumns, grantID, nanos(now), codeHash))
	if !errors.Is(err, pgx.ErrNoRows) {
		return c, mapErr("postgres: consume auth code", err)
	}
	c, err = scanAuthCode(s.pool.QueryRow(ctx, "SELECT "+authCodeColumns+" FROM auth_codes WHERE code_hash = $1", codeHash))
	if err != nil {
		return c, mapErr("postgres: consume auth code", err)
	}
	return c, fmt.Errorf("postgres: consume auth code: %w", store.ErrAlreadyUsed)
}
