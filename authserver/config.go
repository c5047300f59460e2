package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/upstream"
)

// Config is everything ImageHost can be told at start-up. Each field has a
// flag and an IMAGEHOST_* environment variable; a flag wins over the variable,
// the variable over the default.
type Config struct {
	Addr               string        // where to listen
	Issuer             string        // the "iss" of every token; derived from Addr when empty
	DataDir            string        // holds imagehost.db
	DatabaseURL        string        // a postgres:// URL; empty: SQLite in DataDir
	InitialAccessToken string        // guards dynamic client registration; empty turns it off
	AccessTokenTTL     time.Duration // default lifetime of access tokens
	MaxAccessTokenTTL  time.Duration // no access token lives longer, whatever its client asked for
	IDTokenTTL         time.Duration
	RefreshTokenTTL    time.Duration
	CodeTTL            time.Duration
	SessionTTL         time.Duration
	APITokenCheck      string // how the photos API checks tokens: "jwt" or "introspect"
	APIClientSecret    string // the photos API's secret at /introspect; empty: a new one at every start
	AllowLANURIs       bool   // back-channel logout may reach private addresses (a workshop LAN)
	LogLevel           string
	// Instance names this instance in every response's X-Instance header;
	// serve makes it the host name and port when it is empty.
	Instance string
	// MetricsToken, when set, is the bearer token /metrics asks for;
	// without it, /metrics answers local requests only (metrics.go).
	MetricsToken string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (clientaddr.go); none by default.
	TrustedProxies trustedProxies
	// ShutdownDelay is how long an instance told to stop goes on serving,
	// with /readyz answering 503, before it closes its listener: long
	// enough for a load balancer's health checks to take it out of
	// rotation (drain.go). Zero stops at once.
	ShutdownDelay time.Duration

	// NAT64Prefixes are the network's own NAT64 prefixes (RFC 6052): the
	// IPv4 address an outbound request reaches through one is checked.
	NAT64Prefixes []netip.Prefix

	// What each owner (a user, or a client for itself) may keep at the
	// photos API: without a bound, anyone with a token could fill the disk.
	MaxPhotosPerOwner int
	MaxBytesPerOwner  int64

	// What registration may create: every registered client is a photo
	// owner of its own (client credentials), and rows in the database.
	MaxRegisteredClients int           // clients one initial access token may have registered at a time
	MaxClients           int           // clients in all, beyond which neither registration nor the console adds one
	RegisteredClientTTL  time.Duration // how long a client registered at /register lives

	// The device authorization grant (RFC 8628): how long a device code
	// and its user code live, how long a device must wait between polls,
	// and how many device authorizations may await an answer at once.
	DeviceCodeTTL         time.Duration
	DevicePollInterval    time.Duration
	MaxPendingDeviceCodes int

	// MaxDPoPProofs bounds the DPoP proofs remembered against replay
	// (RFC 9449 §11.1), each until it is a minute old (two at most, for a
	// client whose clock is ahead).
	MaxDPoPProofs int

	// Upstreams are the OpenID providers users may sign in through
	// (upstream_config.go); upstreams collects their settings.
	Upstreams []upstream.Config
	upstreams upstreamSettings

	// Lab turns on lab mode: defences that can be switched off, loopback only.
	Lab bool

	// A workshop's room (join.go): with Join or a JoinCode, whoever has the
	// code may create an account, up to MaxAttendees of them. A JoinCode
	// is stored as the join code at start (only its hash); Join alone
	// makes one at the first start and prints it.
	Join         bool
	JoinCode     string
	MaxAttendees int

	// Demo seeds demo users, clients and photos on start, idempotently.
	Demo                bool
	DemoUsers           string // "alice:wonderland,bob:builder"
	DemoAppURL          string // PhotoEditorApp's base URL
	DemoAppClientSecret string
	DemoM2MClientSecret string
	// DemoExpiryClientSecret is the secret of the client whose tokens live
	// a second, for PhotoEditorApp's expired-token demonstration.
	DemoExpiryClientSecret string
	// DemoSSORedirectURI makes this ImageHost the demo's Corporate SSO: it
	// seeds the demo users and one client, the other ImageHost, with this
	// redirect URI and DemoSSOClientSecret, and none of PhotoEditorApp's.
	DemoSSORedirectURI  string
	DemoSSOClientSecret string

	// demoPublished is set by withDemoSecrets when the demo runs with the
	// configured (published) secrets rather than generated ones.
	demoPublished bool
}

