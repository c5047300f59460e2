package postgres

import (
	"math"
	"testing"
	"time"
)

func TestNanos(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		in   time.Time
		want any
	}{
		{"zero time is NULL", time.Time{}, nil},
		{"an instant, to the nanosecond", t0, t0.UnixNano()},
		{"after 2262: the latest", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), int64(math.MaxInt64)},
		{"before 1678: the earliest", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), int64(math.MinInt64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nanos(tc.in); got != tc.want {
				t.Fatalf("nanos(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
