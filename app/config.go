package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is PhotoEditorApp's configuration: flags, or PHOTOEDITOR_*
// variables; a flag wins over the variable, the variable over the default.
type Config struct {
	Addr         string // where to listen
	BaseURL      string // how browsers reach the app; the redirect URI hangs off it
	Issuer       string // ImageHost's issuer URL
	PhotosAPI    string // the photos API's base URL
	ClientID     string
	ClientSecret string
	DataDir      string // session keys and the session database
	// DatabaseURL is a PostgreSQL database (postgres://) that several
	// instances share: sessions and the flow inspector's recordings live
	// there. Empty: SQLite in DataDir, and recordings in memory.
	DatabaseURL string
	// Hex-encoded cookie keys; empty: generated on first run and kept in DataDir.
	SessionAuthKey       string
	SessionEncryptionKey string
	LogLevel             string
	// A machine client's credentials, for the workshop's client
	// credentials demonstration; empty turns it off.
	MachineClientID     string
	MachineClientSecret string
	// The client of the expired-token demonstration: its access tokens
	// live a second (the demo seeds it at ImageHost); empty: the
	// demonstration waits for a token of the browser's flow to expire.
	ExpiryClientID     string
	ExpiryClientSecret string
	// DPoP binds each session's tokens to a key of its own (RFC 9449,
	// dpop.go); on by default. Off, the tokens are bearer tokens.
	DPoP bool
	// Lab turns on lab mode: the app's defences can be switched off at
	// /lab. Loopback only.
	Lab bool
	// LabAttacker is an ImageHost account ("user:password") the lab's
	// attacker logs in with, to inject their own authorization code.
	LabAttacker string
	// LabLegacyClientID is the public client ImageHost's demo seeds in lab
	// mode for the legacy grants, which the lab page demonstrates with
	// (legacy.go); empty: no such demonstrations.
	LabLegacyClientID string
	// DemoSecrets is, for the demo only, ImageHost's demo-secrets file:
	// where it keeps the secrets it generated instead of demo.env's
	// published ones (demosecrets.go).
	DemoSecrets string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (source.go); none by default.
	TrustedProxies trustedProxies
	// Instance names this instance in every response's X-Instance header;
	// serve makes it the host name and port when it is empty.
	Instance string
	// MetricsToken, when set, is the bearer token /metrics asks for;
	// without it, /metrics answers local requests only (metrics.go).
	MetricsToken string
	// ShutdownDelay is how long an instance told to stop goes on serving,
	// with /readyz answering 503, before it closes its listener: long
	// enough for a load balancer's health checks to take it out of
	// rotation (drain.go). Zero stops at once.
	ShutdownDelay time.Duration
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	vars := []struct {
		p                     *string
		flag, env, def, usage string
	}{
		{&c.Addr, "addr", "PHOTOEDITOR_ADDR", "localhost:8080", "address to listen on"},
		{&c.BaseURL, "base-url", "PHOTOEDITOR_BASE_URL", "", "the app's public URL (default: http://<addr>)"},
		{&c.Issuer, "issuer", "PHOTOEDITOR_ISSUER", "http://127.0.0.1:9090", "ImageHost's issuer URL"},
		{&c.PhotosAPI, "photos-api", "PHOTOEDITOR_PHOTOS_API", "", "ImageHost's photos API (default: <issuer>/api/photos)"},
		{&c.ClientID, "client-id", "PHOTOEDITOR_CLIENT_ID", "photoeditorapp", "client_id registered at ImageHost"},
		{&c.ClientSecret, "client-secret", "PHOTOEDITOR_CLIENT_SECRET", "", "client secret registered at ImageHost"},
		{&c.DataDir, "data-dir", "PHOTOEDITOR_DATA_DIR", ".data/photoeditor", "directory for session keys and sessions"},
		{&c.DatabaseURL, "database-url", "PHOTOEDITOR_DATABASE_URL", "", "PostgreSQL database as a postgres:// URL, shared by several instances (empty: SQLite in the data directory)"},
		{&c.SessionAuthKey, "session-auth-key", "PHOTOEDITOR_SESSION_AUTH_KEY", "", "hex cookie authentication key, 32 or 64 bytes (default: generated and kept in data-dir)"},
		{&c.SessionEncryptionKey, "session-encryption-key", "PHOTOEDITOR_SESSION_ENCRYPTION_KEY", "", "hex cookie encryption key, 32 bytes (default: generated and kept in data-dir)"},
		{&c.LogLevel, "log-level", "PHOTOEDITOR_LOG_LEVEL", "info", "debug, info, warn or error"},
		{&c.MachineClientID, "machine-client-id", "PHOTOEDITOR_MACHINE_CLIENT_ID", "", "a machine client for the workshop's client credentials demonstration"},
		{&c.MachineClientSecret, "machine-client-secret", "PHOTOEDITOR_MACHINE_CLIENT_SECRET", "", "its secret"},
		{&c.ExpiryClientID, "expiry-client-id", "PHOTOEDITOR_EXPIRY_CLIENT_ID", "", "a client whose access tokens live a second, for the workshop's expired-token demonstration"},
		{&c.ExpiryClientSecret, "expiry-client-secret", "PHOTOEDITOR_EXPIRY_CLIENT_SECRET", "", "its secret"},
		{&c.LabAttacker, "lab-attacker", "PHOTOEDITOR_LAB_ATTACKER", "", "lab mode: the attacker's ImageHost account, user:password"},
		{&c.Instance, "instance", "PHOTOEDITOR_INSTANCE", "", "this instance's name in the X-Instance header of every response (default: host name:port)"},
		{&c.MetricsToken, "metrics-token", "PHOTOEDITOR_METRICS_TOKEN", "", "bearer token that /metrics asks for, for a scraper on another machine (empty: /metrics answers local requests only)"},
		{&c.LabLegacyClientID, "lab-legacy-client-id", "PHOTOEDITOR_LAB_LEGACY_CLIENT_ID", "legacy-lab", "lab mode: ImageHost's client for the implicit and password grants' demonstrations (empty: none)"},
		{&c.DemoSecrets, "demo-secrets", "PHOTOEDITOR_DEMO_SECRETS", "", "demo only: ImageHost's demo-secrets file; its client secrets replace the published ones, and off loopback they are required"},
	}
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, v := range vars {
		def := v.def
		if env := getenv(v.env); env != "" {
			def = env
		}
		fs.StringVar(v.p, v.flag, def, fmt.Sprintf("%s (env %s)", v.usage, v.env))
	}
	proxies := getenv("PHOTOEDITOR_TRUSTED_PROXIES")
	fs.Func("trusted-proxies", "reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For gives the client's address (env PHOTOEDITOR_TRUSTED_PROXIES)",
		func(s string) error { proxies = s; return nil })
	delay := getenv("PHOTOEDITOR_SHUTDOWN_DELAY")
	fs.Func("shutdown-delay", "on SIGTERM, how long to go on serving with /readyz answering 503 before closing the listener, for a load balancer's health checks to notice (at most 15s; env PHOTOEDITOR_SHUTDOWN_DELAY)",
		func(s string) error { delay = s; return nil })
	lab := getenv("PHOTOEDITOR_LAB")
	fs.BoolFunc("lab", "lab mode: defences can be switched off at /lab, loopback only (env PHOTOEDITOR_LAB)", func(s string) error { lab = s; return nil })
	dpop := getenv("PHOTOEDITOR_DPOP")
	fs.BoolFunc("dpop", "bind each session's tokens to a DPoP key of its own (RFC 9449); -dpop=false for bearer tokens (env PHOTOEDITOR_DPOP, default true)",
		func(s string) error { dpop = s; return nil })
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if lab != "" {
		v, err := strconv.ParseBool(lab)
		if err != nil {
			return c, fmt.Errorf("PHOTOEDITOR_LAB=%q: %w", lab, err)
		}
		c.Lab = v
	}
	c.DPoP = true
	if dpop != "" {
		v, err := strconv.ParseBool(dpop)
		if err != nil {
			return c, fmt.Errorf("PHOTOEDITOR_DPOP=%q: %w", dpop, err)
		}
		c.DPoP = v
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if delay != "" {
		if c.ShutdownDelay, err = time.ParseDuration(delay); err != nil {
			return c, fmt.Errorf("shutdown-delay: %w", err)
		}
	}
	if c.TrustedProxies, err = parseTrustedProxies(proxies); err != nil {
		return c, fmt.Errorf("trusted-proxies: %w", err)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.PhotosAPI == "" {
		c.PhotosAPI = c.Issuer + "/api/photos"
	}
	return c, c.Validate()
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	for name, v := range map[string]string{"base-url": c.BaseURL, "issuer": c.Issuer, "photos-api": c.PhotosAPI} {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s %q must be an absolute http(s) URL", name, v)
		}
	}
	if c.ClientID == "" {
		return errors.New("client-id is required")
	}
	if c.ClientSecret == "" {
		return errors.New("client-secret is required (PHOTOEDITOR_CLIENT_SECRET); the demo sets it in demo.env")
	}
	for name, k := range map[string]string{"session-auth-key": c.SessionAuthKey, "session-encryption-key": c.SessionEncryptionKey} {
		if k == "" {
			continue
		}
		b, err := hex.DecodeString(k)
		if err != nil || (name == "session-auth-key" && len(b) != 32 && len(b) != 64) || (name == "session-encryption-key" && len(b) != 32) {
			return fmt.Errorf("%s must be hex: 32 or 64 bytes for authentication, 32 for encryption", name)
		}
	}
	if (c.SessionAuthKey == "") != (c.SessionEncryptionKey == "") {
		return errors.New("give both session keys, or neither")
	}
	// It goes into a header: printable ASCII, short.
	if len(c.Instance) > 64 || strings.IndexFunc(c.Instance, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return errors.New("instance must be at most 64 printable ASCII characters, without spaces")
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > maxShutdownDelay {
		return fmt.Errorf("shutdown-delay must be from 0 to %v, got %v", maxShutdownDelay, c.ShutdownDelay)
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		return errors.New("metrics-token must be at least 32 characters")
	}
	if c.DatabaseURL != "" {
		// The URL may hold a password: the message does not repeat it.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("database-url must be a postgres:// URL")
		}
		// Instances that share a database share their browsers, whose
		// cookies each must read: keys generated by each instance in its
		// own data directory would sign a browser out at every other.
		if c.SessionAuthKey == "" {
			return errors.New("database-url needs session-auth-key and session-encryption-key, the same on every instance")
		}
	}
	if c.Lab && !loopbackAddr(c.Addr) {
		return fmt.Errorf("lab mode listens on loopback only; addr %q is not", c.Addr)
	}
	// A proxy carries requests from beyond this machine, where the lab's
	// switches must not be reached: lab mode is for one machine.
	if c.Lab && len(c.TrustedProxies) > 0 {
		return errors.New("lab mode serves this machine's browser only, not behind a proxy: unset trusted-proxies")
	}
	return nil
}

// withInstance fills in the instance's name, when none is set, from the
// machine's host name and the port the app actually listens on.
func (c Config) withInstance(listenAddr net.Addr) Config {
	if c.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "photoeditor"
		}
		_, port, _ := net.SplitHostPort(listenAddr.String())
		c.Instance = net.JoinHostPort(host, port)
	}
	return c
}

// redirectURI is where ImageHost sends the browser back (RFC 6749 §3.1.2).
func (c Config) redirectURI() string { return c.BaseURL + "/callback" }

// secureCookies: cookies get the Secure attribute when the app is served over TLS.
func (c Config) secureCookies() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// loopbackAddr reports whether a listen address is on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopback(host)
}
