package postgres

import (
	"context"
	"time"
)

// DemoSeededAt returns when the demo's users were seeded.
func (s *Store) DemoSeededAt(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.pool.QueryRow(ctx, "SELECT seeded_at FROM demo_seed WHERE id = 1").Scan(timeField{&t})
	return t, mapErr("postgres: demo seeded at", err)
}

// MarkDemoSeeded records that the demo's users were seeded at t; the first
// mark stays, even when two instances mark at once.
func (s *Store) MarkDemoSeeded(ctx context.Context, t time.Time) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO demo_seed (id, seeded_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", nanos(t))
	return mapErr("postgres: mark demo seeded", err)
}
