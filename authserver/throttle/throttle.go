// Package throttle slows down password guessing. It counts sign-in attempts
// per key (an account, a client address) in a sliding window; once a key has
// too many, further attempts are refused until the oldest leaves the window.
//
// An attempt is counted before the password is checked, in the same locked
// step that checks the limit (Reserve), and taken back only when it
// succeeded (Release). Checking first and counting after the slow password
// hash would let a burst of concurrent guesses all pass the check before any
// of them is counted.
//
// The block always ends by itself: an attacker can delay a victim's login by
// at most one window, never lock the account for good.
//
// The table of keys is bounded: at most maxKeys keys, the least recently
// used one evicted first. An attacker who wants a victim's key evicted must
// make maxKeys fresh failed attempts after the victim's last one; each of
// them costs a password hash, which ImageHost caps, so the table fills no
// faster than hashes run.
//
// A Limiter counts in this process's memory, which is right for one
// instance. Instances that share a database must share the count too, or
// each of N instances behind a load balancer would allow the limit, and an
// attacker N times it: Shared counts in the store, with the same contract.
// Both are a Counter.
package throttle

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// Counter allows at most a number of attempts per key within a window.
// Reserve checks the limit and counts an attempt in one atomic step;
// Attempt.Release takes it back. *Limiter and *Shared are Counters.
type Counter interface {
	// Reserve counts an attempt for key if key is under its limit, and
	// returns it with a zero wait. Over the limit it counts nothing and
	// returns how long the caller must wait before trying key again. The
	// attempt stays counted, as a failure, unless it is released.
	Reserve(ctx context.Context, key string) (Attempt, time.Duration, error)
	// Reset forgets key's attempts, after a successful login.
	Reset(ctx context.Context, key string) error
}

// Limiter allows at most max attempts per key within window.
type Limiter struct {
	max     int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element // of *entry
	lru  *list.List               // most recently used at the front
}

// entry is one key's attempts in the window, oldest first.
type entry struct {
	key      string
	attempts []time.Time
}

// New returns a Limiter that keeps at most maxKeys keys; now is the clock
// (time.Now outside tests).
func New(max int, window time.Duration, maxKeys int, now func() time.Time) *Limiter {
	return &Limiter{max: max, window: window, maxKeys: maxKeys, now: now, keys: map[string]*list.Element{}, lru: list.New()}
}

// Attempt is one attempt Reserve counted: in a Limiter's memory, or in a
// Shared's store.
type Attempt struct {
	key string
	l   *Limiter
	at  time.Time
	s   *Shared
	id  int64
}

// Release takes back an attempt Reserve counted: it succeeded, or it was
// never made. Releasing the zero Attempt does nothing.
func (a Attempt) Release(ctx context.Context) error {
	switch {
	case a.l != nil:
		a.l.release(a)
	case a.s != nil:
		return a.s.store.ReleaseAttempt(ctx, a.s.key(a.key), a.id)
	}
	return nil
}

var _ Counter = (*Limiter)(nil)

// Reserve counts an attempt for key if key is under its limit (Counter).
// It never fails.
func (l *Limiter) Reserve(_ context.Context, key string) (Attempt, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.dropExpired(now)
	e := l.entry(key, now)
	if len(e.attempts) >= l.max {
		// The oldest attempt that keeps us at the limit leaves the window at:
		return Attempt{}, e.attempts[len(e.attempts)-l.max].Add(l.window).Sub(now), nil
	}
	e.attempts = append(e.attempts, now)
	return Attempt{l: l, key: key, at: now}, 0, nil
}

func (l *Limiter) release(a Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.keys[a.key]
	if !ok {
		return
	}
	e := el.Value.(*entry)
	for i := len(e.attempts) - 1; i >= 0; i-- {
		if e.attempts[i].Equal(a.at) {
			e.attempts = append(e.attempts[:i], e.attempts[i+1:]...)
			break
		}
	}
	if len(e.attempts) == 0 {
		l.remove(el)
	}
}

// Reset forgets key's attempts (Counter). It never fails.
func (l *Limiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.keys[key]; ok {
		l.remove(el)
	}
	return nil
}

// Len is the number of keys the Limiter holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// entry returns key's entry with its attempts in the window, creating it
// (and evicting the least recently used key if the table is full) when key
// has none, and marks it used.
func (l *Limiter) entry(key string, now time.Time) *entry {
	if el, ok := l.keys[key]; ok {
		e := el.Value.(*entry)
		e.attempts = l.inWindow(e.attempts, now)
		l.lru.MoveToFront(el)
		return e
	}
	if len(l.keys) >= l.maxKeys {
		l.remove(l.lru.Back())
	}
	e := &entry{key: key, attempts: make([]time.Time, 0, 1)}
	l.keys[key] = l.lru.PushFront(e)
	return e
}

// dropExpired removes, from the least recently used end, keys whose
// attempts have all left the window, so that the table shrinks again after
// a burst. It stops at the first key still in use, which keeps it cheap.
func (l *Limiter) dropExpired(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		e := el.Value.(*entry)
		if len(l.inWindow(e.attempts, now)) > 0 {
			return
		}
		l.remove(el)
	}
}

// inWindow drops attempts older than the window.
func (l *Limiter) inWindow(attempts []time.Time, now time.Time) []time.Time {
	cutoff := now.Add(-l.window)
	i := 0
	for i < len(attempts) && !attempts[i].After(cutoff) {
		i++
	}
	return attempts[i:]
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*entry).key)
	l.lru.Remove(el)
}

// Store is where a Shared counts: the store's attempts (store.Attempts).
type Store interface {
	ReserveAttempt(ctx context.Context, key string, max int, window time.Duration, now time.Time) (id int64, wait time.Duration, err error)
	ReleaseAttempt(ctx context.Context, key string, id int64) error
	ResetAttempts(ctx context.Context, key string) error
}

// Shared allows at most max attempts per key within window, counted in a
// store that every instance on one database shares, so that the limit holds
// for all of them together. The store checks and counts in one atomic step
// (store.Attempts), and keeps its table bounded; an attempt expires with
// its window. Each Shared has a name, which prefixes its keys in the store.
type Shared struct {
	store  Store
	name   string
	max    int
	window time.Duration
	now    func() time.Time
}

var _ Counter = (*Shared)(nil)

// NewShared returns a Shared named name (unique among the Shareds on one
// store); now is the clock.
func NewShared(st Store, name string, max int, window time.Duration, now func() time.Time) *Shared {
	return &Shared{store: st, name: name, max: max, window: window, now: now}
}

func (s *Shared) key(key string) string { return s.name + ":" + key }

// Reserve counts an attempt for key if key is under its limit (Counter).
// It fails only when the store does.
func (s *Shared) Reserve(ctx context.Context, key string) (Attempt, time.Duration, error) {
	id, wait, err := s.store.ReserveAttempt(ctx, s.key(key), s.max, s.window, s.now())
	if err != nil {
		return Attempt{}, 0, err
	}
	if wait > 0 {
		return Attempt{}, wait, nil
	}
	if id == 0 {
		return Attempt{}, 0, errors.New("throttle: the store counted an attempt without an id")
	}
	return Attempt{key: key, s: s, id: id}, 0, nil
}

// Reset forgets key's attempts (Counter).
func (s *Shared) Reset(ctx context.Context, key string) error {
	return s.store.ResetAttempts(ctx, s.key(key))
}
