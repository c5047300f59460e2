package main

// photos login -loopback: the authorization code flow of a native app
// (RFC 8252). The command listens on a loopback port the operating system
// picks, opens the system browser at ImageHost's authorization endpoint,
// and takes the code at its own /callback. The browser is the user's own,
// with their ImageHost session and their password manager; the command
// never sees the password (RFC 8252 §8.12 forbids embedded browsers for
// that reason).

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// loopbackWait is how long the command waits for the browser to come back.
const loopbackWait = 5 * time.Minute

// loginLoopback runs the flow; openBrowser is false with -no-browser. The
// code exchange carries a proof of key, to which ImageHost binds the
// tokens.
func (c *cli) loginLoopback(ctx context.Context, p *provider, key *proofKey, openBrowser bool) (credentials, error) {
	// RFC 8252 §7.3: "Native apps that are able to open a port on the
	// loopback network interface without needing special permissions ...
	// can use the loopback interface to receive the OAuth redirect."
	// §8.3: the loopback IP literal, not "localhost", which a resolver
	// could send elsewhere. Port 0: the operating system picks a free one,
	// and ImageHost accepts any port for a loopback redirect URI.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return credentials{}, fmt.Errorf("listen on loopback: %w", err)
	}
	defer ln.Close()
	cfg := c.oauthConfig(p)
	cfg.RedirectURL = fmt.Sprintf("http://%s/callback", ln.Addr())

	// state against a forged callback (RFC 6749 §10.12), nonce against a
	// replayed ID token (OpenID Connect Core §3.1.2.1), PKCE S256 against
	// a stolen code (RFC 7636; RFC 8252 §8.1: "Public native app clients
	// MUST implement the Proof Key for Code Exchange"). Each is 256 random
	// bits, new for this sign-in.
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))

	cb := &callback{issuer: c.opts.issuer, requireISS: p.metadata.ISSParameterSupported, state: state, done: make(chan callbackResult, 1)}
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	if c.opts.verbose {
		fmt.Fprintf(c.stderr, "(ImageHost's activity log names this sign-in by the flow reference %s)\n", flowRef(state))
	}
	switch {
	case !openBrowser:
		fmt.Fprintf(c.stdout, "Open this link in your browser to sign in:\n\n  %s\n\n", authURL)
	case startBrowser(authURL) != nil:
		fmt.Fprintf(c.stdout, "Could not open a browser. Open this link to sign in:\n\n  %s\n\n", authURL)
	default:
		fmt.Fprintln(c.stdout, "Your browser is open at ImageHost: sign in and allow there.")
	}
	fmt.Fprintf(c.stdout, "Waiting for ImageHost to send your browser back to %s …\n", cfg.RedirectURL)

	var res callbackResult
	select {
	case res = <-cb.done:
	case <-time.After(loopbackWait):
		return credentials{}, fmt.Errorf("no answer from the browser within %s: run photos login again", loopbackWait)
	case <-ctx.Done():
		return credentials{}, ctx.Err()
	}
	if res.err != nil {
		return credentials{}, res.err
	}
	// RFC 6749 §4.1.3, with RFC 7636 §4.5's code_verifier and the same
	// redirect_uri as the request.
	tok, err := cfg.Exchange(withProofKey(c.clientContext(ctx), key), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return credentials{}, fmt.Errorf("code exchange: %w", describe(err))
	}
	return c.signedIn(ctx, p, tok, nonce)
}

// callbackResult is what the browser brought back: a code, or an error.
type callbackResult struct {
	code string
	err  error
}

// callback takes the authorization response at /callback. Only a response
// with this sign-in's state ends the wait: anything else, from another
// page or another program on this computer, is turned away, and the
// command keeps waiting for the real one.
type callback struct {
	issuer     string
	requireISS bool
	state      string
	done       chan callbackResult // buffered: the first answer is kept
}

func (cb *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/callback" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	// RFC 6749 §10.12: the state ties the response to this sign-in.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(cb.state)) != 1 {
		page(w, http.StatusBadRequest, "This sign-in was not started here", "The link does not belong to the sign-in this command is waiting for.")
		return
	}
	// RFC 9207 §2.4: a client that knows the server sends iss "MUST
	// compare" it with the issuer it expected (mix-up attacks).
	if (cb.requireISS || q.Has("iss")) && q.Get("iss") != cb.issuer {
		page(w, http.StatusBadRequest, "Wrong issuer", "The answer does not come from the ImageHost this command signs in to.")
		cb.finish(callbackResult{err: fmt.Errorf("the answer names issuer %q, not %s: refused (RFC 9207)", q.Get("iss"), cb.issuer)})
		return
	}
	if e := q.Get("error"); e != "" {
		page(w, http.StatusOK, "Not signed in", "ImageHost said: "+e+". You can close this tab.")
		if e == "access_denied" {
			cb.finish(callbackResult{err: errors.New("you denied the request at ImageHost; nothing was stored")})
		} else {
			cb.finish(callbackResult{err: fmt.Errorf("ImageHost refused: %s: %s", e, q.Get("error_description"))})
		}
		return
	}
	if q.Get("code") == "" {
		page(w, http.StatusBadRequest, "No code", "The answer carries no authorization code.")
		return
	}
	page(w, http.StatusOK, "Signed in", "You can close this tab and go back to the terminal.")
	cb.finish(callbackResult{code: q.Get("code")})
}

// finish hands the first result to the waiting command; later ones are
// dropped.
func (cb *callback) finish(res callbackResult) {
	select {
	case cb.done <- res:
	default:
	}
}

// page answers the browser with a small page of its own.
func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL holds the code
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html><title>%s · photos</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// startBrowser opens url in the system browser. The URL is one argument
// of the program, never part of a shell command.
func startBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	// xdg-open and open hand the URL on and end; one that fails (no
	// browser configured) says so by its exit status. One still running
	// after a few seconds is taken to have worked.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(3 * time.Second):
		return nil
	}
}
