package throttle

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(3, time.Minute, c.now)

	for i := range 3 {
		if wait := l.Check("alice"); wait != 0 {
			t.Fatalf("attempt %d refused (wait %v) before the limit", i+1, wait)
		}
		l.Fail("alice")
		c.advance(10 * time.Second)
	}
	// Failures at 0s, 10s, 20s; now 30s: blocked until the first leaves at 60s.
	if wait := l.Check("alice"); wait != 30*time.Second {
		t.Fatalf("wait = %v, want 30s", wait)
	}
	if wait := l.Check("bob"); wait != 0 {
		t.Fatalf("another key is blocked: wait %v", wait)
	}
	c.advance(30 * time.Second)
	if wait := l.Check("alice"); wait != 0 {
		t.Fatalf("block did not end by itself: wait %v", wait)
	}
	l.Fail("alice")
	if wait := l.Check("alice"); wait != 10*time.Second {
		t.Fatalf("after a new failure wait = %v, want 10s", wait)
	}
	l.Reset("alice")
	if wait := l.Check("alice"); wait != 0 {
		t.Fatalf("Reset did not clear: wait %v", wait)
	}
}

func TestLimiterNeverBlocksLongerThanAWindow(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(5, time.Minute, c.now)
	// An attacker hammering the account keeps failing; each refused attempt
	// is not recorded as a failure, so the block still ends one window after
	// the last failure that counted.
	for range 1000 {
		if l.Check("victim") == 0 {
			l.Fail("victim")
		}
		c.advance(100 * time.Millisecond)
	}
	if wait := l.Check("victim"); wait > time.Minute {
		t.Fatalf("wait %v exceeds the window", wait)
	}
}