// configVar describes one setting: its flag name, variable and default.
type configVar struct {
	flag, env, def, usage string
	set                   func(string) error
	boolean               bool // a flag that needs no value: -demo
}

// parseConfig reads the settings from args, then the IMAGEHOST_*
// variables, then the defaults.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := bindConfig(fs, configVars(&c), getenv); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.Upstreams = c.upstreams.configs(getenv)
	return c, nil
}

// configVars is the table of ImageHost's settings, each set into c.
func configVars(c *Config) []configVar {
	durations := func(d *time.Duration) func(string) error {
		return func(s string) error {
			v, err := time.ParseDuration(s)
			*d = v
			return err
		}
	}
	text := func(p *string) func(string) error { return func(s string) error { *p = s; return nil } }
	number := func(p *int) func(string) error {
		return func(s string) error {
			v, err := strconv.Atoi(s)
			*p = v
			return err
		}
	}
	// byteSize reads 100MB, 512KB, 1GB (powers of 1024) or a number of bytes.
	byteSize := func(p *int64) func(string) error {
		return func(s string) error {
			digits, unit := s, int64(1)
			for suffix, u := range map[string]int64{"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30} {
				if d, ok := strings.CutSuffix(s, suffix); ok {
					digits, unit = d, u
				}
			}
			v, err := strconv.ParseInt(digits, 10, 64)
			if err == nil && (v < 0 || v > (1<<62)/unit) {
				err = errors.New("out of range")
			}
			*p = v * unit
			return err
		}
	}
	return []configVar{
		{"addr", "IMAGEHOST_ADDR", "127.0.0.1:9090", "address to listen on", text(&c.Addr), false},
		{"issuer", "IMAGEHOST_ISSUER", "", "issuer URL (default: http://<addr>)", text(&c.Issuer), false},
		{"data-dir", "IMAGEHOST_DATA_DIR", ".data/imagehost", "directory for the SQLite database", text(&c.DataDir), false},
		{"database-url", "IMAGEHOST_DATABASE_URL", "", "PostgreSQL database as a postgres:// URL, for several instances (empty: SQLite in the data directory)", text(&c.DatabaseURL), false},
		{"initial-access-token", "IMAGEHOST_INITIAL_ACCESS_TOKEN", "", "bearer token required for dynamic client registration (empty: registration off)", text(&c.InitialAccessToken), false},
		{"access-token-ttl", "IMAGEHOST_ACCESS_TOKEN_TTL", "5m", "access token lifetime (e.g. 30s for workshops)", durations(&c.AccessTokenTTL), false},
		{"max-access-token-ttl", "IMAGEHOST_MAX_ACCESS_TOKEN_TTL", "1h", "longest access token lifetime a client may choose (at most 24h)", durations(&c.MaxAccessTokenTTL), false},
		{"id-token-ttl", "IMAGEHOST_ID_TOKEN_TTL", "1h", "ID token lifetime", durations(&c.IDTokenTTL), false},
		{"refresh-token-ttl", "IMAGEHOST_REFRESH_TOKEN_TTL", "720h", "refresh token lifetime", durations(&c.RefreshTokenTTL), false},
		{"code-ttl", "IMAGEHOST_CODE_TTL", "1m", "authorization code lifetime", durations(&c.CodeTTL), false},
		{"session-ttl", "IMAGEHOST_SESSION_TTL", "12h", "login session lifetime", durations(&c.SessionTTL), false},
		{"api-token-check", "IMAGEHOST_API_TOKEN_CHECK", "jwt", `how the photos API checks access tokens: "jwt" (local signature check) or "introspect" (RFC 7662)`, text(&c.APITokenCheck), false},
		{"api-client-secret", "IMAGEHOST_API_CLIENT_SECRET", "", "the photos API's client secret for introspection, the same on every instance of one database (empty: a new one at every start)", text(&c.APIClientSecret), false},
		{"log-level", "IMAGEHOST_LOG_LEVEL", "info", "debug, info, warn or error", text(&c.LogLevel), false},
		{"metrics-token", "IMAGEHOST_METRICS_TOKEN", "", "bearer token that /metrics asks for, for a scraper on another machine (empty: /metrics answers local requests only)", text(&c.MetricsToken), false},
		{"instance", "IMAGEHOST_INSTANCE", "", "this instance's name in the X-Instance header of every response (default: host name:port)", text(&c.Instance), false},
		{"trusted-proxies", "IMAGEHOST_TRUSTED_PROXIES", "", "reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For gives the client's address", func(s string) error {
			p, err := parseTrustedProxies(s)
			c.TrustedProxies = p
			return err
		}, false},
		{"shutdown-delay", "IMAGEHOST_SHUTDOWN_DELAY", "0s", "on SIGTERM, how long to go on serving with /readyz answering 503 before closing the listener, for a load balancer's health checks to notice (at most 15s)", durations(&c.ShutdownDelay), false},
		{"max-photos-per-owner", "IMAGEHOST_MAX_PHOTOS_PER_OWNER", "100", "how many photos each user (or client) may keep", number(&c.MaxPhotosPerOwner), false},
		{"max-bytes-per-owner", "IMAGEHOST_MAX_BYTES_PER_OWNER", "100MB", "how many bytes of photos each user (or client) may keep, e.g. 100MB or 1GB", byteSize(&c.MaxBytesPerOwner), false},
		{"max-registered-clients", "IMAGEHOST_MAX_REGISTERED_CLIENTS", "100", "how many clients the initial access token may have registered at /register at a time", number(&c.MaxRegisteredClients), false},
		{"max-clients", "IMAGEHOST_MAX_CLIENTS", "1000", "how many clients there may be in all before /register and the developer console refuse more", number(&c.MaxClients), false},
		{"registered-client-ttl", "IMAGEHOST_REGISTERED_CLIENT_TTL", "168h", "how long a client registered at /register lives before it is deleted with its grants and photos", durations(&c.RegisteredClientTTL), false},
		{"device-code-ttl", "IMAGEHOST_DEVICE_CODE_TTL", "10m", "lifetime of a device code and its user code (RFC 8628; at most 30m)", durations(&c.DeviceCodeTTL), false},
		{"device-poll-interval", "IMAGEHOST_DEVICE_POLL_INTERVAL", "5s", "how long a device must wait between polls of the token endpoint, in whole seconds (RFC 8628 §3.2 interval)", durations(&c.DevicePollInterval), false},
		{"max-pending-device-codes", "IMAGEHOST_MAX_PENDING_DEVICE_CODES", "10000", "how many device authorizations may await the user's answer at once", number(&c.MaxPendingDeviceCodes), false},
		{"max-dpop-proofs", "IMAGEHOST_MAX_DPOP_PROOFS", "250000", "how many DPoP proofs may be remembered against replay at once, each for a minute or two (with SQLite in memory: about 13 MiB for 250,000); past it, DPoP requests get 503", number(&c.MaxDPoPProofs), false},
		{"upstreams", "IMAGEHOST_UPSTREAMS", "", "OpenID providers users may sign in through, by name, comma separated; each is set by IMAGEHOST_UPSTREAM_<NAME>_ISSUER, _CLIENT_ID, _CLIENT_SECRET and _DISPLAY_NAME, or by -upstream", c.upstreams.setNames, false},
		{"upstream", "IMAGEHOST_UPSTREAM_<NAME>_<FIELD>", "", "one setting of an upstream provider, name.field=value, field one of issuer, client_id, client_secret, display_name; once per setting", c.upstreams.setFlag, false},
		{"demo", "IMAGEHOST_DEMO", "false", "seed demo users, clients and photos", func(s string) error {
			v, err := strconv.ParseBool(s)
			c.Demo = v
			return err
		}, true},
		{"nat64-prefixes", "IMAGEHOST_NAT64_PREFIXES", "", "the network's own NAT64 prefixes (RFC 6052), comma separated, besides any that DNS64 shows at start", func(s string) error {
			var err error
			c.NAT64Prefixes, err = outbound.ParseNAT64(s)
			return err
		}, false},
		{"allow-lan-uris", "IMAGEHOST_ALLOW_LAN_URIS", "false", "let back-channel logout URIs point into private networks and this machine (a workshop LAN)", func(s string) error {
			v, err := strconv.ParseBool(s)
			c.AllowLANURIs = v
			return err
		}, true},
		{"lab", "IMAGEHOST_LAB", "false", "lab mode: defences can be switched off at /lab (loopback only)", func(s string) error {
			v, err := strconv.ParseBool(s)
			c.Lab = v
			return err
		}, true},
		{"join", "IMAGEHOST_JOIN", "false", "let whoever has the join code create an account; without -join-code, one is made at the first start and printed", func(s string) error {
			v, err := strconv.ParseBool(s)
			c.Join = v
			return err
		}, true},
		{"join-code", "IMAGEHOST_JOIN_CODE", "", "the join code attendees create their accounts with (at least 8 letters or digits; turns joining on)", text(&c.JoinCode), false},
		{"max-attendees", "IMAGEHOST_MAX_ATTENDEES", "100", "how many accounts may be created with the join code", number(&c.MaxAttendees), false},
		{"demo-users", "IMAGEHOST_DEMO_USERS", "", "demo users as user:password,user:password", text(&c.DemoUsers), false},
		{"demo-app-url", "IMAGEHOST_DEMO_APP_URL", "http://localhost:8080", "PhotoEditorApp's base URL, for its demo client registration", text(&c.DemoAppURL), false},
		{"demo-app-client-secret", "IMAGEHOST_DEMO_APP_CLIENT_SECRET", "", "secret of the demo PhotoEditorApp client (empty: generated and printed)", text(&c.DemoAppClientSecret), false},
		{"demo-m2m-client-secret", "IMAGEHOST_DEMO_M2M_CLIENT_SECRET", "", "secret of the demo machine-to-machine client (empty: generated and printed)", text(&c.DemoM2MClientSecret), false},
		{"demo-expiry-client-secret", "IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET", "", "secret of the demo client whose access tokens live 1 s, for the expired-token demonstration (empty: generated and printed)", text(&c.DemoExpiryClientSecret), false},
		{"demo-sso-redirect-uri", "IMAGEHOST_DEMO_SSO_REDIRECT_URI", "", "play the demo's Corporate SSO: seed the demo users and one client, ImageHost, with this redirect URI, and no PhotoEditorApp client (loopback only)", text(&c.DemoSSORedirectURI), false},
		{"demo-sso-client-secret", "IMAGEHOST_DEMO_SSO_CLIENT_SECRET", "", "the Corporate SSO's secret for ImageHost's client (empty: generated and printed)", text(&c.DemoSSOClientSecret), false},
	}
}

