package main

// Where PhotoEditorApp keeps its state: the sessions with their tokens, and
// the flow inspector's recordings. One instance keeps sessions in a SQLite
// file in its data directory and recordings in memory; several instances
// behind a load balancer, with no sticky sessions, share a PostgreSQL
// database for both, so that each of a browser's requests may land on any
// instance.

import (
	"context"
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
	close      func() error
}

// openDatabase opens PostgreSQL when cfg names one, and SQLite in the data
// directory otherwise.
func openDatabase(ctx context.Context, cfg Config) (database, error) {
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return database{}, err
		}
		return database{sessions: db.Sessions(), recordings: db.Recordings(), close: db.Close}, nil
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "sessions.db"))
	if err != nil {
		return database{}, err
	}
	return database{sessions: store, recordings: flow.NewMemory(), close: store.Close}, nil
}
