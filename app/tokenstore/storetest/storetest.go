// Package storetest is the contract of tokenstore.Store: a conformance
// suite that every implementation must pass unchanged.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tokenstore.Store { return openFresh(t) })
//	}
//
// A store that several instances share also runs RunShared, with two
// Stores on one database, as two instances would hold them.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oauthdemo/app/tokenstore"
)

// Run runs the suite; newStore must return an empty store for each call.
func Run(t *testing.T, newStore func(t *testing.T) tokenstore.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, tokenstore.Store)
	}{
		{"create and get", testCreateGet},
		{"not found", testNotFound},
		{"update saves what changed", testUpdate},
		{"update saves after its context ended", testUpdateOutlivesContext},
		{"end", testEnd},
		{"update of an ended session", testUpdateEnded},
		{"end during an update is not undone", testEndDuringUpdate},
		{"delete during an update is not undone", testDeleteDuringUpdate},
		{"updates take turns", func(t *testing.T, s tokenstore.Store) { testTurns(t, s, s) }},
		{"delete older than", testDeleteOlderThan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// RunShared runs the part of the contract that is about instances:
// newStores returns two Stores on one new, empty database.
func RunShared(t *testing.T, newStores func(t *testing.T) (a, b tokenstore.Store)) {
	t.Run("updates take turns across instances", func(t *testing.T) {
		a, b := newStores(t)
		testTurns(t, a, b)
	})
	t.Run("an end at another instance during an update is not undone", func(t *testing.T) {
		a, b := newStores(t)
		testEndDuringUpdateAt(t, a, b)
	})
}

// t0 has a non-UTC zone and nanoseconds on purpose: the store gives back
// the same instant to the millisecond, in UTC.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// session returns a live session of subject with ImageHost session sid.
func session(id, subject, sid string) tokenstore.Session {
	return tokenstore.Session{ID: id, Subject: subject, Name: "Name of " + subject, SID: sid,
		AccessToken: "at-" + id, RefreshToken: "rt-" + id, IDToken: "idt-" + id, DPoPKey: "v1.sealed-key-of-" + id,
		Expiry: t0.Add(5 * time.Minute), CreatedAt: t0, UpdatedAt: t0}
}

func create(t *testing.T, s tokenstore.Store, sessions ...tokenstore.Session) {
	t.Helper()
	for _, sess := range sessions {
		must(t, s.Create(context.Background(), sess))
	}
}

func get(t *testing.T, s tokenstore.Store, id string) tokenstore.Session {
	t.Helper()
	sess, err := s.Get(context.Background(), id)
	must(t, err)
	return sess
}

func testCreateGet(t *testing.T, s tokenstore.Store) {
	want := session("a", "alice", "sid-1")
	want.Refreshes = 3
	create(t, s, want)
	got := get(t, s, "a")
	for _, tm := range []*time.Time{&got.Expiry, &got.CreatedAt, &got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("a time came back in %v, want UTC", tm.Location())
		}
	}
	ms := func(tm time.Time) time.Time { return tm.Truncate(time.Millisecond).UTC() }
	want.Expiry, want.CreatedAt, want.UpdatedAt = ms(want.Expiry), ms(want.CreatedAt), ms(want.UpdatedAt)
	if got != want {
		t.Fatalf("Get = %+v\nwant %+v", got, want)
	}
	if err := s.Create(context.Background(), session("a", "mallory", "sid-9")); err == nil {
		t.Fatal("a second Create with the same id succeeded")
	}
	if got := get(t, s, "a"); got.Subject != "alice" {
		t.Fatalf("a second Create replaced the session: %+v", got)
	}
}

func testNotFound(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Get of a missing session: %v, want ErrNotFound", err)
	}
	called := false
	err := s.Update(ctx, "nobody", func(*tokenstore.Session) error { called = true; return nil })
	if !errors.Is(err, tokenstore.ErrNotFound) || called {
		t.Fatalf("Update of a missing session: %v (change called: %v), want ErrNotFound", err, called)
	}
	must(t, s.Delete(ctx, "nobody"))
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatal("Delete created something")
	}
}

