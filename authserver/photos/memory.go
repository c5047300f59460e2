package photos

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is the answer when the bytes a request needs were not free within
// Memory's wait.
var ErrBusy = errors.New("photos: busy with other photos")

// Memory bounds the photo bytes the API holds at once: a photo read from
// the store and sent, or an upload read and stored, holds its bytes from
// before it reads them until it is done. Without it, 40 requests for one
// 8 MB photo held 40 copies. Each owner may hold only a share of the
// budget, so that one token's holder cannot take it all; nobody waits
// longer than the wait, then the answer is ErrBusy ("try again in a
// moment"), not a queue that grows. It is safe for concurrent use.
type Memory struct {
	limit, share int64
	wait         time.Duration
	total        *semaphore.Weighted

	mu sync.Mutex
	// owners has an entry for each owner with a request holding or
	// waiting for bytes, and no other: it is as large as the requests in
	// flight, and no larger.
	owners map[string]*ownerShare
}

// ownerShare is one owner's part of the budget.
type ownerShare struct {
	sem   *semaphore.Weighted
	users int // requests holding or waiting for some of it
}

// NewMemory returns a budget of limit bytes in all, of which one owner may
// hold share at once; a request waits at most wait for its bytes.
func NewMemory(limit, share int64, wait time.Duration) *Memory {
	return &Memory{limit: limit, share: min(share, limit), wait: wait, total: semaphore.NewWeighted(limit),
		owners: map[string]*ownerShare{}}
}

// Hold waits for n bytes of owner's share and of the budget, for at most
// the wait; the caller must call release once it no longer holds them. A
// request for more than an owner's share is counted as the whole share, so
// it waits for the owner's other requests but is never refused for its size.
// It returns ErrBusy when the wait runs out, or the context's error when the
// request is gone.
func (m *Memory) Hold(ctx context.Context, owner string, n int64) (release func(), err error) {
	n = max(1, min(n, m.share))
	wait, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	s := m.join(owner)
	// The owner's share first: an owner over it waits without holding any
	// of the budget that other owners could use.
	if err := s.sem.Acquire(wait, n); err != nil {
		m.leave(owner, s)
		return nil, busy(ctx, err)
	}
	if err := m.total.Acquire(wait, n); err != nil {
		s.sem.Release(n)
		m.leave(owner, s)
		return nil, busy(ctx, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			m.total.Release(n)
			s.sem.Release(n)
			m.leave(owner, s)
		})
	}, nil
}

// busy is the error of a wait that ended: the request's own end, or ErrBusy.
func busy(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrBusy
	}
	return err
}

// join returns owner's share, made on the owner's first request in flight.
func (m *Memory) join(owner string) *ownerShare {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.owners[owner]
	if s == nil {
		s = &ownerShare{sem: semaphore.NewWeighted(m.share)}
		m.owners[owner] = s
	}
	s.users++
	return s
}

// leave forgets owner's share once its last request is done with it.
func (m *Memory) leave(owner string, s *ownerShare) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(m.owners, owner)
	}
}
