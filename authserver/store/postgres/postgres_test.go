package postgres_test

import (
	"context"
	"os"
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
