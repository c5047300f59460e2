package pgtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// Shared is one Server for a whole test binary, started by the first test
// that asks for it, so that a run that needs no PostgreSQL starts none.
// A package declares one and stops it in TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pg.Stop()
//		os.Exit(code)
//	}
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Server returns the shared server, starting it on first use. Without
// PostgreSQL installed the test is skipped, with how to install it; under
// CI=true it fails instead, since CI installs PostgreSQL (.ci/run).
func (sh *Shared) Server(tb testing.TB) *Server {
	tb.Helper()
	sh.once.Do(func() { sh.srv, sh.err = Start(context.Background()) })
	if errors.Is(sh.err, ErrNotInstalled) {
		if strings.EqualFold(os.Getenv("CI"), "true") {
			tb.Fatal("PostgreSQL is not installed, and CI must run the PostgreSQL tests (.ci/run installs it)")
		}
		tb.Skip("PostgreSQL is not installed: install it (Debian: apt-get install postgresql) to run the PostgreSQL tests")
	}
	if sh.err != nil {
		tb.Fatal(sh.err)
	}
	return sh.srv
}

// Database returns the URL of a new, empty database, dropped when the test
// ends.
func (sh *Shared) Database(tb testing.TB) string {
	tb.Helper()
	return sh.database(tb, "")
}

// DatabaseFrom returns the URL of a new database copied from the template
// name, which prepare builds on its first use (see Server.Template). The
// database is dropped when the test ends.
func (sh *Shared) DatabaseFrom(tb testing.TB, template string, prepare func(ctx context.Context, url string) error) string {
	tb.Helper()
	if err := sh.Server(tb).Template(context.Background(), template, prepare); err != nil {
		tb.Fatal(err)
	}
	return sh.database(tb, template)
}

func (sh *Shared) database(tb testing.TB, template string) string {
	tb.Helper()
	srv := sh.Server(tb)
	name, err := srv.NewDatabase(context.Background(), template)
	if err != nil {
		tb.Fatal(err)
	}
	// Registered before the caller opens anything on the database, so it
	// runs after the caller's own clean-up has closed its connections.
	tb.Cleanup(func() {
		if err := srv.DropDatabase(context.Background(), name); err != nil {
			tb.Error(err)
		}
	})
	return srv.URL(name)
}

// Stop stops the server if one was started.
func (sh *Shared) Stop() error {
	if sh.srv == nil {
		return nil
	}
	return sh.srv.Stop()
}
