package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// SaveSigningKey stores a new private key.
func (s *Store) SaveSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO signing_keys (id, algorithm, private_der, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)",
		k.ID, k.Algorithm, k.PrivateDER, nanos(k.CreatedAt), nanos(k.RetiredAt))
	return mapErr("postgres: save signing key", err)
}

// SigningKeys returns every stored key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT id, algorithm, private_der, created_at, retired_at FROM signing_keys ORDER BY created_at, id")
	if err != nil {
		return nil, mapErr("postgres: signing keys", err)
	}
	keys, err := collect(rows, func(row pgx.Row) (store.SigningKey, error) {
		var k store.SigningKey
		err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateDER, timeField{&k.CreatedAt}, timeField{&k.RetiredAt})
		return k, err
	})
	return keys, mapErr("postgres: signing keys", err)
}

// RetireSigningKeys makes every key of alg without a retirement stop
// signing at the time given.
func (s *Store) RetireSigningKeys(ctx context.Context, alg string, at time.Time) error {
	_, err := s.pool.Exec(ctx,
		"UPDATE signing_keys SET retired_at = $1 WHERE algorithm = $2 AND retired_at IS NULL", nanos(at), alg)
	return mapErr("postgres: retire signing keys", err)
}

// DeleteSigningKeysRetiredBefore removes keys no token can still need.
func (s *Store) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM signing_keys WHERE retired_at < $1", nanos(t)) // NULL: still signing
	return mapErr("postgres: delete retired keys", err)
}

// ServerKey returns the key stored under name, storing candidate first if
// there is none. The SELECT is a statement of its own: under READ
// COMMITTED it sees the key of an instance whose insert won the race.
func (s *Store) ServerKey(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var key []byte
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO server_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
			name, candidate); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT key FROM server_keys WHERE name = $1", name).Scan(&key)
	})
	return key, mapErr("postgres: server key", err)
}
