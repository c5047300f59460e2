package sqlite_test

import (
	"context"
	"database/sql"
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

// TestFileWithoutDPoPKeys: a file made before sessions had DPoP keys gets
// the column, and its sessions read back with none.
func TestFileWithoutDPoPKeys(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "sessions.db")
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE sessions (id TEXT PRIMARY KEY, subject TEXT NOT NULL, name TEXT NOT NULL, sid TEXT NOT NULL,
		access_token TEXT NOT NULL, refresh_token TEXT NOT NULL, id_token TEXT NOT NULL, expiry INTEGER NOT NULL,
		refreshes INTEGER NOT NULL, ended_reason TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
		INSERT INTO sessions VALUES ('old', 'alice', 'Alice', 'sid', 'at', 'rt', 'idt', 0, 0, '', 0, 0)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sess, err := s.Get(ctx, "old"); err != nil || sess.AccessToken != "at" || sess.DPoPKey != "" {
		t.Fatalf("an old session: %+v, %v", sess, err)
	}
}
