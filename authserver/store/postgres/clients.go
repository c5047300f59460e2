package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"oauthdemo/authserver/store"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types,
	scope, backchannel_logout_uri, access_token_ttl_ms, owner_user_id, resource_server, created_at, registrant, expires_at`

func scanClient(row pgx.Row) (store.Client, error) {
	var c store.Client
	var ttlMS int64
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.GrantTypes, &c.Scope, &c.BackchannelLogoutURI, &ttlMS, &c.OwnerUserID, &c.ResourceServer, timeField{&c.CreatedAt},
		&c.Registrant, timeField{&c.ExpiresAt})
	c.AccessTokenTTL = time.Duration(ttlMS) * time.Millisecond
	return c, err
}

// clientValues are a client's columns, in clientColumns' order.
func clientValues(c store.Client) []any {
	return []any{c.ID, c.SecretHash, c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes),
		c.Scope, c.BackchannelLogoutURI, c.AccessTokenTTL.Milliseconds(), c.OwnerUserID, c.ResourceServer, nanos(c.CreatedAt),
		c.Registrant, nanos(c.ExpiresAt)}
}

// CreateClient stores a new client; a taken id is store.ErrDuplicate.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO clients ("+clientColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
		clientValues(c)...)
	return mapErr("postgres: create client", err)
}

// registrationLock is the first half of the advisory lock registrations
// take, the second half being 0; it spells "Regi" in ASCII. At READ
// COMMITTED two registrations counting clients at the same moment would
// both find room, as two uploads would for a photo quota (photos.go), so
// each takes this lock first and counts in its next statement. Registering
// is rare: one lock for all registrants costs nothing.
const registrationLock int32 = 0x52656769

// RegisterClient stores a new client if its registrant and all clients
// together stay within limit: one batch that takes the registration lock,
// then inserts only if the counts leave room.
func (s *Store) RegisterClient(ctx context.Context, c store.Client, limit store.RegistrationLimit) error {
	var created bool
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1, 0)", registrationLock)
	b.Queue("INSERT INTO clients ("+clientColumns+`)
		SELECT $1, $2::bytea, $3, $4::text[], $5::text[], $6::text[], $7, $8, $9::bigint, $10, $11::boolean, $12::bigint, $13, $14::bigint
		WHERE ($15::bigint = 0 OR (SELECT count(*) FROM clients WHERE registrant = $13) < $15)
		AND ($16::bigint = 0 OR (SELECT count(*) FROM clients) < $16)`,
		append(clientValues(c), limit.PerRegistrant, limit.Total)...).Exec(func(tag pgconn.CommandTag) error {
		created = tag.RowsAffected() == 1
		return nil
	})
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: register client", err)
	}
	if !created {
		return fmt.Errorf("postgres: register client: %w", store.ErrQuotaExceeded)
	}
	return nil
}

// ClientByID returns a registered client.
func (s *Store) ClientByID(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, "SELECT "+clientColumns+" FROM clients WHERE id = $1", id))
	return c, mapErr("postgres: client by id", err)
}

// ListClients returns every client, by id.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+clientColumns+" FROM clients ORDER BY id")
	if err != nil {
		return nil, mapErr("postgres: list clients", err)
	}
	clients, err := collect(rows, scanClient)
	return clients, mapErr("postgres: list clients", err)
}

// SetClientSecret replaces a client's secret hash.
func (s *Store) SetClientSecret(ctx context.Context, id string, secretHash []byte) error {
	tag, err := s.pool.Exec(ctx, "UPDATE clients SET secret_hash = $1 WHERE id = $2", secretHash, id)
	return mustAffect("postgres: set client secret", tag, err)
}

// SetClientResourceServer sets or clears the client's resource-server flag.
func (s *Store) SetClientResourceServer(ctx context.Context, id string, on bool) error {
	tag, err := s.pool.Exec(ctx, "UPDATE clients SET resource_server = $1 WHERE id = $2", on, id)
	return mustAffect("postgres: set client resource server", tag, err)
}

// DeleteClient deletes a client and, through foreign keys, everything
// issued to it, and the photos it uploaded for itself. Its access tokens
// are signed JWTs that no row holds, so the same transaction records the
// client as revoked, after taking the revocation lock (revocations.go). It
// is a transaction, not one statement, because the DELETE decides whether
// there is anything to record: an unknown client is ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockRevocations, revocationLock); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM clients WHERE id = $1", id)
		if err := mustAffect("postgres: delete client", tag, err); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, deleteClientPhotos, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, recordRevocation, string(store.RevokedClient), id, nanos(now))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("postgres: delete client", err)
}

// deleteClientPhotos deletes the photos that the client $1 uploaded with
// client credentials, whose owner is the client itself. A user who happens
// to have the client's id as theirs keeps their photos.
const deleteClientPhotos = "DELETE FROM photos WHERE owner = $1 AND NOT EXISTS (SELECT 1 FROM users WHERE id = $1)"
