package sqlite

import (
	"context"
	"time"

	"oauthdemo/authserver/store"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types,
	scope, backchannel_logout_uri, access_token_ttl_ms, owner_user_id, created_at`

func scanClient(row interface{ Scan(...any) error }) (store.Client, error) {
	var c store.Client
	var ttlMS int64
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, listField{&c.RedirectURIs}, listField{&c.PostLogoutRedirectURIs},
		listField{&c.GrantTypes}, &c.Scope, &c.BackchannelLogoutURI, &ttlMS, &c.OwnerUserID, timeField{&c.CreatedAt})
	c.AccessTokenTTL = time.Duration(ttlMS) * time.Millisecond
	return c, err
}

// CreateClient stores a new client; a taken id is store.ErrDuplicate.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO clients ("+clientColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.SecretHash, c.Name, fmtList(c.RedirectURIs), fmtList(c.PostLogoutRedirectURIs), fmtList(c.GrantTypes),
		c.Scope, c.BackchannelLogoutURI, c.AccessTokenTTL.Milliseconds(), c.OwnerUserID, fmtTime(c.CreatedAt))
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

// DeleteClient deletes a client and everything issued to it.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM clients WHERE id = ?", id)
	return mustAffect("sqlite: delete client", res, err)
}
