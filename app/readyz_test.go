package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// checkHealth asks /healthz and /readyz, and fails unless they answer
// 200 and wantReady.
func checkHealth(t *testing.T, appURL string, wantReady int) {
	t.Helper()
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": wantReady} {
		resp, err := http.Get(appURL + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != want {
			t.Fatalf("%s answered %d %q, want %d", path, resp.StatusCode, body, want)
		}
		// What is wrong goes to the log, never to whoever asks.
		if body != "ok\n" && body != "ready\n" && body != "not ready\n" {
			t.Fatalf("%s answered %q", path, body)
		}
	}
}

// TestReadyzFollowsTheDataDirectory: on SQLite, /readyz fails while the
// data directory cannot be written (here: it is gone), though the open
// database file still answers; /healthz, liveness, stays 200.
func TestReadyzFollowsTheDataDirectory(t *testing.T) {
	a := newTestApp(t)
	checkHealth(t, a.URL, http.StatusOK)
	moved := a.cfg.DataDir + ".moved"
	if err := os.Rename(a.cfg.DataDir, moved); err != nil {
		t.Fatal(err)
	}
	checkHealth(t, a.URL, http.StatusServiceUnavailable)
	if err := os.Rename(moved, a.cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	checkHealth(t, a.URL, http.StatusOK)
}

// TestReadyzFollowsPostgreSQL: on PostgreSQL, /readyz fails while the
// database refuses connections, and recovers with it.
func TestReadyzFollowsPostgreSQL(t *testing.T) {
	ctx := context.Background()
	a := newTestAppWith(t, onPostgres(t))
	checkHealth(t, a.URL, http.StatusOK)
	u, err := url.Parse(a.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := pgx.Connect(ctx, pg.Server(t).URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	exec("ALTER DATABASE " + ident + " ALLOW_CONNECTIONS false")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
	checkHealth(t, a.URL, http.StatusServiceUnavailable)
	exec("ALTER DATABASE " + ident + " ALLOW_CONNECTIONS true")
	checkHealth(t, a.URL, http.StatusOK)
}
