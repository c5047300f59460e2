package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"oauthdemo/authserver/store"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types,
	scope, backchannel_logout_uri, access_token_ttl_ms, owner_user_id, resource_server, created_at, registrant, expires_at`

func scanClient(row interface{ Scan(...any) error }) (store.Client, error) {
	var c store.Client
	var ttlMS int64
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, listField{&c.RedirectURIs}, listField{&c.PostLogoutRedirectURIs},
		listField{&c.GrantTypes}, &c.Scope, &c.BackchannelLogoutURI, &ttlMS, &c.OwnerUserID, &c.ResourceServer, timeField{&c.CreatedAt},
		&c.Registrant, timeField{&c.ExpiresAt})
	c.AccessTokenTTL = time.Duration(ttlMS) * time.Millisecond
	return c, err
}

// clientValues are a client's columns, in clientColumns' order.
func clientValues(c store.Client) []any {
	return []any{c.ID, c.SecretHash, c.Name, fmtList(c.RedirectURIs), fmtList(c.PostLogoutRedirectURIs), fmtList(c.GrantTypes),
		c.Scope, c.BackchannelLogoutURI, c.AccessTokenTTL.Milliseconds(), c.OwnerUserID, c.ResourceServer, fmtTime(c.CreatedAt),
		c.Registrant, fmtTime(c.ExpiresAt)}
}

// CreateClient stores a new client; a taken id is store.ErrDuplicate.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO clients ("+clientColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", clientValues(c)...)
	return mapErr("sqlite: create client", err)
}

// RegisterClient stores a new client if its registrant and all clients
// together stay within limit. The counts and the insert are one statement,
// and SQLite runs one writer at a time: registrations at the same moment
// take turns, and each counts what the one before it inserted.
func (s *Store) RegisterClient(ctx context.Context, c store.Client, limit store.RegistrationLimit) error {
	args := append(clientValues(c), limit.PerRegistrant, c.Registrant, limit.Total)
	res, err := s.write.ExecContext(ctx,
		"INSERT INTO clients ("+clientColumns+`) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE (?15 = 0 OR (SELECT count(*) FROM clients WHERE registrant = ?16) < ?15)
		AND (?17 = 0 OR (SELECT count(*) FROM clients) < ?17)`, args...)
	if err != nil {
		return mapErr("sqlite: register client", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr("sqlite: register client", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: register client: %w", store.ErrQuotaExceeded)
	}
	return nil
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
// issued to it, and the photos it uploaded for itself. Its access tokens
// are signed JWTs that no row holds, so the same transaction records the
// client as revoked.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM clients WHERE id = ?", id)
		if err := mustAffect("sqlite: delete client", res, err); err != nil {
			return err
		}
		return clientDeleted(ctx, tx, id, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	return mapErr("sqlite: delete client", err)
}

// clientDeleted finishes, inside tx, the deletion of the client id: it
// deletes the photos the client uploaded with client credentials, whose
// owner is the client itself (a user who happens to have the client's id
// as theirs keeps their photos), and records the client's revocation.
func clientDeleted(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM photos WHERE owner = ?1 AND NOT EXISTS (SELECT 1 FROM users WHERE id = ?1)", id); err != nil {
		return err
	}
	return recordRevocation(ctx, tx, store.RevokedClient, id, now)
}
