// Command authserver is ImageHost: an OAuth 2.0 authorization server and
// OpenID Connect provider, with ImageHost's photos API as the protected
// resource.
//
//	authserver serve [flags]        run the server (the default)
//	authserver users add|list|remove|set-admin|disable|enable
//	authserver clients add|list|set-resource-server|remove
//	authserver keys rotate|list
//
// serve takes a flag and an IMAGEHOST_* variable for each setting; run
// "authserver serve -h" for the list. The other commands work on serve's
// database, which they find by the same -data-dir or IMAGEHOST_DATA_DIR.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authserver:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only hands it the outside world.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "users":
		return usersCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "clients":
		return clientsCommand(ctx, args, getenv, stdout, stderr)
	case "keys":
		return keysCommand(ctx, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, "usage: authserver [serve|users|clients|keys] [flags]")
		return nil
	default:
		return fmt.Errorf("unknown command %q (want serve, users, clients or keys)", cmd)
	}
}
