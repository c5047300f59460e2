package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"oauthdemo/app/tokenstore"
	"oauthdemo/app/tokenstore/sqlite"
	"oauthdemo/app/tokenstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkUpdate is the Update that every photos API call makes: the
// access token is still good, nothing changes. app/postgres has the same
// for PostgreSQL.
func BenchmarkUpdate(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sessions.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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

// TestFileIsPrivate: the database holds every connected user's tokens; it
// is created readable by its owner only, whatever the umask.
func TestFileIsPrivate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sessions.db")
	s, err := sqlite.Open(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("sessions.db is %v, want no access for group and others", perm)
	}
}
