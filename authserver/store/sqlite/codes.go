package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"oauthdemo/authserver/store"
)

const authRequestColumns = `id, client_id, redirect_uri, scope, state, nonce, code_challenge, code_challenge_method,
	prompt, max_age, browser_hash, user_id, session_id, auth_time, created_at, expires_at`

// SaveAuthRequest stores a validated authorization request.
func (s *Store) SaveAuthRequest(ctx context.Context, r store.AuthRequest) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO auth_requests ("+authRequestColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ID, r.ClientID, r.RedirectURI, r.Scope, r.State, r.Nonce, r.CodeChallenge, r.CodeChallengeMethod,
		r.Prompt, r.MaxAge, r.BrowserHash, r.UserID, r.SessionID, fmtTime(r.AuthTime), fmtTime(r.CreatedAt), fmtTime(r.ExpiresAt))
	return mapErr("sqlite: save auth request", err)
}

// AuthRequestByID returns a pending authorization request, expired or not.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (store.AuthRequest, error) {
	var r store.AuthRequest
	err := s.read.QueryRowContext(ctx, "SELECT "+authRequestColumns+" FROM auth_requests WHERE id = ?", id).Scan(
		&r.ID, &r.ClientID, &r.RedirectURI, &r.Scope, &r.State, &r.Nonce, &r.CodeChallenge, &r.CodeChallengeMethod,
		&r.Prompt, &r.MaxAge, &r.BrowserHash, &r.UserID, &r.SessionID, timeField{&r.AuthTime}, timeField{&r.CreatedAt}, timeField{&r.ExpiresAt})
	return r, mapErr("sqlite: auth request by id", err)
}

// SetAuthRequestLogin records who logged in for the request, in which
// session, and when.
func (s *Store) SetAuthRequestLogin(ctx context.Context, id, userID, sessionID string, authTime time.Time) error {
	res, err := s.write.ExecContext(ctx, "UPDATE auth_requests SET user_id = ?, session_id = ?, auth_time = ? WHERE id = ?",
		userID, sessionID, fmtTime(authTime), id)
	return mustAffect("sqlite: set auth request login", res, err)
}

// DeleteAuthRequest ends a request. The single DELETE is atomic: of two
// concurrent calls, one deletes the row and the other finds none.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM auth_requests WHERE id = ?", id)
	return mustAffect("sqlite: delete auth request", res, err)
}

const authCodeColumns = `code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge,
	code_challenge_method, session_id, auth_time, amr, idp, expires_at, grant_id, consumed_at, flow_ref`

// SaveAuthCode stores an issued authorization code.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO auth_codes ("+authCodeColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.CodeHash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
		c.CodeChallengeMethod, c.SessionID, fmtTime(c.AuthTime), c.AMR, c.IDP, fmtTime(c.ExpiresAt), c.GrantID, fmtTime(c.ConsumedAt), c.FlowRef)
	return mapErr("sqlite: save auth code", err)
}

// ConsumeAuthCode marks the code used in one transaction, so that of two
// concurrent redemptions exactly one succeeds.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash []byte, grantID string, now time.Time) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT "+authCodeColumns+" FROM auth_codes WHERE code_hash = ?", codeHash).Scan(
			&c.CodeHash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
			&c.CodeChallengeMethod, &c.SessionID, timeField{&c.AuthTime}, &c.AMR, &c.IDP, timeField{&c.ExpiresAt}, &c.GrantID, timeField{&c.ConsumedAt}, &c.FlowRef)
		if err != nil {
			return err
		}
		if !c.ConsumedAt.IsZero() {
			return store.ErrAlreadyUsed
		}
		c.GrantID, c.ConsumedAt = grantID, now.UTC()
		_, err = tx.ExecContext(ctx, "UPDATE auth_codes SET grant_id = ?, consumed_at = ? WHERE code_hash = ?",
			grantID, fmtTime(now), codeHash)
		return err
	})
	if errors.Is(err, store.ErrAlreadyUsed) {
		return c, fmt.Errorf("sqlite: consume auth code: %w", err)
	}
	return c, mapErr("sqlite: consume auth code", err)
}
