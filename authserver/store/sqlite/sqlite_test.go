package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
	"oauthdemo/authserver/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "imagehost.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "imagehost.db")
	s, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, file) // migrations must not run twice
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.UserByUsername(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDPoPProofsOutliveARestart: the store keeps the record of DPoP proofs
// in memory; closed and opened again, it still refuses a proof it accepted
// before, and still sweeps it once expired.
func TestDPoPProofsOutliveARestart(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "imagehost.db")
	now := time.Now()
	s, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseDPoPProof(ctx, []byte("proof"), now.Add(time.Minute), now, 1600); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.UseDPoPProof(ctx, []byte("proof"), now.Add(time.Minute), now, 1600); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Fatalf("a proof accepted before the restart, presented after it: %v, want ErrAlreadyUsed", err)
	}
	if err := s.DeleteExpired(ctx, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseDPoPProof(ctx, []byte("proof"), now.Add(3*time.Minute), now.Add(2*time.Minute), 1600); err != nil {
		t.Fatalf("after its expiry was swept: %v", err)
	}
}

// TestAttemptsTableIsBounded: however many attempts are live, DeleteExpired
// leaves at most store.MaxAttempts, the newest.
func TestAttemptsTableIsBounded(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "imagehost.db")
	s, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	live := now.Add(time.Hour).Format("2006-01-02T15:04:05.000000000Z")
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO attempts (key, expires_at) SELECT 'flood-' || i, ? FROM n`, store.MaxAttempts+500, live); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExpired(ctx, now); err != nil {
		t.Fatal(err)
	}
	var n int
	var oldest sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT count(*), min(CASE WHEN key = 'flood-501' THEN key END) FROM attempts").Scan(&n, &oldest); err != nil {
		t.Fatal(err)
	}
	if n != store.MaxAttempts || oldest.String != "flood-501" {
		t.Fatalf("after the sweep %d attempts are left (the oldest kept %q), want %d from flood-501 on", n, oldest.String, store.MaxAttempts)
	}
}
