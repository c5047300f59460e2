package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"oauthdemo/authserver/store"
)

const grantColumns = "id, client_id, user_id, scope, session_id, auth_time, created_at, revoked_at, revoke_reason, flow_ref, dpop_jkt"

func scanGrant(row pgx.Row) (store.Grant, error) {
	var g store.Grant
	err := row.Scan(&g.ID, &g.ClientID, &g.UserID, &g.Scope, &g.SessionID,
		timeField{&g.AuthTime}, timeField{&g.CreatedAt}, timeField{&g.RevokedAt}, &g.RevokeReason, &g.FlowRef, &g.DPoPJKT)
	return g, err
}

const refreshColumns = "token_hash, grant_id, scope, issued_at, expires_at, used_at"

// CreateGrant stores the grant and its first refresh token together, in one
// batch: after a crash there is either both or neither. A grant that
// RevokeGrant revoked before it existed, because its code was replayed
// while this redemption was in flight, is not created: each INSERT happens
// only if no revocation of the grant is recorded.
//
// At READ COMMITTED, that check alone would race with the RevokeGrant of a
// replay: each would commit without seeing the other, leaving an active
// grant whose revocation is recorded. So the batch first takes the
// revocation lock shared (revocations.go), and RevokeGrant takes it
// exclusively: they take turns, and the later one sees what the earlier
// one committed. Grants being created do not wait for each other.
func (s *Store) CreateGrant(ctx context.Context, g store.Grant, rt *store.RefreshToken) error {
	var created bool
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock_shared($1, 0)", revocationLock)
	b.Queue("INSERT INTO grants ("+grantColumns+`)
		SELECT $1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8::bigint, $9, $10, $12
		WHERE NOT EXISTS (SELECT 1 FROM revocations WHERE kind = $11 AND id = $1)`,
		g.ID, g.ClientID, g.UserID, g.Scope, g.SessionID, nanos(g.AuthTime), nanos(g.CreatedAt),
		nanos(g.RevokedAt), g.RevokeReason, g.FlowRef, string(store.RevokedGrant), g.DPoPJKT).Exec(func(tag pgconn.CommandTag) error {
		created = tag.RowsAffected() == 1
		return nil
	})
	if rt != nil {
		b.Queue("INSERT INTO refresh_tokens ("+refreshColumns+`)
			SELECT $1, $2, $3, $4::bigint, $5::bigint, $6::bigint WHERE EXISTS (SELECT 1 FROM grants WHERE id = $2)`,
			rt.TokenHash, rt.GrantID, rt.Scope, nanos(rt.IssuedAt), nanos(rt.ExpiresAt), nanos(rt.UsedAt))
	}
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: create grant", err)
	}
	if !created {
		return fmt.Errorf("postgres: create grant: %w", store.ErrAlreadyUsed)
	}
	return nil
}

// GrantByID returns a grant, revoked or not.
func (s *Store) GrantByID(ctx context.Context, id string) (store.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, "SELECT "+grantColumns+" FROM grants WHERE id = $1", id))
	return g, mapErr("postgres: grant by id", err)
}

// RevokeGrant marks the grant revoked; its refresh tokens stop working
// because RotateRefreshToken and the token endpoint check the grant. The
// first revocation's time and reason stay. Its access tokens are signed
// JWTs that no row holds, so the same statement records the revocation they
// are checked against: for the grant the UPDATE changed, or for a grant not
// stored yet, whose code was replayed while its first redemption is still
// minting tokens (CreateGrant honours it). A grant revoked before records
// nothing. The statement's FROM grants reads the table as it was before
// its UPDATE: there, a revoked grant is stored, a grant not yet created is
// not. The batch takes the revocation lock (revocations.go) first.
func (s *Store) RevokeGrant(ctx context.Context, id, reason string, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(lockRevocations, revocationLock)
	b.Queue(`WITH revoked AS (
			UPDATE grants SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL
			RETURNING id
		)
		INSERT INTO revocations (kind, id, revoked_at) SELECT $4, $3, $1
		WHERE EXISTS (SELECT 1 FROM revoked) OR NOT EXISTS (SELECT 1 FROM grants WHERE id = $3) `+laterRevocationWins,
		nanos(now), reason, id, string(store.RevokedGrant))
	return mapErr("postgres: revoke grant", s.execBatch(ctx, b))
}

