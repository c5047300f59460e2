package sqlite_test

import (
	"context"
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
