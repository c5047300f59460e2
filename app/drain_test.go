package main

import (
	"io"
	"testing"
	"time"
)

// TestShutdownDelaySetting: the delay is read from the flag or the
// variable, and one past a service manager's patience is refused.
func TestShutdownDelaySetting(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		args  []string
		want  time.Duration
		valid bool
	}{
		{"none", "", nil, 0, true},
		{"from the variable", "3s", nil, 3 * time.Second, true},
		{"the flag wins", "3s", []string{"-shutdown-delay", "5s"}, 5 * time.Second, true},
		{"too long", "1m", nil, 0, false},
		{"negative", "-1s", nil, 0, false},
		{"not a duration", "soon", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"PHOTOEDITOR_CLIENT_SECRET": "secret", "PHOTOEDITOR_SHUTDOWN_DELAY": tc.env}
			cfg, err := parseConfig(tc.args, func(k string) string { return vars[k] }, io.Discard)
			if (err == nil) != tc.valid {
				t.Fatalf("err = %v, want valid=%v", err, tc.valid)
			}
			if tc.valid && cfg.ShutdownDelay != tc.want {
				t.Fatalf("shutdown delay %v, want %v", cfg.ShutdownDelay, tc.want)
			}
		})
	}
}
