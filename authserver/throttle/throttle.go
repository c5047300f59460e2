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
package throttle

import (
	"container/list"
	"sync"
	"time"
)

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

// Attempt is one attempt Reserve counted.
type Attempt struct {
	l   *Limiter
	key string
	at  time.Time
}

// Reserve counts an attempt for key if key is under its limit, and returns
// it with a zero wait. Over the limit it counts nothing and returns how long
// the caller must wait before trying key again. The attempt stays counted,
// as a failure, unless it is released.
func (l *Limiter) Reserve(key string) (Attempt, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.dropExpired(now)
	e := l.entry(key, now)
	if len(e.attempts) >= l.max {
		// The oldest attempt that keeps us at the limit leaves the window at:
		return Attempt{}, e.attempts[len(e.attempts)-l.max].Add(l.window).Sub(now)
	}
	e.attempts = append(e.attempts, now)
	return Attempt{l: l, key: key, at: now}, 0
}

// Release takes back an attempt Reserve counted: it succeeded, or it was
// never made. Releasing the zero Attempt does nothing.
func (a Attempt) Release() {
	if a.l == nil {
		return
	}
	l := a.l
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

// Reset forgets key's attempts, after a successful login.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.keys[key]; ok {
		l.remove(el)
	}
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
