// Package pgtest runs a throwaway PostgreSQL server from the binaries the
// operating system installed (Debian: apt-get install postgresql), for the
// tests of the PostgreSQL store and of anything that runs on it.
//
// Start needs no testing.TB, so a program that launches a local cluster can
// use it too; Shared wraps it for tests: one server per test process, a
// fresh database per test.
//
// The server lives in a temporary directory: its data, its log and its
// unix socket. It listens on that socket only, never on TCP, so there is no
// port to pick and nothing to collide with on a shared machine; the port in
// the URL only names the socket file. Only its owner (and root) can enter
// the directory, so "trust" authentication lets in no one else.
//
// It is tuned for tests, not for data anyone wants to keep: fsync=off,
// synchronous_commit=off and full_page_writes=off, so a power cut can
// corrupt it. Nothing outlives the test run: Stop shuts the server down and
// removes the directory, and the server is started so that the kernel stops
// it when the process that started it dies, even by SIGKILL (see Start). Only
// the directory of a killed process stays behind in $TMPDIR/pgtest-*.
//
// initdb and postgres refuse to run as root. As root, both run as the
// unprivileged "postgres" user that Debian's package creates, which owns the
// directory.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled: no PostgreSQL server binaries (initdb, postgres) were found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL is not installed (Debian: apt-get install postgresql)")

// port names the socket file (.s.PGSQL.5432) in the server's own directory;
// no TCP port is opened, so any number would do.
const port = 5432

// Server is a running throwaway PostgreSQL server. Its methods are safe for
// concurrent use.
type Server struct {
	dir    string // data/, postgres.log and the socket
	keep   bool   // Stop leaves dir in place (Open)
	cmd    *exec.Cmd
	exited chan struct{} // closed once the server process has ended

	mu        sync.Mutex
	admin     *pgx.Conn        // to the "postgres" database, for CREATE and DROP DATABASE
	templates map[string]error // templates made so far, and how that went
	next      int              // numbers the databases NewDatabase creates
	stopped   bool
}

// Start initialises a cluster in a new temporary directory and starts a
// server on it. It returns ErrNotInstalled when the binaries are missing.
//
// The server is a direct child of this process with a parent-death signal
// (Linux's PR_SET_PDEATHSIG): if this process dies without calling Stop, the
// kernel sends the server SIGQUIT (immediate shutdown) at once. The signal
// belongs to the thread that started the child, so that thread is locked to
// a goroutine that lives as long as the server. As root, the child takes the
// postgres user's credentials itself (SysProcAttr.Credential) rather than
// through runuser, which would receive the signal in postgres's place.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: hand the directory to the postgres user: %w", err)
		}
	}
	s := &Server{dir: dir, exited: make(chan struct{}), templates: map[string]error{}}
	if err := s.start(ctx, bin, cred, testSettings); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// testSettings tune a throwaway server for tests: no durability.
var testSettings = []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
	"-c", "shared_buffers=32MB", "-c", "jit=off",
	"-c", "max_connections=200"} // a pool per test database, several at once

// start makes the cluster in s.dir/data unless it is there already, and
// starts a server on it with settings.
func (s *Server) start(ctx context.Context, bin string, cred *syscall.Credential, settings []string) error {
	data := filepath.Join(s.dir, "data")
	if !isFile(filepath.Join(data, "PG_VERSION")) {
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "--pgdata", data, "--username", "postgres",
			"--auth", "trust", "--encoding", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
		initdb.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		if out, err := initdb.CombinedOutput(); err != nil {
			return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
		}
	}

	logFile, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	args := append([]string{"-D", data, "-k", s.dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses="}, // the socket only
		settings...)
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.Env = []string{"LC_ALL=C"}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// A process group of its own: a terminal's Ctrl-C goes to the process
	// that started the server, which stops it once its clients are done,
	// not to the server under their feet.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, after the server
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	return s.waitReady(ctx)
}

// waitReady connects the admin connection as soon as the server accepts it.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			s.admin = conn
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited during start-up: %s", s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres did not accept connections: %v: %s", err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// URL is the connection URL of a database on the server, over its socket.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable",
		url.PathEscape(database), url.QueryEscape(s.dir), port)
}

// Dir is the server's directory; Stop removes it.
func (s *Server) Dir() string { return s.dir }

// PID is the process id of the server (the postmaster).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// NewDatabase creates a database with a new name and returns the name. With
// a template (see Template) the database starts as a copy of it; with ""
// it starts empty.
func (s *Server) NewDatabase(ctx context.Context, template string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	name := fmt.Sprintf("db%d", s.next)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := s.admin.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return name, nil
}

// Template creates the database name, runs prepare on its URL (applying
// migrations, say) and marks it a template that accepts no connections, so
// that NewDatabase can copy it. Copying a file-level template is much faster
// than preparing each database anew. Only the first call for a name does the
// work; later ones return its result. prepare must close its connections.
func (s *Server) Template(ctx context.Context, name string, prepare func(ctx context.Context, url string) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, done := s.templates[name]; done {
		return err
	}
	err := s.makeTemplate(ctx, name, prepare)
	s.templates[name] = err
	return err
}

func (s *Server) makeTemplate(ctx context.Context, name string, prepare func(ctx context.Context, url string) error) error {
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("pgtest: create template %s: %w", name, err)
	}
	if err := prepare(ctx, s.URL(name)); err != nil {
		return fmt.Errorf("pgtest: prepare template %s: %w", name, err)
	}
	if _, err := s.admin.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("pgtest: mark template %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops a database, closing whatever connections it still has.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database: %w", err)
	}
	return nil
}

// Stop shuts the server down (a fast shutdown: open sessions are ended) and
// removes its directory. Stopping twice is harmless.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	if s.admin != nil {
		s.admin.Close(context.Background())
	}
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			err = errors.New("pgtest: postgres ignored a fast shutdown for 30 s; killed")
		}
	}
	if s.keep {
		return err
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// binDir finds the directory with initdb and postgres: the newest of
// Debian's /usr/lib/postgresql/<version>/bin, else wherever PATH has initdb.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(initdb))
	}
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

// version reads the major version out of /usr/lib/postgresql/<version>/bin.
func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// unprivileged returns the credentials to run initdb and postgres with:
// nil (our own) unless we are root, the postgres user's when we are.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: PostgreSQL refuses to run as root and there is no postgres user to run it as (Debian's postgresql package creates one): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}
