package photos

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryUnderABurst: requests released together never hold more than
// the budget between them, nor one owner more than its share, and every
// one is answered within the wait.
func TestMemoryUnderABurst(t *testing.T) {
	const limit, share, wait = 100, 60, 200 * time.Millisecond
	m := NewMemory(limit, share, wait)
	var held, heldA, peak, peakA atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	var served, busy atomic.Int32
	for i := range 60 {
		owner := []string{"alice", "bob", "carol"}[i%3]
		wg.Go(func() {
			<-start
			began := time.Now()
			release, err := m.Hold(context.Background(), owner, 25)
			if d := time.Since(began); d > wait+time.Second {
				t.Errorf("a request waited %v, more than the wait", d)
			}
			if errors.Is(err, ErrBusy) {
				busy.Add(1)
				return
			} else if err != nil {
				t.Error(err)
				return
			}
			served.Add(1)
			raise(&peak, held.Add(25))
			if owner == "alice" {
				raise(&peakA, heldA.Add(25))
			}
			time.Sleep(20 * time.Millisecond)
			if owner == "alice" {
				heldA.Add(-25)
			}
			held.Add(-25)
			release()
		})
	}
	close(start)
	wg.Wait()
	t.Logf("60 requests of 25 bytes at once: %d served, %d busy; at most %d bytes held, %d by one owner", served.Load(), busy.Load(), peak.Load(), peakA.Load())
	if peak.Load() > limit || peakA.Load() > share {
		t.Fatalf("held %d bytes (limit %d), one owner %d (share %d)", peak.Load(), limit, peakA.Load(), share)
	}
	if served.Load() == 0 || busy.Load() == 0 {
		t.Fatalf("%d served, %d busy: want some of each", served.Load(), busy.Load())
	}
	if n := m.owning(); n != 0 {
		t.Fatalf("%d owners still have a share after every request ended", n)
	}
}

// owning is how many owners have a share: requests in flight.
func (m *Memory) owning() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.owners)
}

// raise makes p at least v.
func raise(p *atomic.Int64, v int64) {
	for old := p.Load(); v > old && !p.CompareAndSwap(old, v); old = p.Load() {
	}
}

// TestMemoryShares: an owner who holds its share waits alone; other owners
// still get the rest of the budget.
func TestMemoryShares(t *testing.T) {
	m := NewMemory(100, 60, 100*time.Millisecond)
	ctx := context.Background()
	alice, err := m.Hold(ctx, "alice", 1000) // over the share: counted as the share
	if err != nil {
		t.Fatalf("a request over the share, alone: %v", err)
	}
	if _, err := m.Hold(ctx, "alice", 1); !errors.Is(err, ErrBusy) {
		t.Fatalf("alice over her share: %v, want ErrBusy", err)
	}
	bob, err := m.Hold(ctx, "bob", 40)
	if err != nil {
		t.Fatalf("bob, while alice holds her share: %v", err)
	}
	if _, err := m.Hold(ctx, "carol", 1); !errors.Is(err, ErrBusy) {
		t.Fatalf("carol with the budget taken: %v, want ErrBusy", err)
	}
	alice()
	alice() // twice is harmless
	if release, err := m.Hold(ctx, "carol", 60); err != nil {
		t.Fatalf("carol after alice's release: %v", err)
	} else {
		release()
	}
	bob()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Hold(gone, "dave", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request that is gone: %v, want its context's error", err)
	}
	if n := m.owning(); n != 0 {
		t.Fatalf("%d owners still have a share", n)
	}
}
