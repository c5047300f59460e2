package main

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// privateDataDir makes dir, ImageHost's data directory, if it does not
// exist, and closes it and the files in it to everyone but their owner.
// The database holds the signing keys, every session and grant and the
// photos; demo-secrets the demo's generated passwords. New files are
// created that way (0600, in a 0700 directory); what an older version, or
// a umask, left open to the group or others is closed now, with a
// warning. Closing is what the owner would do by hand, and needs no one's
// help: refusing to start instead would only stop the demo until they did.
// A directory or file ImageHost may not change (someone else's) is an
// error: it will not run on data others can read.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := closeToOthers(dir, log); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read data directory: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := closeToOthers(filepath.Join(dir, e.Name()), log); err != nil {
				return err
			}
		}
	}
	return nil
}

// closeToOthers removes the group's and others' permissions from path,
// warning when there were any.
func closeToOthers(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, mode&^0o077); err != nil {
		return fmt.Errorf("%s is open to other users (%v) and cannot be closed: %w", path, mode, err)
	}
	log.Warn("the data directory was open to other users: closed it", "path", path, "was", fs.FileMode(mode), "now", fs.FileMode(mode&^0o077))
	return nil
}
