package main

// photos login: the device authorization grant (RFC 8628), the way a
// program without a browser signs in. It asks ImageHost for a device code
// and a user code, tells the user where to type the user code (and shows
// the link as a QR code for a phone), and polls the token endpoint until
// the user has answered. With -loopback it signs in as a native app
// instead (loopback.go).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/skip2/go-qrcode"
	"golang.org/x/oauth2"
)

// scope is what the command asks for: who the user is, their photos, and
// offline_access, for a refresh token that outlives the session.
const scope = "openid profile offline_access photos.read photos.write"

// provider is ImageHost as discovery describes it.
type provider struct {
	*oidc.Provider
	metadata struct {
		RevocationEndpoint string `json:"revocation_endpoint"`
		// RFC 9207 §3: the server sends iss with every authorization
		// response, and the client must then check it.
		ISSParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	}
}

// discover reads ImageHost's OpenID Connect discovery document. go-oidc
// checks that it names the issuer the command was given, exactly.
func (c *cli) discover(ctx context.Context) (*provider, error) {
	p, err := oidc.NewProvider(c.clientContext(ctx), c.opts.issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", c.opts.issuer, err)
	}
	pr := &provider{Provider: p}
	if err := p.Claims(&pr.metadata); err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", c.opts.issuer, err)
	}
	return pr, nil
}

// clientContext carries the command's HTTP client to x/oauth2 and go-oidc.
func (c *cli) clientContext(ctx context.Context) context.Context {
	client := c.httpClient()
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, client), client)
}

// oauthConfig is the command as an OAuth client of p. It is public: a
// program on the user's computer cannot keep a secret, so it sends its
// client_id in the body and proves itself with PKCE or the device code.
func (c *cli) oauthConfig(p *provider) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: c.opts.clientID, Endpoint: ep, Scopes: strings.Fields(scope)}
}

// login serves "photos login".
func (c *cli) login(ctx context.Context, args []string) error {
	var loopback, noBrowser bool
	rest, err := c.flags("login", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&loopback, "loopback", false, "sign in with this computer's browser (RFC 8252) instead of a code")
		fs.BoolVar(&noBrowser, "no-browser", false, "with -loopback: print the sign-in link instead of opening the browser")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("login takes no arguments, got %q", rest)
	}
	p, err := c.discover(ctx)
	if err != nil {
		return err
	}
	// A new key for each sign-in (dpop.go): the tokens it gets are bound
	// to it.
	key, err := newProofKey()
	if err != nil {
		return err
	}
	var creds credentials
	if loopback {
		creds, err = c.loginLoopback(ctx, p, key, !noBrowser)
	} else {
		creds, err = c.loginDevice(ctx, p, key)
	}
	if err != nil {
		return err
	}
	// A sign-in replaces the one before it, which would otherwise stay
	// valid at ImageHost, unused, for as long as its refresh token lives.
	// Its refresh token, if bound, is revoked with a proof of its key,
	// still in place until the new one is saved below.
	if old, err := readCredentials(c.credentials, false); err == nil && old.Issuer == c.opts.issuer && old.RefreshToken != "" &&
		p.metadata.RevocationEndpoint != "" {
		var oldKey *proofKey
		if old.bound() {
			oldKey, err = readKey(keyFile(c.credentials), false)
		}
		if err == nil {
			err = c.revoke(ctx, p.metadata.RevocationEndpoint, old.RefreshToken, "refresh_token", oldKey)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "photos: the previous sign-in could not be revoked: %v\n", err)
		}
	}
	// The key first: credentials whose tokens are bound to a key must find
	// it. Tokens ImageHost did not bind need none (RFC 9449 §5: the
	// token_type says).
	if creds.bound() {
		if err := os.MkdirAll(filepath.Dir(c.credentials), 0o700); err != nil {
			return err
		}
		if err := key.save(keyFile(c.credentials)); err != nil {
			return err
		}
	} else {
		os.Remove(keyFile(c.credentials))
	}
	if err := creds.save(c.credentials); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Signed in to %s as %s.\nThe tokens are in %s, readable by you only; photos logout revokes them.\n",
		creds.Issuer, or(creds.Username, creds.Subject), c.credentials)
	if creds.bound() {
		fmt.Fprintf(c.stdout, "They are bound to a key of this computer's (DPoP), in %s: without it they are of no use.\n", keyFile(c.credentials))
	}
	return nil
}

