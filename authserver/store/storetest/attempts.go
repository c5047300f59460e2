package storetest

// Attempts counted per key (store.Attempts): the limit holds under a
// concurrent burst, a released attempt stops counting, and attempts expire
// with their window.

import (
	"context"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

func testAttempts(t *testing.T, s store.Store) {
	ctx := context.Background()
	const max, window = 3, 5 * time.Minute
	reserve := func(key string, at time.Time) (int64, time.Duration) {
		t.Helper()
		id, wait, err := s.ReserveAttempt(ctx, key, max, window, at)
		must(t, err)
		if (id == 0) == (wait == 0) {
			t.Fatalf("ReserveAttempt(%q) = id %d, wait %v: want exactly one of them", key, id, wait)
		}
		return id, wait
	}
	var ids []int64
	for i := range max {
		id, _ := reserve("k", t0.Add(time.Duration(i)*time.Minute))
		ids = append(ids, id)
	}
	// Over the limit: the next may come when the oldest expires.
	at := t0.Add(3 * time.Minute)
	if _, wait := reserve("k", at); wait != t0.Add(window).Sub(at) {
		t.Fatalf("over the limit the wait is %v, want %v", wait, t0.Add(window).Sub(at))
	}
	// Another key has its own count.
	if id, _ := reserve("other", at); id == 0 {
		t.Fatal("a second key was refused")
	}
	// A released attempt no longer counts; releasing it again is harmless.
	must(t, s.ReleaseAttempt(ctx, "k", ids[1]))
	must(t, s.ReleaseAttempt(ctx, "k", ids[1]))
	// Releasing under another key's name releases nothing.
	must(t, s.ReleaseAttempt(ctx, "other", ids[0]))
	if id, _ := reserve("k", at); id == 0 {
		t.Fatal("after a release the key is still refused")
	}
	if _, wait := reserve("k", at); wait == 0 {
		t.Fatal("a key at its limit again was let through")
	}
	// An attempt stops counting when its window has passed.
	if id, _ := reserve("k", t0.Add(window)); id == 0 {
		t.Fatal("the oldest attempt's expiry did not let the next one in")
	}
	// Reset forgets the key, not others.
	must(t, s.ResetAttempts(ctx, "k"))
	for range max {
		if id, _ := reserve("k", at); id == 0 {
			t.Fatal("after a reset the key is refused")
		}
	}
	if _, wait := reserve("k", at); wait == 0 {
		t.Fatal("a key at its limit after a reset was let through")
	}

	// DeleteExpired sweeps what expired, and keeps what is live.
	must(t, s.ResetAttempts(ctx, "k"))
	for range max {
		reserve("k", t0)
	}
	reserve("live", t0.Add(window))
	must(t, s.DeleteExpired(ctx, t0.Add(window)))
	must(t, s.ResetAttempts(ctx, "nothing")) // an unknown key is no error
	for range max - 1 {
		reserve("live", t0.Add(window))
	}
	if _, wait := reserve("live", t0.Add(window)); wait == 0 {
		t.Fatal("DeleteExpired swept an attempt still live")
	}
}

// testAttemptsConcurrent: a burst of reservations of one key, released
// together. Exactly the limit get through: the count and the insert are
// one step.
func testAttemptsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const max, burst = 5, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	counted := 0
	start := make(chan struct{})
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id, _, err := s.ReserveAttempt(ctx, "burst", max, time.Minute, t0)
			if err != nil {
				t.Error(err)
				return
			}
			if id != 0 {
				mu.Lock()
				counted++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if counted != max {
		t.Fatalf("%d of a burst of %d were counted, want exactly %d", counted, burst, max)
	}
}
