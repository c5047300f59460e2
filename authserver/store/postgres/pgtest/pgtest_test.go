package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// start starts a server for one test, skipping as Shared does.
func start(t *testing.T) *Server {
	t.Helper()
	var sh Shared
	srv := sh.Server(t)
	t.Cleanup(func() { srv.Stop() })
	return srv
}

func TestStartCreateStop(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	err := srv.Template(ctx, "tmpl", func(ctx context.Context, url string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE greeting (text TEXT); INSERT INTO greeting VALUES ('hello')")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	name, err := srv.NewDatabase(ctx, "tmpl")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, srv.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	var text, user string
	if err := conn.QueryRow(ctx, "SELECT text, current_user FROM greeting").Scan(&text, &user); err != nil || text != "hello" {
		t.Fatalf("copy of the template: %q, %v", text, err)
	}
	// Nobody else on the machine can reach the server: no TCP, and the
	// socket's directory is its owner's alone.
	var listen string
	if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil || listen != "" {
		t.Fatalf("listen_addresses = %q (%v), want none", listen, err)
	}
	if fi, err := os.Stat(srv.Dir()); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Fatalf("the server's directory has mode %v, want 0700", fi.Mode().Perm())
	}
	conn.Close(ctx)
	if err := srv.DropDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}

	pid, dir := srv.PID(), srv.Dir()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if running(pid) {
		t.Fatalf("postgres (pid %d) still runs after Stop", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stop left %s behind: %v", dir, err)
	}
}

// TestServerDiesWithItsParent starts a server from a child process, kills
// that process with SIGKILL, as a test timeout or a crash would, and checks
// that the server does not outlive it.
func TestServerDiesWithItsParent(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		srv, err := Start(context.Background())
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("server", srv.PID(), srv.Dir())
		select {} // until killed
	}
	start(t) // skips when PostgreSQL is missing
	child := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithItsParent$")
	child.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	sc := bufio.NewScanner(out)
	for pid == 0 && sc.Scan() {
		fmt.Sscanf(sc.Text(), "server %d %s", &pid, &dir)
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatal(sc.Text())
		}
	}
	if pid == 0 {
		child.Process.Kill()
		t.Fatal("the child started no server")
	}
	t.Cleanup(func() {
		if running(pid) { // do not leave it behind even when the test fails
			syscall.Kill(pid, syscall.SIGQUIT)
		}
		os.RemoveAll(dir)
	})
	child.Process.Kill()
	child.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres (pid %d) still runs 30 s after the process that started it was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running reports whether a process with that id exists and is not a
// zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "123 (postgres) S ...".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// TestOpenKeepsItsData: a server opened on a directory keeps what was
// written there after Stop, and the next Open finds it.
func TestOpenKeepsItsData(t *testing.T) {
	start(t) // skips when PostgreSQL is missing
	ctx := context.Background()
	base := t.TempDir()
	// As root, the server runs as the postgres user, who must get through.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "pg")
	write := func(sql string) string {
		srv, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		url, err := srv.Database(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		var text string
		conn.QueryRow(ctx, "SELECT string_agg(text, ',') FROM greeting").Scan(&text)
		return text
	}
	if got := write("CREATE TABLE greeting (text TEXT); INSERT INTO greeting VALUES ('hello')"); got != "hello" {
		t.Fatalf("first run: %q", got)
	}
	if got := write("INSERT INTO greeting VALUES ('again')"); got != "hello,again" {
		t.Fatalf("second run on the same directory: %q, want the first run's row too", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("Stop removed the cluster: %v", err)
	}
}
