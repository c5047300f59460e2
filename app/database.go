package main

// Where PhotoEditorApp keeps its state: the sessions with their tokens, and
// the flow inspector's recordings. One instance keeps sessions in a SQLite
// file in its data directory and recordings in memory; several instances
// behind a load balancer, with no sticky sessions, share a PostgreSQL
// database for both, so that each of a browser's requests may land on any
// instance.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"oauthdemo/app/flow"
	"oauthdemo/app/postgres"
	"oauthdemo/app/tokenstore"
	"oauthdemo/app/tokenstore/sqlite"
)

// database is the app's state, opened.
type database struct {
	sessions   tokenstore.Store
	recordings flow.Storage
	// ready reports whether the state can be read and written now
	// (/readyz).
	ready func(ctx context.Context) error
	// pools is what keeps the connection pools, for /metrics.
	pools any
	close func() error
}

// openDatabase opens PostgreSQL when cfg names one, and SQLite in the data
// directory otherwise.
func openDatabase(ctx context.Context, cfg Config) (database, error) {
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return database{}, err
		}
		return database{sessions: db.Sessions(), recordings: db.Recordings(), ready: db.Ping, pools: db, close: db.Close}, nil
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "sessions.db"))
	if err != nil {
		return database{}, err
	}
	ready := func(ctx context.Context) error { return errors.Join(store.Ping(ctx), writable(cfg.DataDir)) }
	return database{sessions: store, recordings: flow.NewMemory(), ready: ready, pools: store, close: store.Close}, nil
}

// writable reports whether a file can be written in dir: SQLite needs to,
// for its journal, and goes on answering from a file already open even
// when its directory is gone or read-only. One file, rewritten each time.
func writable(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, ".readyz"), []byte("ok\n"), 0o600); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}
