//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"oauthdemo/app/tokenstore/sqlite"
	"oauthdemo/e2e/harness"
)

// TestDataFilesArePrivate: the session database holds every connected
// user's tokens, session-keys the keys of every browser's cookie. Whatever
// the umask, and whatever an older version left behind, they end up
// readable by their owner only, and the data directory closed to others.
func TestDataFilesArePrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string)
		warns   bool
	}{
		{"a new data directory", func(t *testing.T, dir string) {}, false},
		{"an open one an older version left", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			st, err := sqlite.Open(context.Background(), filepath.Join(dir, "sessions.db"))
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			os.Chmod(filepath.Join(dir, "sessions.db"), 0o644)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "photoeditor")
			tc.prepare(t, dir)
			vars := map[string]string{"PHOTOEDITOR_ADDR": "127.0.0.1:0", "PHOTOEDITOR_BASE_URL": "http://localhost:1",
				"PHOTOEDITOR_CLIENT_SECRET": "secret", "PHOTOEDITOR_DATA_DIR": dir, "PHOTOEDITOR_LOG_LEVEL": "warn"}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logs := &harness.LogBuffer{}
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, nil, func(k string) string { return vars[k] }, pw, logs)
				pw.Close()
			}()
			sc := bufio.NewScanner(pr)
			for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
			}
			go io.Copy(io.Discard, pr)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v\n%s", err, logs.String())
			}
			if warned := strings.Contains(logs.String(), "data directory"); warned != tc.warns {
				t.Errorf("warned about the data directory: %v, want %v\n%s", warned, tc.warns, logs.String())
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("data directory: %v %v, want 0700", fi.Mode().Perm(), err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) < 2 {
				t.Fatalf("the data directory holds %d files, want the session database and keys at least", len(entries))
			}
			for _, e := range entries {
				fi, _ := e.Info()
				if fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s: %v, want no access for group and others", e.Name(), fi.Mode().Perm())
				}
			}
		})
	}
}