// RevokeUserClientGrants revokes the user's grants to the client, records a
// revocation for each, and deletes the remembered consent, in one batch
// (one implicit transaction) that takes the revocation lock first. The UPDATE returns the grants it revoked, as
// they are now; a data-modifying WITH runs whether or not the query reads
// it, so the revocations are recorded in the same statement.
func (s *Store) RevokeUserClientGrants(ctx context.Context, userID, clientID, reason string, now time.Time) ([]store.Grant, error) {
	var revoked []store.Grant
	b := &pgx.Batch{}
	b.Queue(lockRevocations, revocationLock)
	b.Queue(`WITH revoked AS (
			UPDATE grants SET revoked_at = $1, revoke_reason = $2
			WHERE user_id = $3 AND client_id = $4 AND revoked_at IS NULL
			RETURNING `+grantColumns+`
		), recorded AS (
			INSERT INTO revocations (kind, id, revoked_at) SELECT $5, id, $1 FROM revoked `+laterRevocationWins+`
		)
		SELECT `+grantColumns+` FROM revoked ORDER BY created_at, id`,
		nanos(now), reason, userID, clientID, string(store.RevokedGrant)).Query(func(rows pgx.Rows) error {
		var err error
		revoked, err = collect(rows, scanGrant)
		return err
	})
	b.Queue("DELETE FROM consents WHERE user_id = $1 AND client_id = $2", userID, clientID)
	return revoked, mapErr("postgres: revoke user client grants", s.execBatch(ctx, b))
}

// ActiveGrantsForUser lists the grants of the user that are not revoked, oldest first.
func (s *Store) ActiveGrantsForUser(ctx context.Context, userID string) ([]store.Grant, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT "+grantColumns+" FROM grants WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id", userID)
	if err != nil {
		return nil, mapErr("postgres: active grants", err)
	}
	grants, err := collect(rows, scanGrant)
	return grants, mapErr("postgres: active grants", err)
}

// RefreshToken returns the refresh token with that hash and its grant.
func (s *Store) RefreshToken(ctx context.Context, tokenHash []byte) (store.RefreshToken, store.Grant, error) {
	var rt store.RefreshToken
	var g store.Grant
	err := s.pool.QueryRow(ctx, `SELECT r.token_hash, r.grant_id, r.scope, r.issued_at, r.expires_at, r.used_at,
			g.id, g.client_id, g.user_id, g.scope, g.session_id, g.auth_time, g.created_at, g.revoked_at, g.revoke_reason, g.flow_ref,
			g.dpop_jkt
		FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1`, tokenHash).Scan(
		&rt.TokenHash, &rt.GrantID, &rt.Scope, timeField{&rt.IssuedAt}, timeField{&rt.ExpiresAt}, timeField{&rt.UsedAt},
		&g.ID, &g.ClientID, &g.UserID, &g.Scope, &g.SessionID, timeField{&g.AuthTime}, timeField{&g.CreatedAt},
		timeField{&g.RevokedAt}, &g.RevokeReason, &g.FlowRef, &g.DPoPJKT)
	return rt, g, mapErr("postgres: refresh token", err)
}

// RotateRefreshToken is a compare-and-swap in one statement: the old token
// is marked used only if nobody used it before and its grant is still
// active, and the new token is inserted only for the row that UPDATE
// changed. Of two concurrent rotations of one token the second waits for the
// first's row lock, then finds used_at set: it changes nothing, inserts
// nothing, and sees ErrAlreadyUsed.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `WITH used AS (
			UPDATE refresh_tokens SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL
			AND EXISTS (SELECT 1 FROM grants WHERE grants.id = refresh_tokens.grant_id AND revoked_at IS NULL)
			RETURNING token_hash
		)
		INSERT INTO refresh_tokens (`+refreshColumns+`)
		SELECT $3, $4, $5, $6, $7, NULL FROM used`,
		nanos(now), oldHash, next.TokenHash, next.GrantID, next.Scope, nanos(next.IssuedAt), nanos(next.ExpiresAt))
	if err != nil {
		return mapErr("postgres: rotate refresh token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: rotate refresh token: %w", store.ErrAlreadyUsed)
	}
	return nil
}

// ConsentFor returns what the user granted the client so far.
func (s *Store) ConsentFor(ctx context.Context, userID, clientID string) (store.Consent, error) {
	var c store.Consent
	err := s.pool.QueryRow(ctx,
		"SELECT user_id, client_id, scope, granted_at FROM consents WHERE user_id = $1 AND client_id = $2",
		userID, clientID).Scan(&c.UserID, &c.ClientID, &c.Scope, timeField{&c.GrantedAt})
	return c, mapErr("postgres: consent", err)
}

// SaveConsent creates or replaces the user's consent for the client.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, c.Scope, nanos(c.GrantedAt))
	return mapErr("postgres: save consent", err)
}

// ListConsents lists the user's consents, by client id.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT user_id, client_id, scope, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id", userID)
	if err != nil {
		return nil, mapErr("postgres: list consents", err)
	}
	consents, err := collect(rows, func(row pgx.Row) (store.Consent, error) {
		var c store.Consent
		err := row.Scan(&c.UserID, &c.ClientID, &c.Scope, timeField{&c.GrantedAt})
		return c, err
	})
	return consents, mapErr("postgres: list consents", err)
}