func testUpdate(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	create(t, s, session("a", "alice", "sid-1"))
	later := t0.Add(time.Hour).Truncate(time.Millisecond)
	must(t, s.Update(ctx, "a", func(sess *tokenstore.Session) error {
		if sess.RefreshToken != "rt-a" {
			t.Errorf("change saw %+v", sess)
		}
		sess.AccessToken, sess.RefreshToken, sess.IDToken, sess.DPoPKey = "at-2", "rt-2", "idt-2", ""
		sess.Expiry, sess.Refreshes, sess.UpdatedAt = later, 1, later
		sess.Subject, sess.Name, sess.SID, sess.CreatedAt = "mallory", "Mallory", "sid-9", later // not the tokens: not saved
		return nil
	}))
	got := get(t, s, "a")
	if got.AccessToken != "at-2" || got.RefreshToken != "rt-2" || got.IDToken != "idt-2" || got.DPoPKey != "" || got.Refreshes != 1 ||
		!got.Expiry.Equal(later) || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after Update: %+v", got)
	}
	if got.Subject != "alice" || got.Name != "Name of alice" || got.SID != "sid-1" || !got.CreatedAt.Equal(t0.Truncate(time.Millisecond)) {
		t.Fatalf("Update changed who the session is: %+v", got)
	}
	// change's error comes back, and what it changed is saved all the same.
	refused := errors.New("refused")
	err := s.Update(ctx, "a", func(sess *tokenstore.Session) error {
		sess.AccessToken, sess.RefreshToken, sess.EndedReason = "", "", "ImageHost refused"
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Update returned %v, want change's error", err)
	}
	if got := get(t, s, "a"); got.EndedReason != "ImageHost refused" || got.RefreshToken != "" {
		t.Fatalf("a change that failed was not saved: %+v", got)
	}
}

// testUpdateOutlivesContext: the browser goes away while the refresh is at
// ImageHost, which rotates the refresh token all the same; the new one
// must be kept, or the session would hold only the spent one.
func testUpdateOutlivesContext(t *testing.T, s tokenstore.Store) {
	create(t, s, session("a", "alice", "sid-1"))
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Update(ctx, "a", func(sess *tokenstore.Session) error {
		cancel()
		sess.AccessToken, sess.RefreshToken, sess.Refreshes = "at-rotated", "rt-rotated", 1
		return nil
	})
	if err != nil {
		t.Fatalf("Update whose context ended during change: %v", err)
	}
	if got := get(t, s, "a"); got.RefreshToken != "rt-rotated" || got.Refreshes != 1 {
		t.Fatalf("the rotated refresh token was lost: %+v", got)
	}
}

func testEnd(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	create(t, s, session("a", "alice", "sid-1"), session("b", "alice", "sid-2"), session("c", "bob", "sid-3"))
	// Back-channel logout by sid ends only that session.
	if n, err := s.End(ctx, "alice", "sid-1", "signed out"); err != nil || n != 1 {
		t.Fatalf("End by sid = %d, %v", n, err)
	}
	if got := get(t, s, "a"); got.EndedReason != "signed out" || got.AccessToken != "" || got.RefreshToken != "" || got.IDToken != "" || got.DPoPKey != "" {
		t.Fatalf("ended session keeps tokens or its DPoP key: %+v", got)
	}
	if get(t, s, "b").EndedReason != "" {
		t.Fatal("another session of the same user was ended by sid")
	}
	// A sid with another subject's name ends nothing.
	if n, _ := s.End(ctx, "bob", "sid-2", "x"); n != 0 {
		t.Fatalf("End of alice's sid for bob ended %d", n)
	}
	// By subject: all of alice's, none of bob's; an ended one is not ended again.
	if n, _ := s.End(ctx, "alice", "", "revoked"); n != 1 {
		t.Fatalf("End by subject ended %d, want 1 (a was ended already)", n)
	}
	if got := get(t, s, "a"); got.EndedReason != "signed out" {
		t.Fatalf("the first reason was overwritten: %q", got.EndedReason)
	}
	if get(t, s, "c").EndedReason != "" {
		t.Fatal("bob's session was ended")
	}
	// By sid alone.
	if n, _ := s.End(ctx, "", "sid-3", "gone"); n != 1 {
		t.Fatalf("End by sid alone ended %d", n)
	}
	if _, err := s.End(ctx, "", "", "x"); err == nil {
		t.Fatal("End with neither subject nor sid must fail")
	}
	create(t, s, session("d", "dave", "sid-4"))
	if _, err := s.End(ctx, "dave", "", ""); err == nil || get(t, s, "d").AccessToken == "" {
		t.Fatal("End without a reason must fail, and leave the session as it was")
	}
}

