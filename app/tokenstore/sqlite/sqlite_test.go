package sqlite_test

import (
	"context"
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
