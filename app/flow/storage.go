package flow

import (
	"context"
	"sync"
	"time"
)

// Storage is where a Recorder keeps its flows: Memory for one instance, or
// a database that several instances share (app/postgres). flowtest is the
// conformance suite every Storage passes.
//
// A Storage enforces the bounds itself, exactly, however many writes reach
// it at once: at most MaxFlows flows, dropping the least recently used
// first; in each flow at most MaxExchanges exchanges and MaxFlowBytes of
// them (by Exchange.Size), dropping the oldest exchange of a step that
// DroppedFirst names, else the oldest of all, and keeping the newest one
// whatever its size. The bodies are bounded before they get here.
type Storage interface {
	// Append records ex as the next exchange of flow id, which it creates
	// if needed, at time now (the flow's last use). It numbers the
	// exchange, 1, 2, ... in each flow, and returns the number.
	Append(ctx context.Context, id string, ex Exchange, now time.Time) (int, error)
	// Replace replaces the exchange numbered ex.Seq of flow id with ex;
	// one no longer kept stays gone.
	Replace(ctx context.Context, id string, ex Exchange) error
	// Exchanges returns the exchanges of flow id, in order; none for a
	// flow that is not kept.
	Exchanges(ctx context.Context, id string) ([]Exchange, error)
	// Reset forgets flow id.
	Reset(ctx context.Context, id string) error
	// Len is the number of flows kept.
	Len(ctx context.Context) (int, error)
}

// Memory is a Storage in this process's memory. Its zero value is not
// usable; NewMemory makes one.
type Memory struct {
	mu    sync.Mutex
	flows map[string]*memoryFlow
}

var _ Storage = (*Memory)(nil)

type memoryFlow struct {
	exchanges []Exchange
	bytes     int // the size of exchanges
	seq       int
	used      time.Time
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{flows: map[string]*memoryFlow{}} }

// Append implements Storage.
func (m *Memory) Append(_ context.Context, id string, ex Exchange, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.flows[id]
	if f == nil {
		if len(m.flows) >= MaxFlows {
			m.evictOldest()
		}
		f = &memoryFlow{}
		m.flows[id] = f
	}
	f.seq++
	ex.Seq = f.seq
	f.used = now
	f.exchanges = append(f.exchanges, ex)
	f.bytes += ex.Size()
	f.trim()
	return ex.Seq, nil
}

// Replace implements Storage.
func (m *Memory) Replace(_ context.Context, id string, ex Exchange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.flows[id]
	if f == nil {
		return nil
	}
	for i := range f.exchanges {
		if f.exchanges[i].Seq == ex.Seq {
			f.bytes += ex.Size() - f.exchanges[i].Size()
			f.exchanges[i] = ex
			f.trim()
			return nil
		}
	}
	return nil
}

// Exchanges implements Storage; the list is a copy.
func (m *Memory) Exchanges(_ context.Context, id string) ([]Exchange, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.flows[id]
	if f == nil {
		return nil, nil
	}
	return append([]Exchange(nil), f.exchanges...), nil
}

// Reset implements Storage.
func (m *Memory) Reset(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.flows, id)
	return nil
}

// Len implements Storage.
func (m *Memory) Len(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.flows), nil
}

// trim drops exchanges until the flow is within its bounds.
func (f *memoryFlow) trim() {
	for len(f.exchanges) > MaxExchanges || (f.bytes > MaxFlowBytes && len(f.exchanges) > 1) {
		var dropped Exchange
		f.exchanges, dropped = dropOne(f.exchanges)
		f.bytes -= dropped.Size()
	}
}

// dropOne removes the oldest exchange that DroppedFirst names, or else the
// oldest exchange.
func dropOne(list []Exchange) ([]Exchange, Exchange) {
	for i, ex := range list {
		if DroppedFirst(ex.Step) {
			return append(list[:i], list[i+1:]...), ex
		}
	}
	return list[1:], list[0]
}

func (m *Memory) evictOldest() {
	var oldest string
	var t time.Time
	for id, f := range m.flows {
		if oldest == "" || f.used.Before(t) {
			oldest, t = id, f.used
		}
	}
	delete(m.flows, oldest)
}
