package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/postgres"
	"oauthdemo/authserver/store/postgres/pgtest"
	"oauthdemo/authserver/store/storetest"
)

// pg is this test binary's PostgreSQL server, started by the first test
// that needs one.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// migrated builds the template every test database is copied from.
func migrated(ctx context.Context, url string) error {
	s, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	return s.Close()
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pg.DatabaseFrom(t, "imagehost", migrated))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestInstancesStartingTogether opens one empty database from several
// goroutines released at once, as instances started together behind a load
// balancer would: every Open succeeds and each migration is applied once.
func TestInstancesStartingTogether(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	const instances = 8
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, instances)
	for range instances {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			s, err := postgres.Open(ctx, url)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var applied, versions int
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&applied, &versions); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir("migrations")
	if applied != len(files) || versions != len(files) {
		t.Fatalf("schema_migrations has %d rows for %d versions, want each of the %d migrations once", applied, versions, len(files))
	}
}

// TestReopenKeepsDataAndSchema reopens a database: the data stays and the
// migrations do not run again.
func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u1", Username: "alice", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.UserByUsername(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
}

// TestNewerSchemaRefused: a program must not run on a schema a newer
// version of it has migrated; it does not know what changed.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	url := pg.DatabaseFrom(t, "imagehost", migrated)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')")
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, url); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema newer than the program")
	}
}

