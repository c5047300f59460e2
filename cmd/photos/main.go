// Command photos is a command-line client of ImageHost's photos API: a
// program without a browser of its own, which a user signs in to with the
// device authorization grant (RFC 8628), or, with -loopback, in the system
// browser as a native app (RFC 8252).
//
//	photos [-issuer URL] [-v] login [-loopback] [-no-browser]
//	photos list
//	photos upload [-title TITLE] FILE
//	photos get ID -o FILE     (photos get -o FILE -- ID, for an id that begins with -)
//	photos logout
//
// It is a third party of its own, like PhotoEditorApp: it talks to
// ImageHost over HTTP only, with golang.org/x/oauth2 and go-oidc, and
// imports nothing of ImageHost's or the app's. It keeps the user's tokens
// in the user's configuration directory (imagehost-photos/credentials.json,
// readable by the user only), refreshes the access token when it has
// expired, and revokes both at logout (RFC 7009).
//
// -v prints each HTTP exchange, with its secrets masked: the command
// line's view of the flow, for workshops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "photos:", err)
		os.Exit(1)
	}
}

// Defaults, each overridden by a flag or a PHOTOS_* variable.
const (
	defaultIssuer   = "http://127.0.0.1:9090"
	defaultClientID = "photos-cli"
)

// Limits on what the command reads from ImageHost.
const (
	httpTimeout   = 2 * time.Minute // one request, an upload included
	maxJSONBytes  = 1 << 20         // a page of the photo list, an error
	maxPhotoBytes = 16 << 20        // a photo: ImageHost keeps at most 8 MB
	maxListPages  = 10              // of at most 100 photos each
)

// options are the settings every command takes.
type options struct {
	issuer   string
	clientID string
	api      string // the photos API; "" is the issuer's /api
	verbose  bool
}

// bind makes the options flags of fs, with the PHOTOS_* variables as
// their defaults, so that they can come before or after the command.
func (o *options) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.issuer, "issuer", o.issuer, "ImageHost's issuer URL (env PHOTOS_ISSUER)")
	fs.StringVar(&o.clientID, "client-id", o.clientID, "this program's client_id at ImageHost (env PHOTOS_CLIENT_ID)")
	fs.StringVar(&o.api, "api", o.api, "the photos API's base URL (env PHOTOS_API; default: the issuer's /api)")
	fs.BoolVar(&o.verbose, "v", o.verbose, "print each HTTP exchange, secrets masked")
}

const usage = `usage: photos [-issuer URL] [-v] COMMAND

commands:
  login [-loopback] [-no-browser]   sign in to ImageHost: with a code typed on another device,
                                    or with -loopback in this computer's browser
  list                              list your photos
  upload [-title TITLE] FILE        upload a PNG, JPEG or GIF image
  get ID -o FILE                    download a photo (-o - writes it to standard output)
  logout                            revoke the tokens at ImageHost and forget them

flags (before or after the command):
`

// run is the whole program; main only hands it the outside world.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts := options{issuer: or(getenv("PHOTOS_ISSUER"), defaultIssuer), clientID: or(getenv("PHOTOS_CLIENT_ID"), defaultClientID),
		api: getenv("PHOTOS_API")}
	fs := flag.NewFlagSet("photos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	opts.bind(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	dir, err := configDir(getenv)
	if err != nil {
		return err
	}
	c := &cli{opts: opts, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, credentials: credentialsFile(dir)}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "login":
		return c.login(ctx, rest)
	case "list":
		return c.list(ctx, rest)
	case "upload":
		return c.upload(ctx, rest)
	case "get":
		return c.get(ctx, rest)
	case "logout":
		return c.logout(ctx, rest)
	case "help":
		fs.Usage()
		return nil
	}
	return fmt.Errorf("unknown command %q (want login, list, upload, get or logout)", cmd)
}

// cli is one run of a command.
type cli struct {
	opts        options
	getenv      func(string) string
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	credentials string       // the file the tokens are kept in
	client      *http.Client // made at the first request, once the flags are read
}

// flags parses a command's own flags, and the options again, from args, in
// any order with the command's arguments: "get ID -o FILE" and
// "get -o FILE ID" both work. It returns the arguments.
func (c *cli) flags(name string, args []string, define func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet("photos "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	c.opts.bind(fs)
	if define != nil {
		define(fs)
	}
	// Everything after "--" is an argument, never a flag: a photo id may
	// begin with "-" (ids are base64url).
	var after []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, after = args[:i], args[i+1:]
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return append(positional, after...), nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newHTTPClient is the client of every request the command makes: bounded
// in time, following no redirect (ImageHost's endpoints send none, and a
// redirect must not carry a token elsewhere), signing a DPoP proof for each
// request made with the key in its context (dpop.go), and, when verbose,
// writing the transcript to w, proofs and nonce retries included.
func newHTTPClient(verbose bool, w io.Writer) *http.Client {
	var t http.RoundTripper = http.DefaultTransport
	if verbose {
		t = &transcript{next: t, w: w}
	}
	t = &dpopTransport{next: t}
	return &http.Client{Transport: t, Timeout: httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// httpClient is the command's HTTP client.
func (c *cli) httpClient() *http.Client {
	if c.client == nil {
		c.client = newHTTPClient(c.opts.verbose, c.stderr)
	}
	return c.client
}

// apiBase is the photos API's base URL.
func (c *cli) apiBase() string {
	return or(c.opts.api, c.opts.issuer+"/api")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
