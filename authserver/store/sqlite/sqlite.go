// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go, no cgo).
//
// Settings, and why:
//   - WAL journal: readers never block the writer and the writer never blocks
//     readers.
//   - One writer connection, several reader connections: SQLite allows one
//     writer at a time anyway; queueing writers in Go instead of in SQLite's
//     busy handler means no "database is locked" under load.
//   - BEGIN IMMEDIATE for write transactions: the write lock is taken at the
//     start, so a transaction never fails half-way when upgrading from read.
//   - synchronous=NORMAL: in WAL mode a crash of the process never corrupts
//     the database or loses a committed transaction; only a power cut can
//     lose the last few commits. That is the trade-off a laptop demo wants.
//   - foreign_keys=ON and a busy timeout on every connection.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"oauthdemo/authserver/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store backed by one SQLite file.
type Store struct {
	write *sql.DB // exactly one connection
	read  *sql.DB
	// Prepared once: the reads on the hot paths of the token endpoint and
	// the photos API skip SQLite's query compilation.
	hot hotStatements
	// proofs is the record of accepted DPoP proofs, in memory (dpop.go);
	// nil until Open has read it.
	proofs *dpopRecord
}

type hotStatements struct {
	clientByID, userByID, refreshToken, grantByID, revocationsOf, listPhotos, deviceByHash *sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies any
// pending migrations.
func Open(ctx context.Context, file string) (*Store, error) {
	// The database holds every secret ImageHost keeps: it is created
	// readable by its owner only, whatever the umask. SQLite gives its
	// journal files the database's permissions.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", file, err)
	}
	f.Close()
	pragmas := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(ON)", "synchronous(NORMAL)"} {
		pragmas.Add("_pragma", p)
	}
	writeDSN := "file:" + file + "?" + pragmas.Encode() + "&_txlock=immediate"
	write, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)

	pragmas.Add("_pragma", "query_only(ON)")
	read, err := sql.Open("sqlite", "file:"+file+"?"+pragmas.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	n := max(4, runtime.NumCPU()*2)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)

	s := &Store{write: write, read: read}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.proofs = newDPoPRecord()
	if err := s.loadDPoPProofs(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepare compiles the hot queries once.
func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.hot.clientByID, "SELECT " + clientColumns + " FROM clients WHERE id = ?"},
		{&s.hot.userByID, "SELECT " + userColumns + " FROM users WHERE id = ?"},
		{&s.hot.refreshToken, refreshTokenQuery},
		{&s.hot.grantByID, "SELECT " + grantColumns + " FROM grants WHERE id = ?"},
		{&s.hot.revocationsOf, revocationsOfQuery},
		{&s.hot.listPhotos, listPhotosQuery},
		{&s.hot.deviceByHash, deviceByHashQuery},
	} {
		stmt, err := s.read.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return nil
}

// Close writes the record of DPoP proofs to the database, and closes the
// prepared statements and both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.proofs != nil {
		errs = append(errs, s.saveDPoPProofs(context.Background()))
	}
	for _, stmt := range []*sql.Stmt{s.hot.clientByID, s.hot.userByID, s.hot.refreshToken, s.hot.grantByID,
		s.hot.revocationsOf, s.hot.listPhotos, s.hot.deviceByHash} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(append(errs, s.read.Close(), s.write.Close())...)
}

// IntegrityCheck runs SQLite's own consistency check; it returns nil when
// the database file is sound.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	var result string
	if err := s.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("sqlite: integrity check: %s", result)
	}
	return nil
}

// migrate applies the embedded migrations newer than the database's
// user_version, each in its own transaction together with the version bump.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	var version int
	if err := s.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program (%d)", version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("sqlite: read %s: %w", names[i], err)
		}
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if strings.HasSuffix(names[i], usernameCaseMigration) {
				if err := caseTwins(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: apply %s: %w", path.Base(names[i]), err)
		}
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
func caseTwins(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT group_concat(username, char(10)) FROM
		(SELECT username, lower(username) AS folded FROM users ORDER BY username)
		GROUP BY folded HAVING count(*) > 1 ORDER BY folded`)
	if err != nil {
		return fmt.Errorf("find usernames that differ only in case: %w", err)
	}
	defer rows.Close()
	var twins store.CaseTwinsError
	for rows.Next() {
		var group string
		if err := rows.Scan(&group); err != nil {
			return fmt.Errorf("find usernames that differ only in case: %w", err)
		}
		twins.Twins = append(twins.Twins, strings.Split(group, "\n"))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find usernames that differ only in case: %w", err)
	}
	if len(twins.Twins) > 0 {
		return &twins
	}
	return nil
}

// inTx runs fn in a write transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// timeLayout is fixed-width so that text comparison orders times.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// fmtTime formats t in UTC; the zero time is stored as "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// parseTime is the inverse of fmtTime.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: bad time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// timeField lets Scan fill a time.Time from its text form.
type timeField struct{ t *time.Time }

func (f timeField) Scan(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("sqlite: time column holds %T", v)
	}
	t, err := parseTime(s)
	*f.t = t
	return err
}

// listField lets Scan fill a []string from a JSON array.
type listField struct{ l *[]string }

func (f listField) Scan(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("sqlite: list column holds %T", v)
	}
	*f.l = nil
	return json.Unmarshal([]byte(s), f.l)
}

func fmtList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// mapErr turns driver errors into the store's errors.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%s: %w", op, store.ErrDuplicate)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// mustAffect returns ErrNotFound when an UPDATE or DELETE matched no row.
func mustAffect(op string, res sql.Result, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// Ping runs a query on a reader connection and one on the writer, which
// waits for a write under way: each answers while the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.read, s.write} {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return mapErr("sqlite: ping", err)
		}
	}
	return nil
}

// PoolStats returns the figures of the two connection pools, the writer's
// (one connection) and the readers', for the server's metrics.
func (s *Store) PoolStats() map[string]sql.DBStats {
	return map[string]sql.DBStats{"write": s.write.Stats(), "read": s.read.Stats()}
}
