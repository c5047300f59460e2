package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/app/flow"
	"oauthdemo/app/flow/flowtest"
	"oauthdemo/app/postgres"
	"oauthdemo/app/tokenstore"
	"oauthdemo/app/tokenstore/storetest"
	"oauthdemo/authserver/store/postgres/pgtest"
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
	db, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	return db.Close()
}

// open opens the database at url for the test, as one instance would.
func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func fresh(t *testing.T) string { return pg.DatabaseFrom(t, "photoeditor", migrated) }

func TestSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store { return open(t, fresh(t)).Sessions() })
}

// TestSessionsShared: two instances, each with its own pool, on one
// database.
func TestSessionsShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (tokenstore.Store, tokenstore.Store) {
		url := fresh(t)
		return open(t, url).Sessions(), open(t, url).Sessions()
	})
}

// TestRecordings runs with a pool large enough for the suite's bursts to
// reach PostgreSQL at once, not a few at a time.
func TestRecordings(t *testing.T) {
	flowtest.Run(t, func(t *testing.T) flow.Storage { return open(t, fresh(t)+"&pool_max_conns=32").Recordings() })
}

// roundTrips counts the queries, and batches, whose context carries a
// counter (countRoundTrips). Once a connection has prepared a statement
// each of them is one round trip to PostgreSQL.
type roundTrips struct{}

type roundTripsKey struct{}

func countRoundTrips(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, roundTripsKey{}, n), n
}

