package main

// PhotoEditorApp on PostgreSQL (PHOTOEDITOR_DATABASE_URL), against the
// throwaway PostgreSQL of authserver/store/postgres/pgtest, a test helper
// that imports nothing of ImageHost's.

import (
	"io"
	"os"
	"strings"
	"testing"

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

// Session keys for instances that share a database: the same on each.
const (
	testSessionAuthKey       = "6b6579206f66207468652074657374732073657373696f6e20636f6f6b6965732c2061757468656e7469636174696f6e2c203634206279746573206c6f6e6721"
	testSessionEncryptionKey = "6b6579206f66207468652074657374732073657373696f6e20636f6f6b696573"
)

// onPostgres configures the app for a new, empty PostgreSQL database.
func onPostgres(t *testing.T) func(*Config) {
	url := pg.Database(t)
	return func(cfg *Config) {
		cfg.DatabaseURL, cfg.SessionAuthKey, cfg.SessionEncryptionKey = url, testSessionAuthKey, testSessionEncryptionKey
	}
}

// eachStore runs test with the app on SQLite (the default) and on
// PostgreSQL.
func eachStore(t *testing.T, test func(t *testing.T, configure func(*Config))) {
	t.Run("sqlite", func(t *testing.T) { test(t, nil) })
	t.Run("postgres", func(t *testing.T) { test(t, onPostgres(t)) })
}

// TestConnectOnPostgres: the whole flow, with the sessions and the
// recordings in PostgreSQL; the inspector shows the flow from there.
func TestConnectOnPostgres(t *testing.T) {
	a := newTestAppWith(t, onPostgres(t))
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	if !strings.Contains(page, "Sunset over the sea") {
		t.Fatal("no gallery")
	}
	if s := a.session(u); s.Subject == "" || s.RefreshToken == "" {
		t.Fatalf("the session in PostgreSQL: %+v", s)
	}
	_, inspector := u.get(a.URL + "/flow")
	for _, step := range []string{`data-step="1"`, `data-step="2"`, `data-step="4-5"`, `data-step="6-7"`} {
		if !strings.Contains(inspector, step) {
			t.Errorf("the inspector lacks %s", step)
		}
	}
}

// TestDatabaseURLSettings: a database URL is a postgres:// URL, and comes
// with session keys: instances that generated their own would each sign out
// the browsers whose cookies another instance set.
func TestDatabaseURLSettings(t *testing.T) {
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return map[string]string{"PHOTOEDITOR_CLIENT_SECRET": "s"}[k]
		}
	}
	keys := map[string]string{"PHOTOEDITOR_SESSION_AUTH_KEY": testSessionAuthKey, "PHOTOEDITOR_SESSION_ENCRYPTION_KEY": testSessionEncryptionKey}
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"none: SQLite", nil, true},
		{"postgres with keys", map[string]string{"PHOTOEDITOR_DATABASE_URL": "postgres://app:secret@db.example/photoeditor"}, true},
		{"postgresql with keys", map[string]string{"PHOTOEDITOR_DATABASE_URL": "postgresql://db.example/photoeditor"}, true},
		{"without keys", map[string]string{"PHOTOEDITOR_DATABASE_URL": "postgres://db.example/photoeditor", "PHOTOEDITOR_SESSION_AUTH_KEY": "", "PHOTOEDITOR_SESSION_ENCRYPTION_KEY": ""}, false},
		{"not postgres", map[string]string{"PHOTOEDITOR_DATABASE_URL": "mysql://app:secret@db.example/photoeditor"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range keys {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			_, err := parseConfig(nil, env(e), io.Discard)
			if (err == nil) != tc.ok {
				t.Fatalf("parseConfig: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error repeats the URL's password: %v", err)
			}
		})
	}
}
