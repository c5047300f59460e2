package sqlite

import (
	"context"
	"database/sql"
	"time"

	"oauthdemo/authserver/store"
)

// SaveSigningKey stores a new private key.
func (s *Store) SaveSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO signing_keys (id, algorithm, private_der, created_at, retired_at) VALUES (?, ?, ?, ?, ?)",
		k.ID, k.Algorithm, k.PrivateDER, fmtTime(k.CreatedAt), fmtTime(k.RetiredAt))
	return mapErr("sqlite: save signing key", err)
}

// SigningKeys returns every stored key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT id, algorithm, private_der, created_at, retired_at FROM signing_keys ORDER BY created_at, id")
	if err != nil {
		return nil, mapErr("sqlite: signing keys", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateDER, timeField{&k.CreatedAt}, timeField{&k.RetiredAt}); err != nil {
			return nil, mapErr("sqlite: signing keys", err)
		}
		keys = append(keys, k)
	}
	return keys, mapErr("sqlite: signing keys", rows.Err())
}

// RetireSigningKeys makes every key of alg without a retirement stop
// signing at the time given.
func (s *Store) RetireSigningKeys(ctx context.Context, alg string, at time.Time) error {
	_, err := s.write.ExecContext(ctx,
		"UPDATE signing_keys SET retired_at = ? WHERE algorithm = ? AND retired_at = ''", fmtTime(at), alg)
	return mapErr("sqlite: retire signing keys", err)
}

// DeleteSigningKeysRetiredBefore removes keys no token can still need.
func (s *Store) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error {
	_, err := s.write.ExecContext(ctx,
		"DELETE FROM signing_keys WHERE retired_at != '' AND retired_at < ?", fmtTime(t))
	return mapErr("sqlite: delete retired keys", err)
}

// ServerKey returns the key stored under name, storing candidate first if
// there is none, in one transaction.
func (s *Store) ServerKey(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var key []byte
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO server_keys (name, key) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			name, candidate); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT key FROM server_keys WHERE name = ?", name).Scan(&key)
	})
	return key, mapErr("sqlite: server key", err)
}
