package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"oauthdemo/authserver/store"
)

const grantColumns = "id, client_id, user_id, scope, session_id, auth_time, created_at, revoked_at, revoke_reason, flow_ref, dpop_jkt"

func scanGrant(row interface{ Scan(...any) error }) (store.Grant, error) {
	var g store.Grant
	err := row.Scan(&g.ID, &g.ClientID, &g.UserID, &g.Scope, &g.SessionID,
		timeField{&g.AuthTime}, timeField{&g.CreatedAt}, timeField{&g.RevokedAt}, &g.RevokeReason, &g.FlowRef, &g.DPoPJKT)
	return g, err
}

const refreshColumns = "token_hash, grant_id, scope, issued_at, expires_at, used_at"

func insertRefresh(ctx context.Context, tx *sql.Tx, rt store.RefreshToken) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens ("+refreshColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		rt.TokenHash, rt.GrantID, rt.Scope, fmtTime(rt.IssuedAt), fmtTime(rt.ExpiresAt), fmtTime(rt.UsedAt))
	return err
}

// CreateGrant stores the grant and its first refresh token together: after a
// crash there is either both or neither. A grant that RevokeGrant revoked
// before it existed, because its code was replayed while this redemption
// was in flight, is not created. SQLite runs one write transaction at a
// time, so the revocation is recorded either before this transaction, which
// then finds it, or after, when it revokes the grant stored here.
func (s *Store) CreateGrant(ctx context.Context, g store.Grant, rt *store.RefreshToken) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var revoked bool
		err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM revocations WHERE kind = ? AND id = ?)",
			string(store.RevokedGrant), g.ID).Scan(&revoked)
		if err != nil {
			return err
		}
		if revoked {
			return store.ErrAlreadyUsed
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO grants ("+grantColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			g.ID, g.ClientID, g.UserID, g.Scope, g.SessionID, fmtTime(g.AuthTime), fmtTime(g.CreatedAt),
			fmtTime(g.RevokedAt), g.RevokeReason, g.FlowRef, g.DPoPJKT)
		if err != nil || rt == nil {
			return err
		}
		return insertRefresh(ctx, tx, *rt)
	})
	if errors.Is(err, store.ErrAlreadyUsed) {
		return fmt.Errorf("sqlite: create grant: %w", err)
	}
	return mapErr("sqlite: create grant", err)
}

// GrantByID returns a grant, revoked or not.
func (s *Store) GrantByID(ctx context.Context, id string) (store.Grant, error) {
	g, err := scanGrant(s.hot.grantByID.QueryRowContext(ctx, id))
	return g, mapErr("sqlite: grant by id", err)
}

// RevokeGrant marks the grant revoked; its refresh tokens stop working
// because RotateRefreshToken and the token endpoint check the grant. Its
// access tokens are signed JWTs that no row holds, so the same transaction
// records the revocation they are checked against. A grant that is not
// stored yet, whose code was replayed while its first redemption is still
// minting tokens, gets the revocation too, and CreateGrant honours it.
func (s *Store) RevokeGrant(ctx context.Context, id, reason string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE grants SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at = ''",
			fmtTime(now), reason, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var stored bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM grants WHERE id = ?)", id).Scan(&stored); err != nil || stored {
				return err // revoked before: nothing new to record
			}
		}
		return recordRevocation(ctx, tx, store.RevokedGrant, id, now)
	})
	return mapErr("sqlite: revoke grant", err)
}