// TestPoolCapsConnections releases a burst of requests at once: however many
// there are, one instance holds at most its pool's connections to
// PostgreSQL, the cap that keeps several instances under the server's
// max_connections.
func TestPoolCapsConnections(t *testing.T) {
	ctx := context.Background()
	url := pg.DatabaseFrom(t, "imagehost", migrated)
	cfg, err := postgres.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	limit := max(4, runtime.NumCPU()) // the documented default
	var mu sync.Mutex
	backends := map[uint32]bool{} // the server processes that answered
	cfg.ConnConfig.Tracer = backendTracer(func(pid uint32) {
		mu.Lock()
		defer mu.Unlock()
		backends[pid] = true
	})
	s, err := postgres.OpenConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const burst = 64
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	for range burst {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			if _, err := s.CountPhotos(ctx, "u-alice"); err != nil {
				t.Error(err)
			}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	if len(backends) == 0 || len(backends) > limit {
		t.Fatalf("%d requests at once used %d connections, want between 1 and the pool's %d", burst, len(backends), limit)
	}
}

// backendTracer reports the server process behind each query's connection.
type backendTracer func(pid uint32)

func (f backendTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	f(conn.PgConn().PID())
	return ctx
}

func (backendTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestErrorsHideThePassword: a database URL holds a password, and Open's
// errors end up in logs.
func TestErrorsHideThePassword(t *testing.T) {
	for _, url := range []string{
		"postgres://imagehost:s3cret-pw@127.0.0.1:1/imagehost?connect_timeout=5", // nothing listens there
		"postgres://imagehost:s3cret-pw@db.example/imagehost?pool_max_conns=many",
		"postgres://imagehost:s3cret-pw@db.example:port/imagehost",
	} {
		s, err := postgres.Open(context.Background(), url)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}

// TestPhotoQuotaAcrossInstances releases bursts of writes for one owner
// through two instances on one database, each with a pool large enough for
// every write to be in flight at once: between them they cannot take the
// owner past the quota, by the number of photos (uploads) or by bytes
// (photos replaced by larger ones). The conformance suite's burst goes
// through one pool of a few connections; this one is as concurrent as
// PostgreSQL allows.
func TestPhotoQuotaAcrossInstances(t *testing.T) {
	ctx := context.Background()
	url := pg.DatabaseFrom(t, "imagehost", migrated)
	const burst = 32
	var instances [2]*postgres.Store
	for i := range instances {
		cfg, err := postgres.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns, cfg.MinConns = burst/2, burst/2 // connected before the burst
		if instances[i], err = postgres.OpenConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		defer instances[i].Close()
	}
	at := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	photo := func(id, owner string, size int) store.Photo {
		return store.Photo{ID: id, Owner: owner, Title: "t", ContentType: "image/png", Data: make([]byte, size), CreatedAt: at, UpdatedAt: at}
	}
	// together runs write(i) for i < burst, half on each instance, all
	// released at once, and returns how many succeeded.
	together := func(write func(s *postgres.Store, i int) error) int {
		var ready, wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, burst)
		for i := range burst {
			ready.Add(1)
			wg.Go(func() {
				ready.Done()
				<-start
				errs <- write(instances[i%2], i)
			})
		}
		ready.Wait()
		close(start)
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, store.ErrQuotaExceeded) {
				t.Fatalf("a write in the burst: %v", err)
			}
		}
		return ok
	}

	for round := range 5 {
		owner := fmt.Sprint("owner-", round)
		// By count: a quota of 5 photos.
		created := together(func(s *postgres.Store, i int) error {
			return s.CreatePhoto(ctx, photo(fmt.Sprint(owner, "-new-", i), owner, 1), store.Quota{Photos: 5})
		})
		if n, _ := instances[0].CountPhotos(ctx, owner); created != 5 || n != 5 {
			t.Fatalf("round %d: %d of %d uploads succeeded and %d photos are stored, want 5 and 5", round, created, burst, n)
		}
		// By bytes: as many photos of 1 byte as writes in the burst, each
		// replaced by one of 101 bytes, with room for 10 to grow.
		for i := range burst {
			if err := instances[0].CreatePhoto(ctx, photo(fmt.Sprint(owner, "-old-", i), owner+"-bytes", 1), store.Quota{}); err != nil {
				t.Fatal(err)
			}
		}
		q := store.Quota{Bytes: burst + 10*100}
		replaced := together(func(s *postgres.Store, i int) error {
			return s.UpdatePhoto(ctx, photo(fmt.Sprint(owner, "-old-", i), owner+"-bytes", 101), q)
		})
		list, err := instances[1].ListPhotos(ctx, owner+"-bytes", store.PhotoCursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, p := range list {
			total += int64(p.Size)
		}
		if replaced != 10 || total != q.Bytes {
			t.Fatalf("round %d: %d of %d replacements succeeded and the owner holds %d bytes, want 10 and the quota of %d", round, replaced, burst, total, q.Bytes)
		}
	}
}

// TestRevocationsMigration upgrades a database from before the revocations
// table (schema version 4): what was revoked then (grants, the access-token
// deny list) is revoked after, and an existing client is kept, not a
// resource server.
func TestRevocationsMigration(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	names, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		if filepath.Base(name) >= "0005" {
			break
		}
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", i+1, filepath.Base(name)); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO users (id, username, password_hash, name, email, created_at) VALUES ('u1', 'alice', 'x', 'Alice', '', $1)`,
		`INSERT INTO clients (id, name, redirect_uris, post_logout_redirect_uris, grant_types, scope, backchannel_logout_uri,
			access_token_ttl_ms, owner_user_id, created_at) VALUES ('app', 'App', '{}', '{}', '{}', '', '', 0, '', $1),
			('console-app', 'Console', '{}', '{}', '{}', '', '', 0, 'u1', $1)`,
		`INSERT INTO grants (id, client_id, user_id, scope, session_id, created_at, revoked_at, revoke_reason)
			VALUES ('g-revoked', 'app', 'u1', '', '', $1, $1, 'reuse'), ('g-active', 'app', 'u1', '', '', $1, NULL, '')`,
		`INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('jti1', $1 + 3600000000000)`,
	} {
		if _, err := conn.Exec(ctx, q, at.UnixNano()); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.RevocationsOf(ctx, []store.RevocationKey{{Kind: store.RevokedGrant, ID: "g-revoked"},
		{Kind: store.RevokedGrant, ID: "g-active"}, {Kind: store.RevokedToken, ID: "jti1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.RevocationKey]time.Time{
		{Kind: store.RevokedGrant, ID: "g-revoked"}: at,
		{Kind: store.RevokedToken, ID: "jti1"}:      at.Add(time.Hour), // kept until the token would have expired
	}
	if len(got) != len(want) {
		t.Fatalf("after the migration: %+v, want the revoked grant and the deny-listed jti", got)
	}
	for _, r := range got {
		if !r.RevokedAt.Equal(want[r.RevocationKey]) {
			t.Fatalf("after the migration: %+v, want %v", got, want)
		}
	}
	c, err := s.ClientByID(ctx, "app")
	if err != nil || c.ResourceServer || c.Registrant != "" || !c.ExpiresAt.IsZero() {
		t.Fatalf("an existing client after the migration: %+v, %v; want it kept, not a resource server, the operator's, not expiring", c, err)
	}
	// Version 6: revocations are numbered, and a console client's
	// registrant is its owner.
	numbered, err := s.RevocationsSince(ctx, 0, 10)
	if err != nil || len(numbered) != 2 || numbered[0].Seq <= 0 || numbered[1].Seq <= numbered[0].Seq {
		t.Fatalf("RevocationsSince(0) after the migration = %+v, %v; want both, numbered upwards", numbered, err)
	}
	if c, err := s.ClientByID(ctx, "console-app"); err != nil || c.Registrant != "user:u1" {
		t.Fatalf("a console client after the migration: %+v, %v; want registrant user:u1", c, err)
	}
	if err := s.RevokeAccessToken(ctx, "after", at); err != nil {
		t.Fatal(err)
	}
	if next, err := s.RevocationsSince(ctx, numbered[1].Seq, 10); err != nil || len(next) != 1 || next[0].ID != "after" {
		t.Fatalf("a revocation after the migration: %+v, %v; want it numbered after the migrated ones", next, err)
	}
}

// TestAttemptsAcrossInstances: two pools on one database, as two instances
// would be, and a burst of sign-in attempts for one account spread over
// both, every reservation in flight at once. Exactly the limit are counted:
// the key's advisory lock makes the instances take turns.
func TestAttemptsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	url := pg.DatabaseFrom(t, "imagehost", migrated)
	const burst, max = 32, 5
	var instances [2]*postgres.Store
	for i := range instances {
		cfg, err := postgres.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns, cfg.MinConns = burst/2, burst/2 // connected before the burst
		if instances[i], err = postgres.OpenConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		defer instances[i].Close()
	}
	at := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	for round := range 5 {
		key := fmt.Sprint("login-account:alice-", round)
		var ready, wg sync.WaitGroup
		start := make(chan struct{})
		counted := make(chan bool, burst)
		for i := range burst {
			ready.Add(1)
			wg.Go(func() {
				ready.Done()
				<-start
				id, _, err := instances[i%2].ReserveAttempt(ctx, key, max, 5*time.Minute, at)
				if err != nil {
					t.Error(err)
				}
				counted <- id != 0
			})
		}
		ready.Wait()
		close(start)
		wg.Wait()
		close(counted)
		n := 0
		for ok := range counted {
			if ok {
				n++
			}
		}
		if n != max {
			t.Fatalf("round %d: %d of a burst of %d attempts over two instances were counted, want exactly %d", round, n, burst, max)
		}
	}
}

// TestAttemptsTableIsBounded: however many attempts are live, DeleteExpired
// leaves at most store.MaxAttempts, the newest.
func TestAttemptsTableIsBounded(t *testing.T) {
	ctx := context.Background()
	url := pg.DatabaseFrom(t, "imagehost", migrated)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	live := now.Add(time.Hour).UnixNano()
	if _, err := conn.Exec(ctx, "INSERT INTO attempts (key, expires_at) SELECT 'flood-' || i, $1 FROM generate_series(1, $2) AS i",
		live, store.MaxAttempts+500); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExpired(ctx, now); err != nil {
		t.Fatal(err)
	}
	var n int
	var oldest string
	if err := conn.QueryRow(ctx, "SELECT count(*), min(key) FILTER (WHERE key = 'flood-501') FROM attempts").Scan(&n, &oldest); err != nil {
		t.Fatal(err)
	}
	if n != store.MaxAttempts || oldest != "flood-501" {
		t.Fatalf("after the sweep %d attempts are left (the oldest kept %q), want %d from flood-501 on", n, oldest, store.MaxAttempts)
	}
}
