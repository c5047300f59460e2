// Command app is PhotoEditorApp: a server-rendered web app that edits the
// photos its users keep at ImageHost. It is an OAuth 2.0 client and OpenID
// Connect relying party in the Backend-for-Frontend style: the browser holds
// only an encrypted session cookie, and every token stays on this server.
//
// It knows ImageHost only through its discovery document and HTTP.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only hands it the outside world.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg, err = withDemoSecrets(ctx, cfg, demoSecretsWait, stdout); err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}