// RevokeUserClientGrants revokes the user's grants to the client and deletes
// the remembered consent, in one transaction.
func (s *Store) RevokeUserClientGrants(ctx context.Context, userID, clientID, reason string, now time.Time) ([]store.Grant, error) {
	var revoked []store.Grant
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+grantColumns+" FROM grants WHERE user_id = ? AND client_id = ? AND revoked_at = ''",
			userID, clientID)
		if err != nil {
			return err
		}
		for rows.Next() {
			g, err := scanGrant(rows)
			if err != nil {
				rows.Close()
				return err
			}
			g.RevokedAt, g.RevokeReason = now.UTC(), reason
			revoked = append(revoked, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, g := range revoked {
			if err := recordRevocation(ctx, tx, store.RevokedGrant, g.ID, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE grants SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND client_id = ? AND revoked_at = ''",
			fmtTime(now), reason, userID, clientID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM consents WHERE user_id = ? AND client_id = ?", userID, clientID)
		return err
	})
	return revoked, mapErr("sqlite: revoke user client grants", err)
}

// ActiveGrantsForUser lists the grants of the user that are not revoked, oldest first.
func (s *Store) ActiveGrantsForUser(ctx context.Context, userID string) ([]store.Grant, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT "+grantColumns+" FROM grants WHERE user_id = ? AND revoked_at = '' ORDER BY created_at, id", userID)
	if err != nil {
		return nil, mapErr("sqlite: active grants", err)
	}
	defer rows.Close()
	var grants []store.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, mapErr("sqlite: active grants", err)
		}
		grants = append(grants, g)
	}
	return grants, mapErr("sqlite: active grants", rows.Err())
}

const refreshTokenQuery = `SELECT r.token_hash, r.grant_id, r.scope, r.issued_at, r.expires_at, r.used_at,
		g.id, g.client_id, g.user_id, g.scope, g.session_id, g.auth_time, g.created_at, g.revoked_at, g.revoke_reason, g.flow_ref,
		g.dpop_jkt
	FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = ?`

// RefreshToken returns the refresh token with that hash and its grant.
func (s *Store) RefreshToken(ctx context.Context, tokenHash []byte) (store.RefreshToken, store.Grant, error) {
	var rt store.RefreshToken
	var g store.Grant
	err := s.hot.refreshToken.QueryRowContext(ctx, tokenHash).Scan(
		&rt.TokenHash, &rt.GrantID, &rt.Scope, timeField{&rt.IssuedAt}, timeField{&rt.ExpiresAt}, timeField{&rt.UsedAt},
		&g.ID, &g.ClientID, &g.UserID, &g.Scope, &g.SessionID, timeField{&g.AuthTime}, timeField{&g.CreatedAt},
		timeField{&g.RevokedAt}, &g.RevokeReason, &g.FlowRef, &g.DPoPJKT)
	return rt, g, mapErr("sqlite: refresh token", err)
}

// RotateRefreshToken is a compare-and-swap: the old token is marked used only
// if nobody used it before and its grant is still active. Of two concurrent
// rotations of one token exactly one wins; the other sees ErrAlreadyUsed.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ?
			WHERE token_hash = ? AND used_at = ''
			AND EXISTS (SELECT 1 FROM grants WHERE grants.id = refresh_tokens.grant_id AND revoked_at = '')`, fmtTime(now), oldHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrAlreadyUsed
		}
		return insertRefresh(ctx, tx, next)
	})
	if errors.Is(err, store.ErrAlreadyUsed) {
		return fmt.Errorf("sqlite: rotate refresh token: %w", err)
	}
	return mapErr("sqlite: rotate refresh token", err)
}

// ConsentFor returns what the user granted the client so far.
func (s *Store) ConsentFor(ctx context.Context, userID, clientID string) (store.Consent, error) {
	var c store.Consent
	err := s.read.QueryRowContext(ctx,
		"SELECT user_id, client_id, scope, granted_at FROM consents WHERE user_id = ? AND client_id = ?",
		userID, clientID).Scan(&c.UserID, &c.ClientID, &c.Scope, timeField{&c.GrantedAt})
	return c, mapErr("sqlite: consent", err)
}

// SaveConsent creates or replaces the user's consent for the client.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, c.Scope, fmtTime(c.GrantedAt))
	return mapErr("sqlite: save consent", err)
}

// ListConsents lists the user's consents, by client id.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT user_id, client_id, scope, granted_at FROM consents WHERE user_id = ? ORDER BY client_id", userID)
	if err != nil {
		return nil, mapErr("sqlite: list consents", err)
	}
	defer rows.Close()
	var list []store.Consent
	for rows.Next() {
		var c store.Consent
		if err := rows.Scan(&c.UserID, &c.ClientID, &c.Scope, timeField{&c.GrantedAt}); err != nil {
			return nil, mapErr("sqlite: list consents", err)
		}
		list = append(list, c)
	}
	return list, mapErr("sqlite: list consents", rows.Err())
}
