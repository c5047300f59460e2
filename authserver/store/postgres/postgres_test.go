package postgres_test

import (
	"context"
	"os"
	"runtime"
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
