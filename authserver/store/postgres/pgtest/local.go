package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// maxSocketPath is the longest path a unix socket may have on Linux
// (sun_path holds 108 bytes, with the terminating zero).
const maxSocketPath = 107

// Open starts a server on the cluster kept in dir, making the cluster there
// on first use: a local PostgreSQL whose data outlives the process, for a
// cluster of instances run by hand (cmd/cluster). Unlike Start's, it keeps
// PostgreSQL's own durable settings (fsync on), and Stop leaves dir in
// place. Like Start's, it listens on a unix socket in dir only, and is
// stopped by the kernel if the process that opened it dies.
//
// As root, dir belongs to the postgres user, who must be able to reach it:
// every directory above it must be searchable by others (o+x).
func Open(ctx context.Context, dir string) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if socket := filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", port)); len(socket) > maxSocketPath {
		return nil, fmt.Errorf("pgtest: the socket %s would be longer than a unix socket's %d bytes: move the directory", socket, maxSocketPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		for up := filepath.Dir(dir); ; up = filepath.Dir(up) {
			fi, err := os.Stat(up)
			if err != nil {
				return nil, fmt.Errorf("pgtest: %w", err)
			}
			if fi.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("pgtest: the postgres user cannot reach %s: %s is not searchable by others (chmod o+x %s)", dir, up, up)
			}
			if up == filepath.Dir(up) {
				break
			}
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: hand %s to the postgres user: %w", dir, err)
		}
	}
	s := &Server{dir: dir, keep: true, exited: make(chan struct{}), templates: map[string]error{}}
	if err := s.start(ctx, bin, cred, []string{"-c", "max_connections=200"}); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Database creates the database name unless it exists, and returns its URL.
func (s *Server) Database(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var exists bool
	if err := s.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgtest: look for database %s: %w", name, err)
	}
	if !exists {
		if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
		}
	}
	return s.URL(name), nil
}

// Installed reports ErrNotInstalled when PostgreSQL's server binaries are
// missing, so that a test can skip before it starts anything.
func Installed() error {
	_, err := binDir()
	return err
}
