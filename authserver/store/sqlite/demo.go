package sqlite

import (
	"context"
	"time"
)

// DemoSeededAt returns when the demo's users were seeded.
func (s *Store) DemoSeededAt(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.read.QueryRowContext(ctx, "SELECT seeded_at FROM demo_seed WHERE id = 1").Scan(timeField{&t})
	return t, mapErr("sqlite: demo seeded at", err)
}

// MarkDemoSeeded records that the demo's users were seeded at t; the first
// mark stays.
func (s *Store) MarkDemoSeeded(ctx context.Context, t time.Time) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO demo_seed (id, seeded_at) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", fmtTime(t))
	return mapErr("sqlite: mark demo seeded", err)
}
