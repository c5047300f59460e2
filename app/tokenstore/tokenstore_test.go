package tokenstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMilli(time.Now().UnixMilli())
	a := Session{ID: "a", Subject: "alice", SID: "sid-1", AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(time.Minute), CreatedAt: now, UpdatedAt: now}
	b := Session{ID: "b", Subject: "alice", SID: "sid-2", AccessToken: "at2", CreatedAt: now, UpdatedAt: now}
	c := Session{ID: "c", Subject: "bob", SID: "sid-3", AccessToken: "at3", CreatedAt: now, UpdatedAt: now}
	for _, sess := range []Session{a, b, c} {
		if err := s.Save(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, "a")
	if err != nil || got.RefreshToken != "rt" || !got.Expiry.Equal(a.Expiry) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	a.Refreshes, a.AccessToken = 1, "at-new"
	if err := s.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "a"); got.AccessToken != "at-new" || got.Refreshes != 1 {
		t.Fatalf("after update = %+v", got)
	}
	// Back-channel logout by sid ends only that session.
	if n, err := s.End(ctx, "alice", "sid-1", "signed out"); err != nil || n != 1 {
		t.Fatalf("End by sid = %d, %v", n, err)
	}
	if got, _ := s.Get(ctx, "a"); got.EndedReason != "signed out" || got.AccessToken != "" || got.RefreshToken != "" {
		t.Fatalf("ended session keeps tokens: %+v", got)
	}
	if got, _ := s.Get(ctx, "b"); got.EndedReason != "" {
		t.Fatal("another session of the same user was ended by sid")
	}
	// By subject: all of alice's, none of bob's.
	if n, _ := s.End(ctx, "alice", "", "revoked"); n != 1 {
		t.Fatalf("End by subject ended %d, want 1 (a was ended already)", n)
	}
	if got, _ := s.Get(ctx, "c"); got.EndedReason != "" {
		t.Fatal("bob's session was ended")
	}
	if _, err := s.End(ctx, "", "", "x"); err == nil {
		t.Fatal("End with neither subject nor sid must fail")
	}
	if err := s.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}
