package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"oauthdemo/authserver/store"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types,
	scope, backchannel_logout_uri, access_token_ttl_ms, owner_user_id, resource_server, created_at, dynamically_registered`

func scanClient(row interface{ Scan(...any) error }) (store.Client, error) {
	var c store.Client
	var ttlMS int64
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, listField{&c.RedirectURIs}, listField{&c.PostLogoutRedirectURIs},
		listField{&c.GrantTypes}, &c.Scope, &c.BackchannelLogoutURI, &ttlMS, &c.OwnerUserID, &c.ResourceServer, timeField{&c.CreatedAt},
		&c.DynamicallyRegistered)
	c.AccessTokenTTL = time.Duration(ttlMS) * time.Millisecond
	return c, err
}

// CreateClient stores a new client; a taken id is store.ErrDuplicate.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO clients ("+clientColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.SecretHash, c.Name, fmtList(c.RedirectURIs), fmtList(c.PostLogoutRedirectURIs), fmtList(c.GrantTypes),
		c.Scope, c.BackchannelLogoutURI, c.AccessTokenTTL.Milliseconds(), c.OwnerUserID, c.ResourceServer, fmtTime(c.CreatedAt),
		c.DynamicallyRegistered)
	return mapErr("sqlite: create client", err)
}

// ClientByID returns a registered client.
func (s *Store) ClientByID(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.hot.clientByID.QueryRowContext(ctx, id))
	return c, mapErr("sqlite: client by id", err)
}

// ListClients returns every client, by id.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+clientColumns+" FROM clients ORDER BY id")
	if err != nil {
		return nil, mapErr("sqlite: list clients", err)
	}
	defer rows.Close()
	var clients []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, mapErr("sqlite: list clients", err)
		}
		clients = append(clients, c)
	}
	return clients, mapErr("sqlite: list clients", rows.Err())
}

// SetClientSecret replaces a client's secret hash.
func (s *Store) SetClientSecret(ctx context.Context, id string, secretHash []byte) error {
	res, err := s.write.ExecContext(ctx, "UPDATE clients SET secret_hash = ? WHERE id = ?", secretHash, id)
	return mustAffect("sqlite: set client secret", res, err)
}

// SetClientResourceServer sets or clears the client's resource-server flag.
func (s *Store) SetClientResourceServer(ctx context.Context, id string, on bool) error {
	res, err := s.write.ExecContext(ctx, "UPDATE clients SET resource_server = ? WHERE id = ?", on, id)
	return mustAffect("sqlite: set client resource server", res, err)
}

// DeleteClient deletes a client and, through foreign keys, everything
// issued to it. Its access tokens are signed JWTs that no row holds, so the
// same transaction records the client as revoked.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM clients WHERE id = ?", id)
		if err := mustAffect("sqlite: delete client", res, err); err != nil {
			return err
		}
		return recordRevocation(ctx, tx, store.RevokedClient, id, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("sqlite: delete client", err)
}
