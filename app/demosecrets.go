package main

// The demo's client secrets on a network. demo.env's client secrets are
// published in the repository; ImageHost, when it serves the demo beyond
// this machine, refuses them and generates its own into a file in its data
// directory, in demo.env's format (PHOTOEDITOR_CLIENT_SECRET=...). In the
// demo (PHOTOEDITOR_DEMO_SECRETS names that file), the app takes its client
// secrets from there whenever the file exists. Listening beyond loopback
// itself, it requires them: it waits for ImageHost to write the file, and
// refuses to start with the published ones.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// demoSecretsWait is how long the app waits for ImageHost's file: both
// start from one `go tool task demo`, and ImageHost may still be compiling.
const demoSecretsWait = 2 * time.Minute

// demoClientID is the client ImageHost's demo registers for the app, whose
// secret the file holds.
const demoClientID = "photoeditorapp"

// withDemoSecrets returns cfg with the client secrets from cfg.DemoSecrets,
// when that file exists or the app listens beyond loopback; wait bounds how
// long it waits for the file to appear.
func withDemoSecrets(ctx context.Context, cfg Config, wait time.Duration, out io.Writer) (Config, error) {
	// The file holds the secrets of the demo's clients. An app configured
	// with a client of its own, such as an attendee's registered in the
	// developer console of the teacher's ImageHost, keeps its own secret,
	// wherever it listens.
	if cfg.DemoSecrets == "" || cfg.ClientID != demoClientID {
		return cfg, nil
	}
	secrets, err := readDemoSecrets(cfg.DemoSecrets)
	if errors.Is(err, fs.ErrNotExist) && !loopbackAddr(cfg.Addr) {
		fmt.Fprintf(out, "PhotoEditorApp listens on %s, beyond this machine: waiting for ImageHost's generated secrets in %s\n", cfg.Addr, cfg.DemoSecrets)
		secrets, err = waitForDemoSecrets(ctx, cfg.DemoSecrets, wait)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && loopbackAddr(cfg.Addr):
		return cfg, nil // demo.env's values, on this machine only, as ImageHost uses them
	case errors.Is(err, fs.ErrNotExist):
		return cfg, fmt.Errorf("PhotoEditorApp listens on %s, beyond this machine, and refuses demo.env's published client secret; "+
			"ImageHost writes generated ones to %s when it too listens on a network address (IMAGEHOST_ADDR)", cfg.Addr, cfg.DemoSecrets)
	case err != nil:
		return cfg, err
	}
	if secrets["PHOTOEDITOR_CLIENT_SECRET"] == "" {
		return cfg, fmt.Errorf("%s has no PHOTOEDITOR_CLIENT_SECRET", cfg.DemoSecrets)
	}
	cfg.ClientSecret = secrets["PHOTOEDITOR_CLIENT_SECRET"]
	if cfg.MachineClientID != "" {
		cfg.MachineClientSecret = secrets["PHOTOEDITOR_MACHINE_CLIENT_SECRET"]
	}
	if cfg.ExpiryClientID != "" {
		cfg.ExpiryClientSecret = secrets["PHOTOEDITOR_EXPIRY_CLIENT_SECRET"]
	}
	fmt.Fprintf(out, "Client secrets: ImageHost's generated ones, from %s\n", cfg.DemoSecrets)
	return cfg, nil
}

// waitForDemoSecrets reads the file once it exists, for at most wait.
func waitForDemoSecrets(ctx context.Context, file string, wait time.Duration) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		secrets, err := readDemoSecrets(file)
		if !errors.Is(err, fs.ErrNotExist) {
			return secrets, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-tick.C:
		}
	}
}

// readDemoSecrets reads the file's KEY=VALUE lines; # starts a comment line.
func readDemoSecrets(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("demo secrets: %w", err)
	}
	values := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			values[k] = v
		}
	}
	return values, nil
}
