// Package postgres implements store.Store on PostgreSQL (github.com/jackc/pgx
// with its pool), so that several ImageHost instances can share one
// database. It passes the same conformance suite as store/sqlite, and its
// files are split the same way, so the two can be read side by side.
//
// Settings, and why:
//   - A pgxpool pool per instance, of at most max(4, number of CPUs)
//     connections unless the URL says otherwise (pool_max_conns=N). The pool
//     is also the instance's cap on concurrent queries: a request beyond it
//     waits for a connection, for as long as its context allows. Keep the sum
//     over all instances below the server's max_connections (100 by default).
//   - Statement caching (pgx's default QueryExecModeCacheStatement): each
//     connection prepares a query the first time it runs it and afterwards
//     sends only its parameters, one round trip per query. The SQLite store
//     prepares its hot queries by hand; here every query gets that. Behind a
//     pooler in transaction mode that does not track prepared statements
//     (PgBouncer before 1.21), put default_query_exec_mode=exec in the URL.
//   - READ COMMITTED, PostgreSQL's default, for every statement and
//     transaction. Single-use values are taken by one conditional UPDATE
//     (... WHERE consumed_at IS NULL): a second, concurrent UPDATE of the same
//     row waits for the first to commit, then re-checks its WHERE against the
//     row as the first left it, finds it used and changes nothing. The one
//     write decided by a count of other rows is a photo quota's: two
//     uploads counting an owner's photos at once would both find room, so
//     each first takes an advisory lock keyed by the owner (photos.go).
//     Nothing needs REPEATABLE READ or SERIALIZABLE, nor the retries their
//     serialization failures would call for.
//   - Writes that must happen together are one statement, or one batch (a
//     pgx batch without BEGIN runs in one implicit transaction and one round
//     trip), or, where a later statement depends on an earlier result, a
//     transaction.
//   - Migrations are embedded and applied at Open, all in one transaction
//     that first takes an advisory lock (pg_advisory_xact_lock): instances
//     that start together take turns, and the later ones find the schema
//     up to date. PostgreSQL's DDL is transactional, so a failed migration
//     leaves nothing half-done.
//   - Times are BIGINT nanoseconds since 1970 in UTC, NULL when not set,
//     since TIMESTAMPTZ keeps only microseconds and the store.Store contract
//     is to give back the same instant (migrations/0001_init.sql).
//   - application_name=imagehost, unless the URL sets another, so that
//     pg_stat_activity shows whose connections these are.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"oauthdemo/authserver/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the advisory lock that migrations hold: any
// fixed number that nothing else on the database uses. This one spells
// "ImageHos" in ASCII.
const migrationLock int64 = 0x496d616765486f73

// Store is a store.Store backed by a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

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
		cfg.ConnConfig.RuntimeParams["application_name"] = "imagehost"
	}
	return cfg, nil
}

// Open connects to the database at databaseURL and applies any pending
// migrations.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with a parsed configuration (see ParseConfig).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection of the pool, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the embedded migrations that the schema_migrations table
// does not list yet, in one transaction under the migration lock.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	sort.Strings(names)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// Held until this transaction ends: a second instance waits here,
		// then sees the versions the first one recorded.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&version); err != nil {
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
			if strings.HasSuffix(names[i], usernameCaseMigration) {
				if err := caseTwins(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil { // no arguments: several statements may run
				return fmt.Errorf("apply %s: %w", path.Base(names[i]), err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
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

// usernameCaseMigration ends the name of the migration that makes usernames
// one name in any case; caseTwins runs before it.
const usernameCaseMigration = "_username_case.sql"

// caseTwins returns a *store.CaseTwinsError naming the usernames that
// differ only in case, if there are any: the migration's unique index
// would fail on them with a bare constraint error, and which account
// stays is the operator's choice, not the store's.
func caseTwins(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT array_agg(username ORDER BY username COLLATE "C") FROM users
		GROUP BY lower(username COLLATE "C") HAVING count(*) > 1 ORDER BY lower(username COLLATE "C")`)
	if err != nil {
		return fmt.Errorf("find usernames that differ only in case: %w", err)
	}
	groups, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
	if err != nil {
		return fmt.Errorf("find usernames that differ only in case: %w", err)
	}
	if len(groups) > 0 {
		return &store.CaseTwinsError{Twins: groups}
	}
	return nil
}

// inTx runs fn in a READ COMMITTED transaction, committing if it returns
// nil and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
}

// execBatch sends the queued statements in one round trip. Without BEGIN
// they run in one implicit transaction: all of them, or none.
func (s *Store) execBatch(ctx context.Context, b *pgx.Batch) error {
	return s.pool.SendBatch(ctx, b).Close()
}

// collect scans every row of rows with scan, and closes rows. With no rows
// it returns an empty, non-nil slice.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// nanos is how a time is stored: nanoseconds since 1970 in UTC, or NULL
// for the zero time. The instant survives; the time zone does not need to.
// Nanoseconds in an int64 reach from 1678 to 2262; a time beyond is stored
// as the nearest end, so that comparisons stay right (an expiry in 3000 is
// still after now), where UnixNano would wrap around.
func nanos(t time.Time) any {
	switch {
	case t.IsZero():
		return nil
	case t.Before(time.Unix(0, math.MinInt64)):
		return int64(math.MinInt64)
	case t.After(time.Unix(0, math.MaxInt64)):
		return int64(math.MaxInt64)
	}
	return t.UnixNano()
}

// timeField lets Scan fill a time.Time from nanos, in UTC.
type timeField struct{ t *time.Time }

func (f timeField) ScanInt64(v pgtype.Int8) error {
	if !v.Valid {
		*f.t = time.Time{}
		return nil
	}
	*f.t = time.Unix(0, v.Int64).UTC()
	return nil
}

// list stores a nil list as an empty array: the columns are NOT NULL, and
// pgx sends a nil slice as NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// PostgreSQL's error codes (SQLSTATE) that mean something to callers.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	// characterNotInRepertoire: an argument is not text PostgreSQL can
	// hold, bytes that are not UTF-8 or a NUL ("invalid byte sequence for
	// encoding UTF8"). See store.Text.
	characterNotInRepertoire = "22021"
)

// mapErr turns driver errors into the store's errors.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation:
			return fmt.Errorf("%s: %w", op, store.ErrDuplicate)
		case foreignKeyViolation: // it names a user or client that does not exist
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		case characterNotInRepertoire:
			// A key from outside that no text column can hold, a client_id
			// of "\xff" or a request id with a NUL: no row can have it, so
			// a lookup by it finds nothing, as on SQLite. Mapped here, once,
			// rather than checked before each query, so that no lookup can
			// forget it. Writes of such text are refused before they get
			// here (store.Text); one that slips through fails as not found,
			// with nothing stored.
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// mustAffect returns ErrNotFound when an UPDATE or DELETE matched no row.
func mustAffect(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// Ping takes a connection from the pool, connecting one if none is idle,
// and sends it an empty query.
func (s *Store) Ping(ctx context.Context) error {
	return mapErr("postgres: ping", s.pool.Ping(ctx))
}

// Stat returns the pool's figures, for the server's metrics.
func (s *Store) Stat() *pgxpool.Stat { return s.pool.Stat() }
