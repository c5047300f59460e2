package throttle

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLimiter(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := New(3, time.Minute, 100, c.now)

	for i := range 3 {
		if _, wait, _ := l.Reserve(ctx, "alice"); wait != 0 {
			t.Fatalf("attempt %d refused (wait %v) before the limit", i+1, wait)
		}
		c.advance(10 * time.Second)
	}
	// Attempts at 0s, 10s, 20s; now 30s: blocked until the first leaves at 60s.
	if _, wait, _ := l.Reserve(ctx, "alice"); wait != 30*time.Second {
		t.Fatalf("wait = %v, want 30s", wait)
	}
	if _, wait, _ := l.Reserve(ctx, "bob"); wait != 0 {
		t.Fatalf("another key is blocked: wait %v", wait)
	}
	c.advance(30 * time.Second)
	a, wait, _ := l.Reserve(ctx, "alice")
	if wait != 0 {
		t.Fatalf("block did not end by itself: wait %v", wait)
	}
	if _, wait, _ := l.Reserve(ctx, "alice"); wait != 10*time.Second {
		t.Fatalf("after a new attempt wait = %v, want 10s", wait)
	}
	// A released attempt no longer counts.
	a.Release(ctx)
	if _, wait, _ := l.Reserve(ctx, "alice"); wait != 0 {
		t.Fatalf("after a release: wait %v", wait)
	}
	l.Reset(ctx, "alice")
	if _, wait, _ := l.Reserve(ctx, "alice"); wait != 0 {
		t.Fatalf("Reset did not clear: wait %v", wait)
	}
}

func TestLimiterNeverBlocksLongerThanAWindow(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := New(5, time.Minute, 100, c.now)
	// An attacker hammering the account keeps trying; each refused attempt
	// is not counted, so the block still ends one window after the last
	// attempt that counted.
	for range 1000 {
		l.Reserve(ctx, "victim")
		c.advance(100 * time.Millisecond)
	}
	if _, wait, _ := l.Reserve(ctx, "victim"); wait > time.Minute {
		t.Fatalf("wait %v exceeds the window", wait)
	}
}

// TestReserveUnderABurst: attempts released together are counted in the
// same step that checks the limit, so exactly max of them get through.
func TestReserveUnderABurst(t *testing.T) {
	ctx := t.Context()
	l := New(5, time.Minute, 100, newClock().now)
	var allowed atomic.Int32
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			if _, wait, _ := l.Reserve(ctx, "bob"); wait == 0 {
				allowed.Add(1)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	if n := allowed.Load(); n != 5 {
		t.Fatalf("%d of 200 concurrent attempts allowed, want 5", n)
	}
}

// TestLimiterTableIsBounded: a flood of made-up keys never grows the table
// past maxKeys, the least recently used key going first, and keys whose
// attempts have all expired are dropped as new ones come.
func TestLimiterTableIsBounded(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := New(5, time.Minute, 1000, c.now)
	for i := range 100_000 {
		l.Reserve(ctx, fmt.Sprintf("made-up-%d", i))
		if n := l.Len(); n > 1000 {
			t.Fatalf("after %d made-up keys the table holds %d, over the cap of 1000", i+1, n)
		}
	}
	// A recent key is still counted: its first attempt plus four more reach the limit.
	for range 4 {
		l.Reserve(ctx, "made-up-99999")
	}
	if _, wait, _ := l.Reserve(ctx, "made-up-99999"); wait == 0 {
		t.Fatal("a recently used key lost its attempts")
	}
	c.advance(2 * time.Minute)
	l.Reserve(ctx, "latecomer")
	if n := l.Len(); n != 1 {
		t.Fatalf("after the window the table holds %d keys, want 1", n)
	}
}
