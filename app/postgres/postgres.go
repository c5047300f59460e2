// Package postgres keeps PhotoEditorApp's state in PostgreSQL (pgx with its
// pool), so that several instances behind a load balancer, with no sticky
// sessions, serve every browser alike: the sessions and their tokens
// (Sessions, a tokenstore.Store) and the flow inspector's recordings
// (Recordings, a flow.Storage). Each passes the conformance suite of its
// interface, as the single-instance versions do (tokenstore/sqlite, and
// flow.Memory).
//
// Settings, and why:
//   - A pgxpool pool per instance, of at most max(4, number of CPUs)
//     connections unless the URL says otherwise (pool_max_conns=N, 2 or
//     more: a refresh holds one while its recording needs another); a
//     request beyond it waits for a connection, for as long as its context
//     allows. application_name=photoeditorapp, unless the URL sets another.
//   - Every table is in the schema "photoeditor", so that the app may share
//     a database with ImageHost, which has a sessions table of its own.
//   - A session's refresh takes turns across instances on an advisory lock
//     held by a transaction (Sessions.Update), for the length of a round
//     trip to ImageHost. At most half of the pool's connections wait or
//     hold such a lock at once, so that the other half always serves
//     everything else (a back-channel logout, a login, a recording).
//   - A recording is one statement batch, one round trip, with its bounds
//     kept in the same transaction (recordings.go).
//   - Migrations are embedded and applied at Open in one transaction under
//     an advisory lock, so that instances starting together take turns.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory locks come in two key spaces: one bigint, or two integers. This
// package uses the second, with these first halves, so that its locks never
// meet ImageHost's (bigint) on a shared database.
const (
	lockMigrations int32 = 0x5045_0001 // "PE", 1: applying migrations
	lockSession    int32 = 0x5045_0002 // a session's refresh; the second half hashes its id
	lockNewFlow    int32 = 0x5045_0003 // a new flow, which may push an old one out
)

// DB is PhotoEditorApp's PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	// updates holds a place for each Sessions.Update under way: at most
	// half of the pool waits on, or holds, a session's lock.
	updates chan struct{}
}

// ParseConfig parses a postgres:// URL (or a key=value connection string)
// into a pool configuration with this package's defaults. Callers that need
// more than the URL can say, such as a query tracer, change it and call
// OpenConfig.
func ParseConfig(databaseURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgconn's errors show the connection string with its password
		// masked.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "photoeditorapp"
	}
	return cfg, nil
}

// Open connects to the database at databaseURL and applies any pending
// migrations.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	cfg, err := ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with a parsed configuration (see ParseConfig).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*DB, error) {
	// A refresh holds a connection while it waits on ImageHost, and its
	// recording needs another.
	if cfg.MaxConns < 2 {
		return nil, errors.New("postgres: pool_max_conns must be at least 2")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, updates: make(chan struct{}, max(1, cfg.MaxConns/2))}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Stat returns the pool's figures, for the app's metrics.
func (db *DB) Stat() *pgxpool.Stat { return db.pool.Stat() }

// Close closes every connection of the pool, waiting for those in use.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Sessions is the database's tokenstore.Store.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// Recordings is the database's flow.Storage.
func (db *DB) Recordings() *Recordings { return &Recordings{db: db} }

// migrate applies the embedded migrations that schema_migrations does not
// list yet, in one transaction under the migration lock: a second instance
// waits, then finds the schema up to date. PostgreSQL's DDL is
// transactional, so a failed migration leaves nothing half-done.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	sort.Strings(names)
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", lockMigrations); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS photoeditor;
			CREATE TABLE IF NOT EXISTS photoeditor.schema_migrations (
				version    INTEGER PRIMARY KEY,
				name       TEXT NOT NULL,
				applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
			)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM photoeditor.schema_migrations").Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(names) {
			return fmt.Errorf("database schema version %d is newer than this program (%d)", version, len(names))
		}
		for i := version; i < len(names); i++ {
			body, err := migrations.ReadFile(names[i])
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil { // no arguments: several statements may run
				return fmt.Errorf("apply %s: %w", path.Base(names[i]), err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO photoeditor.schema_migrations (version, name) VALUES ($1, $2)",
				i+1, path.Base(names[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// hash32 is the second half of a lock's key for a string.
func hash32(s string) int32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int32(h.Sum32())
}