// bindConfig sets each of vars from its variable, or its default, and
// makes it a flag of fs, so that a flag given later wins.
func bindConfig(fs *flag.FlagSet, vars []configVar, getenv func(string) string) error {
	for _, v := range vars {
		def := v.def
		if env := getenv(v.env); env != "" {
			def = env
		}
		if err := v.set(def); err != nil {
			return fmt.Errorf("%s=%q: %w", v.env, def, err)
		}
		usage := fmt.Sprintf("%s (env %s, default %q)", v.usage, v.env, v.def)
		if v.boolean {
			fs.BoolFunc(v.flag, usage, v.set)
		} else {
			fs.Func(v.flag, usage, v.set)
		}
	}
	return nil
}

// withInstance fills in the instance's name, when none is set, from the
// machine's host name and the port we actually listen on.
func (c Config) withInstance(listenAddr net.Addr) Config {
	if c.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "imagehost"
		}
		_, port, _ := net.SplitHostPort(listenAddr.String())
		c.Instance = net.JoinHostPort(host, port)
	}
	return c
}

// withIssuer fills in the issuer from the address we actually listen on.
func (c Config) withIssuer(listenAddr net.Addr) Config {
	if c.Issuer == "" {
		c.Issuer = "http://" + listenAddr.String()
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		// OpenID Connect Discovery §3: the issuer is a URL "using the https
		// scheme with no query or fragment components". We allow http so
		// the demo runs on a laptop without certificates.
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return fmt.Errorf("issuer %q must be an absolute http(s) URL", c.Issuer)
		case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"):
			return fmt.Errorf("issuer %q must have no query, fragment or trailing slash", c.Issuer)
		}
	}
	for name, d := range map[string]time.Duration{"access-token-ttl": c.AccessTokenTTL, "max-access-token-ttl": c.MaxAccessTokenTTL, "id-token-ttl": c.IDTokenTTL,
		"refresh-token-ttl": c.RefreshTokenTTL, "code-ttl": c.CodeTTL, "session-ttl": c.SessionTTL, "registered-client-ttl": c.RegisteredClientTTL} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %v", name, d)
		}
	}
	// The store keeps revocations for store.RevocationRetention: a token
	// living longer could outlive the record of its revocation.
	if c.MaxAccessTokenTTL > store.RevocationRetention {
		return fmt.Errorf("max-access-token-ttl must be at most %v", store.RevocationRetention)
	}
	if c.AccessTokenTTL > c.MaxAccessTokenTTL {
		return fmt.Errorf("access-token-ttl %v is longer than max-access-token-ttl %v", c.AccessTokenTTL, c.MaxAccessTokenTTL)
	}
	if c.CodeTTL > 10*time.Minute {
		// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10
		// minutes is RECOMMENDED."
		return errors.New("code-ttl must be at most 10m")
	}
	// Each pending user code is one more a guess at /device can hit
	// (RFC 8628 §5.1): the lifetime and the number pending bound them.
	if c.DeviceCodeTTL <= 0 || c.DeviceCodeTTL > 30*time.Minute {
		return fmt.Errorf("device-code-ttl must be positive and at most 30m, got %v", c.DeviceCodeTTL)
	}
	if c.DevicePollInterval < time.Second || c.DevicePollInterval > time.Minute || c.DevicePollInterval%time.Second != 0 {
		return fmt.Errorf("device-poll-interval must be whole seconds from 1s to 1m, got %v", c.DevicePollInterval)
	}
	if c.MaxPendingDeviceCodes < 1 || c.MaxPendingDeviceCodes > 1_000_000 {
		return fmt.Errorf("max-pending-device-codes must be from 1 to 1000000, got %d", c.MaxPendingDeviceCodes)
	}
	// Counted in store.DPoPProofShards parts, each holding its share.
	if c.MaxDPoPProofs < store.DPoPProofShards || c.MaxDPoPProofs > 10_000_000 {
		return fmt.Errorf("max-dpop-proofs must be from %d to 10000000, got %d", store.DPoPProofShards, c.MaxDPoPProofs)
	}
	if c.APITokenCheck != "jwt" && c.APITokenCheck != "introspect" {
		return fmt.Errorf(`api-token-check must be "jwt" or "introspect", got %q`, c.APITokenCheck)
	}
	// With introspection, the photos API authenticates at /introspect as
	// one client, whose secret's hash the database holds. Left to itself,
	// each instance would set a new secret at its start, and so lock the
	// photos API of every instance started before it out of introspection.
	if c.APITokenCheck == "introspect" && c.DatabaseURL != "" && c.APIClientSecret == "" {
		return errors.New("api-token-check introspect with a database-url needs api-client-secret, the same on every instance")
	}
	if c.APIClientSecret != "" && len(c.APIClientSecret) < 32 {
		return errors.New("api-client-secret must be at least 32 characters")
	}
	if c.DatabaseURL != "" {
		// The URL may hold a password: the message does not repeat it.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("database-url must be a postgres:// URL")
		}
	}
	if c.Addr == "" {
		return errors.New("addr must not be empty")
	}
	// It goes into a header: printable ASCII, short.
	if len(c.Instance) > 64 || strings.IndexFunc(c.Instance, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return errors.New("instance must be at most 64 printable ASCII characters, without spaces")
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > maxShutdownDelay {
		return fmt.Errorf("shutdown-delay must be from 0 to %v, got %v", maxShutdownDelay, c.ShutdownDelay)
	}
	if c.MaxPhotosPerOwner < 1 || c.MaxBytesPerOwner < 1 {
		return errors.New("max-photos-per-owner and max-bytes-per-owner must be positive")
	}
	if c.MaxRegisteredClients < 1 || c.MaxClients < 1 {
		return errors.New("max-registered-clients and max-clients must be positive")
	}
	if c.Lab && !loopbackOnly(c.Addr) {
		return fmt.Errorf("lab mode listens on loopback only; addr %q is not", c.Addr)
	}
	// A proxy carries requests from beyond this machine, where the lab's
	// switches must not be reached: lab mode is for one machine.
	if c.Lab && len(c.TrustedProxies) > 0 {
		return errors.New("lab mode serves this machine's browser only, not behind a proxy: unset trusted-proxies")
	}
	// The lab's switches live in this process (lab.go): instances sharing
	// a database would each have their own, and a defence switched off at
	// one would still stand at the others. Lab mode is one instance.
	if c.Lab && c.DatabaseURL != "" {
		return errors.New("lab mode is one instance on one machine, its switches in its memory: unset database-url")
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		return errors.New("metrics-token must be at least 32 characters")
	}
	if c.JoinCode != "" && len(normalizeJoinCode(c.JoinCode)) < minJoinCodeLength {
		return fmt.Errorf("join-code must have at least %d letters or digits (spaces, dashes and case do not count)", minJoinCodeLength)
	}
	if c.MaxAttendees < 1 || c.MaxAttendees > maxAttendeesLimit {
		return fmt.Errorf("max-attendees must be from 1 to %d", maxAttendeesLimit)
	}
	if c.InitialAccessToken != "" && len(c.InitialAccessToken) < 16 {
		return errors.New("initial-access-token must be at least 16 characters")
	}
	if c.DemoSSORedirectURI != "" && (!c.Demo || !loopbackOnly(c.Addr)) {
		return errors.New("demo-sso-redirect-uri makes the demo's Corporate SSO, which runs with -demo on loopback only")
	}
	return c.validateUpstreams()
}

// joining reports whether attendees may create accounts with a join code.
func (c Config) joining() bool { return c.Join || c.JoinCode != "" }

// secureCookies reports whether cookies get the Secure attribute: whenever
// the issuer is served over TLS.
func (c Config) secureCookies() bool { return strings.HasPrefix(c.Issuer, "https://") }

// resource is the photos API's resource identifier: the "aud" of access
// tokens (RFC 9068 §3) and the "resource" of RFC 9728 metadata.
func (c Config) resource() string { return c.Issuer + "/api" }

// maxTokenTTL is how long a retired signing key must stay published.
func (c Config) maxTokenTTL() time.Duration {
	return max(c.MaxAccessTokenTTL, c.IDTokenTTL, 24*time.Hour)
}