// loginDevice runs the device authorization grant; the polls carry proofs
// of key, to which ImageHost binds the tokens.
func (c *cli) loginDevice(ctx context.Context, p *provider, key *proofKey) (credentials, error) {
	cfg := c.oauthConfig(p)
	if cfg.Endpoint.DeviceAuthURL == "" {
		return credentials{}, fmt.Errorf("%s has no device authorization endpoint; try photos login -loopback", c.opts.issuer)
	}
	// RFC 8628 §3.1: the device authorization request.
	da, err := cfg.DeviceAuth(c.clientContext(ctx))
	if err != nil {
		return credentials{}, fmt.Errorf("device authorization: %w", describe(err))
	}
	// RFC 8628 §3.3: "the device displays the "user_code" and
	// "verification_uri"", and §3.3.1 the complete URI "in non-textual
	// form, such as a QR code".
	fmt.Fprintf(c.stdout, "To sign in, open  %s\nand enter the code  %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		if qr, err := qrcode.New(da.VerificationURIComplete, qrcode.Low); err == nil {
			fmt.Fprintf(c.stdout, "\nor scan this with your phone:\n\n%s\n", qr.ToSmallString(false))
		}
	}
	if !da.Expiry.IsZero() {
		fmt.Fprintf(c.stdout, "The code expires in %d minutes.\n", int(time.Until(da.Expiry).Round(time.Minute).Minutes()))
	}
	if c.opts.verbose {
		fmt.Fprintf(c.stderr, "(ImageHost's activity log names this sign-in by the flow reference %s)\n", flowRef(da.DeviceCode))
	}

	// RFC 8628 §3.4-3.5: poll, at the interval, until the user answers.
	// x/oauth2 waits the interval before each poll and adds 5 seconds at
	// each slow_down; the progress line watches the answers go by.
	progress := newProgress(c.stderr, da.Interval, da.Expiry)
	progress.start()
	client := *c.httpClient()
	client.Transport = pollWatcher{next: client.Transport, seen: progress.poll}
	pollCtx := withProofKey(oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, &client), &client), key)
	tok, err := cfg.DeviceAccessToken(pollCtx, da)
	progress.end()
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode == "access_denied":
		return credentials{}, errors.New("you denied the request at ImageHost; nothing was stored")
	case errors.As(err, &re) && re.ErrorCode == "expired_token",
		errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return credentials{}, errors.New("the code expired before you allowed it: run photos login again")
	case err != nil:
		return credentials{}, fmt.Errorf("waiting for your answer: %w", describe(err))
	}
	// No nonce: the device grant has none to send.
	return c.signedIn(ctx, p, tok, "")
}

// signedIn verifies the ID token that came with tok (go-oidc checks the
// signature against ImageHost's keys, iss, aud and exp; the nonce and
// at_hash are the caller's) and returns the credentials to keep.
func (c *cli) signedIn(ctx context.Context, p *provider, tok *oauth2.Token, nonce string) (credentials, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return credentials{}, errors.New("ImageHost sent no ID token")
	}
	idToken, err := p.Verifier(&oidc.Config{ClientID: c.opts.clientID}).Verify(c.clientContext(ctx), raw)
	if err != nil {
		return credentials{}, fmt.Errorf("the ID token does not verify: %w", err)
	}
	// OpenID Connect Core §3.1.3.7: the nonce "MUST be checked to verify
	// that it is the same value as the one that was sent in the
	// Authentication Request"; without one sent, none may come back.
	if idToken.Nonce != nonce {
		return credentials{}, errors.New("the ID token's nonce is not this sign-in's: refused")
	}
	// §3.1.3.8: at_hash binds the access token to the ID token.
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			return credentials{}, fmt.Errorf("the access token does not match the ID token: %w", err)
		}
	}
	var claims struct {
		Username string `json:"preferred_username"`
	}
	idToken.Claims(&claims)
	creds := credentials{Issuer: c.opts.issuer, ClientID: c.opts.clientID, Subject: idToken.Subject, Username: claims.Username}
	return creds.withToken(tok), nil
}

// describe turns an OAuth error response into its description.
func describe(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		if re.ErrorDescription != "" {
			return fmt.Errorf("%s: %s", re.ErrorCode, re.ErrorDescription)
		}
		return errors.New(re.ErrorCode)
	}
	return err
}

// flowRef is the reference ImageHost's activity log shows for a flow: the
// first 12 hex digits of SHA-256 of its state, or of the device code.
func flowRef(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// pollWatcher tells seen the answer to each poll of the token endpoint.
type pollWatcher struct {
	next http.RoundTripper
	seen func(answer string)
}

func (w pollWatcher) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusOK {
		return resp, err
	}
	// The error code of RFC 6749 §5.2's JSON body; the body is read and
	// put back for x/oauth2.
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxJSONBytes))
	resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	for _, answer := range []string{"authorization_pending", "slow_down"} {
		if strings.Contains(string(body), `"`+answer+`"`) {
			w.seen(answer)
		}
	}
	return resp, nil
}

// progress is the line that says the command is still waiting: rewritten
// in place on a terminal, a line per poll elsewhere.
type progress struct {
	w        io.Writer
	terminal bool
	expiry   time.Time

	mu       sync.Mutex
	polls    int
	interval int64
	shown    bool
}

func newProgress(w io.Writer, interval int64, expiry time.Time) *progress {
	if interval == 0 {
		interval = 5 // RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
	}
	return &progress{w: w, terminal: isTerminal(w), expiry: expiry, interval: interval}
}

// start shows the line before the first poll, so the user sees at once
// that the command waits for them.
func (p *progress) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.show("")
}

// poll counts one poll and its answer.
func (p *progress) poll(answer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	note := ""
	if answer == "slow_down" {
		p.interval += 5 // RFC 8628 §3.5, as x/oauth2 does
		note = " (ImageHost asked to slow down)"
	}
	p.show(note)
}

// show writes the line; the caller holds p.mu.
func (p *progress) show(note string) {
	left := time.Until(p.expiry).Round(time.Second)
	line := fmt.Sprintf("Waiting for your answer at ImageHost… %d poll(s), the next in %d s%s", p.polls, p.interval, note)
	if !p.expiry.IsZero() {
		line += fmt.Sprintf(", the code expires in %s", left)
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.shown = true
}

// end finishes the line.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal && p.shown {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