func (roundTrips) add(ctx context.Context) context.Context {
	if n, ok := ctx.Value(roundTripsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	return ctx
}

func (r roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return r.add(ctx)
}
func (roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return r.add(ctx)
}
func (roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestPoolOfOneIsRefused: a refresh holds a connection while its recording
// needs another; with one, each refresh would wait for its recording to
// time out.
func TestPoolOfOneIsRefused(t *testing.T) {
	if db, err := postgres.Open(context.Background(), fresh(t)+"&pool_max_conns=1"); err == nil {
		db.Close()
		t.Fatal("a pool of one connection was accepted")
	}
}

// TestRoundTrips is the budget of round trips to PostgreSQL: a recording
// is paid by the request it records, and a session's Update by every
// request that calls the photos API. A new round trip on these paths
// should be a decision, made here. Each operation runs twice, so that the
// second finds its statements prepared on the connection.
func TestRoundTrips(t *testing.T) {
	cfg, err := postgres.ParseConfig(fresh(t) + "&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = roundTrips{}
	db, err := postgres.OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sessions, recordings := db.Sessions(), db.Recordings()
	now := time.Now()
	if err := sessions.Create(context.Background(), tokenstore.Session{ID: "s", Subject: "alice", AccessToken: "at", RefreshToken: "rt",
		Expiry: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ex := flow.Exchange{Step: flow.StepAPI, Request: flow.Message{Method: "GET", URL: "http://127.0.0.1:9090/api/photos"}}
	tests := []struct {
		name string
		want int64
		op   func(ctx context.Context) error
	}{
		{"record an exchange", 1, func(ctx context.Context) error {
			_, err := recordings.Append(ctx, "f", ex, now)
			return err
		}},
		{"replace a recorded exchange", 1, func(ctx context.Context) error { ex.Seq = 1; return recordings.Replace(ctx, "f", ex) }},
		{"read a flow", 1, func(ctx context.Context) error { _, err := recordings.Exchanges(ctx, "f"); return err }},
		{"read a session", 1, func(ctx context.Context) error { _, err := sessions.Get(ctx, "s"); return err }},
		{"update a session, no change", 2, func(ctx context.Context) error {
			return sessions.Update(ctx, "s", func(*tokenstore.Session) error { return nil })
		}},
		{"update a session, refreshed", 2, func(ctx context.Context) error {
			return sessions.Update(ctx, "s", func(s *tokenstore.Session) error { s.Refreshes++; return nil })
		}},
	}
	for _, tc := range tests {
		for range 2 {
			ctx, n := countRoundTrips(context.Background())
			if err := tc.op(ctx); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if n.Load() != tc.want {
				t.Errorf("%s: %d round trips, want %d", tc.name, n.Load(), tc.want)
			}
		}
	}
}

// BenchmarkRecordingsAppend records an API call into a flow kept at its
// bounds, as a busy browser's would be.
func BenchmarkRecordingsAppend(b *testing.B) {
	r := open(b, pg.DatabaseFrom(b, "photoeditor", migrated)).Recordings()
	benchmarkAppend(b, r)
}

// benchmarkAppend is the benchmark of Append, for any flow.Storage.
func benchmarkAppend(b *testing.B, s flow.Storage) {
	ctx := context.Background()
	ex := flow.Exchange{Step: flow.StepAPI, Channel: "back channel (server to server)",
		Request:  flow.Message{Method: "GET", URL: "http://127.0.0.1:9090/api/photos", Headers: []flow.KV{{Name: "Authorization", Value: "Bearer eyJhbGciOiJFUzI1NiJ9.payload.signature"}}},
		Response: flow.Message{Status: 200, Body: strings.Repeat(`{"id":"p1","title":"Sunset over the sea"},`, 40)}}
	for i := range flow.MaxExchanges {
		if _, err := s.Append(ctx, fmt.Sprint("other-", i), ex, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.Append(ctx, "f", ex, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionsUpdate is the Update that every photos API call makes:
// the access token is still good, nothing changes.
func BenchmarkSessionsUpdate(b *testing.B) {
	s := open(b, pg.DatabaseFrom(b, "photoeditor", migrated)).Sessions()
	now := time.Now()
	if err := s.Create(context.Background(), tokenstore.Session{ID: "s", Subject: "alice", Expiry: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.Update(context.Background(), "s", func(*tokenstore.Session) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUpdatesLeaveHalfThePool: while ImageHost is slow, a burst of
// refreshes of different sessions holds at most half of the pool's
// connections; the other half still serves a login's new session, a
// back-channel logout and a recording.
func TestUpdatesLeaveHalfThePool(t *testing.T) {
	db := open(t, fresh(t)+"&pool_max_conns=4")
	sessions, recordings := db.Sessions(), db.Recordings()
	ctx := context.Background()
	now := time.Now()
	const n = 8
	for i := range n {
		if err := sessions.Create(ctx, tokenstore.Session{ID: fmt.Sprint("s", i), Subject: fmt.Sprint("user", i), Expiry: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var inside, most atomic.Int32
	release := make(chan struct{})
	var done sync.WaitGroup
	for i := range n {
		done.Go(func() {
			err := sessions.Update(ctx, fmt.Sprint("s", i), func(s *tokenstore.Session) error {
				in := inside.Add(1)
				defer inside.Add(-1)
				for m := most.Load(); in > m && !most.CompareAndSwap(m, in); m = most.Load() {
				}
				<-release // at ImageHost
				s.Refreshes++
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	// While the refreshes wait on ImageHost, the rest of the app works.
	deadline := time.Now().Add(10 * time.Second)
	for inside.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sessions.Create(short, tokenstore.Session{ID: "new", Subject: "newcomer", Expiry: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Errorf("a login during the burst: %v", err)
	}
	if _, err := sessions.End(short, "newcomer", "", "signed out"); err != nil {
		t.Errorf("a back-channel logout during the burst: %v", err)
	}
	if _, err := recordings.Append(short, "f", flow.Exchange{Step: flow.StepRefresh}, now); err != nil {
		t.Errorf("a recording during the burst: %v", err)
	}
	close(release)
	done.Wait()
	if m := most.Load(); m != 2 {
		t.Fatalf("%d refreshes held a connection at once, want 2 (half of the pool of 4)", m)
	}
}
