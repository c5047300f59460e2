package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types,
	scope, backchannel_logout_uri, access_token_ttl_ms, owner_user_id, resource_server, created_at, dynamically_registered`

func scanClient(row pgx.Row) (store.Client, error) {
	var c store.Client
	var ttlMS int64
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.GrantTypes, &c.Scope, &c.BackchannelLogoutURI, &ttlMS, &c.OwnerUserID, &c.ResourceServer, timeField{&c.CreatedAt},
		&c.DynamicallyRegistered)
	c.AccessTokenTTL = time.Duration(ttlMS) * time.Millisecond
	return c, err
}

// CreateClient stores a new client; a taken id is store.ErrDuplicate.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO clients ("+clientColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		c.ID, c.SecretHash, c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes),
		c.Scope, c.BackchannelLogoutURI, c.AccessTokenTTL.Milliseconds(), c.OwnerUserID, c.ResourceServer, nanos(c.CreatedAt),
		c.DynamicallyRegistered)
	return mapErr("postgres: create client", err)
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
// issued to it. Its access tokens are signed JWTs that no row holds, so the
// same transaction records the client as revoked. It is a transaction, not
// one statement, because the DELETE decides whether there is anything to
// record: an unknown client is ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM clients WHERE id = $1", id)
		if err := mustAffect("postgres: delete client", tag, err); err != nil {
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
