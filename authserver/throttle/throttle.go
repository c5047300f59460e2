// Package throttle slows down password guessing. It counts failed logins per
// key (an account, a client IP) in a sliding window; once a key has too many,
// further attempts are refused until the oldest failure leaves the window.
//
// The block always ends by itself: an attacker can delay a victim's login by
// at most one window, never lock the account for good. A successful login
// clears the counters for its keys.
package throttle

import (
	"sync"
	"time"
)

// Limiter allows at most Max failures per key within Window.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// New returns a Limiter; now is the clock (time.Now outside tests).
func New(max int, window time.Duration, now func() time.Time) *Limiter {
	return &Limiter{max: max, window: window, now: now, failures: map[string][]time.Time{}}
}

// Check reports how long the caller must wait before trying key again;
// zero means go ahead.
func (l *Limiter) Check(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.prune(key)
	if len(recent) < l.max {
		return 0
	}
	// The oldest failure that keeps us at the limit leaves the window at:
	return recent[len(recent)-l.max].Add(l.window).Sub(l.now())
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.prune(key)
	// Keep at most max entries: older ones no longer change Check's answer,
	// and this bounds the memory one key can use.
	if len(recent) >= l.max {
		recent = recent[1:]
	}
	l.failures[key] = append(recent, l.now())
	if len(l.failures) > 100_000 {
		l.sweep()
	}
}

// Reset forgets key's failures, after a successful login.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// prune drops failures older than the window and returns the rest.
func (l *Limiter) prune(key string) []time.Time {
	cutoff := l.now().Add(-l.window)
	list := l.failures[key]
	i := 0
	for i < len(list) && !list[i].After(cutoff) {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(l.failures, key)
		return nil
	}
	l.failures[key] = list
	return list
}

// sweep drops every key whose failures have all left the window, so that
// a flood of made-up usernames cannot grow the map without bound.
func (l *Limiter) sweep() {
	for key := range l.failures {
		l.prune(key)
	}
}