func testUpdateEnded(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	create(t, s, session("a", "alice", "sid-1"))
	_, err := s.End(ctx, "alice", "", "signed out")
	must(t, err)
	// change sees the ended session and decides; a change to it is not saved.
	err = s.Update(ctx, "a", func(sess *tokenstore.Session) error {
		if sess.EndedReason != "signed out" {
			t.Errorf("change saw %q, want the ended reason", sess.EndedReason)
		}
		sess.AccessToken, sess.RefreshToken, sess.EndedReason = "at-revived", "rt-revived", ""
		return nil
	})
	if !errors.Is(err, tokenstore.ErrEnded) {
		t.Fatalf("changing an ended session: %v, want ErrEnded", err)
	}
	if got := get(t, s, "a"); got.EndedReason != "signed out" || got.AccessToken != "" || got.RefreshToken != "" {
		t.Fatalf("an ended session came back to life: %+v", got)
	}
}

// testEndDuringUpdate is the refresh race: a back-channel logout ends the
// session while a refresh is at ImageHost; the refresh's new tokens must
// not bring the session back.
func testEndDuringUpdate(t *testing.T, s tokenstore.Store) { testEndDuringUpdateAt(t, s, s) }

func testEndDuringUpdateAt(t *testing.T, refresher, logout tokenstore.Store) {
	ctx := context.Background()
	create(t, refresher, session("a", "alice", "sid-1"))
	err := refresher.Update(ctx, "a", func(sess *tokenstore.Session) error {
		// End never waits for an Update: back-channel logout is not held
		// up by a slow refresh.
		if n, err := logout.End(ctx, "alice", "sid-1", "signed out at ImageHost"); err != nil || n != 1 {
			t.Errorf("End during an Update = %d, %v", n, err)
		}
		sess.AccessToken, sess.RefreshToken, sess.Refreshes = "at-refreshed", "rt-refreshed", sess.Refreshes+1
		return nil
	})
	if !errors.Is(err, tokenstore.ErrEnded) {
		t.Fatalf("Update across an End returned %v, want ErrEnded", err)
	}
	got := get(t, logout, "a")
	if got.EndedReason != "signed out at ImageHost" || got.AccessToken != "" || got.RefreshToken != "" || got.Refreshes != 0 {
		t.Fatalf("the refresh undid the logout: %+v", got)
	}
}

// testDeleteDuringUpdate: Disconnect deletes the session while a refresh is
// at ImageHost; the refresh must not create it again.
func testDeleteDuringUpdate(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	create(t, s, session("a", "alice", "sid-1"))
	err := s.Update(ctx, "a", func(sess *tokenstore.Session) error {
		must(t, s.Delete(ctx, "a"))
		sess.AccessToken, sess.RefreshToken = "at-refreshed", "rt-refreshed"
		return nil
	})
	if !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Update across a Delete returned %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatal("the refresh brought a deleted session back")
	}
}

// testTurns releases a burst of Updates of one session at once, half
// through a and half through b. Each reads a count and writes it plus one,
// as a refresh reads a refresh token and writes its successor: had two
// overlapped, one increment would be lost, and the change would have seen
// another inside.
func testTurns(t *testing.T, a, b tokenstore.Store) {
	ctx := context.Background()
	create(t, a, session("a", "alice", "sid-1"))
	const n = 16
	var inside, overlaps atomic.Int32
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs <- s.Update(ctx, "a", func(sess *tokenstore.Session) error {
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer inside.Add(-1)
				next := sess.Refreshes + 1
				// Let the others run, as a round trip to ImageHost would.
				for range 20 {
					runtime.Gosched()
				}
				time.Sleep(time.Millisecond)
				sess.Refreshes, sess.RefreshToken = next, fmt.Sprint("rt-", next)
				return nil
			})
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if o := overlaps.Load(); o > 0 {
		t.Errorf("%d Updates of one session overlapped", o)
	}
	if got := get(t, b, "a"); got.Refreshes != n || got.RefreshToken != fmt.Sprint("rt-", n) {
		t.Fatalf("after %d Updates: refreshes %d, refresh token %q", n, got.Refreshes, got.RefreshToken)
	}
}

func testDeleteOlderThan(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	old, fresh := session("old", "alice", "sid-1"), session("fresh", "alice", "sid-2")
	fresh.UpdatedAt = t0.Add(time.Hour)
	create(t, s, old, fresh)
	must(t, s.DeleteOlderThan(ctx, t0.Add(time.Minute)))
	if _, err := s.Get(ctx, "old"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatal("an old session was kept")
	}
	get(t, s, "fresh")
}
