package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/photos"
	"oauthdemo/authserver/revocation"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/postgres"
	"oauthdemo/authserver/store/sqlite"
)

// serve runs ImageHost until ctx is cancelled, then shuts down gracefully.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	// A soft memory limit keeps the heap small under load (the garbage
	// collector works harder near it; it never refuses memory). GOMEMLIMIT
	// overrides it.
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cfg = cfg.withIssuer(ln.Addr()).withInstance(ln.Addr())
	if err := cfg.Validate(); err != nil {
		return err
	}

	cfg.NAT64Prefixes = append(cfg.NAT64Prefixes, discoverNAT64(ctx, log)...)

	st, err := openStore(ctx, cfg.DatabaseURL, cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := signing.Open(ctx, st, time.Now, cfg.maxTokenTTL())
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if cfg.Demo {
		var secrets demoSecrets
		if cfg, secrets, err = withDemoSecrets(cfg); err != nil {
			return err
		}
		if err := seedDemo(ctx, cfg, st, secrets, stdout); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	if err := keepLabClient(ctx, cfg, st, time.Now(), stdout); err != nil {
		return err
	}
	if err := setUpJoining(ctx, cfg, st, time.Now(), stdout); err != nil {
		return err
	}
	revoked, err := revocation.Load(ctx, st, time.Now, cfg.MaxAccessTokenTTL, revocation.DefaultLimit)
	if err != nil {
		return fmt.Errorf("load revocations: %w", err)
	}
	work, stopBackground := startBackground(ctx, cfg, st, keys, revoked, time.Now, log)
	defer stopBackground() // after the server stopped, before the store closes
	apiTokens, err := newAPITokenVerifier(ctx, cfg, st, keys, revoked, time.Now)
	if err != nil {
		return err
	}

	var draining drain
	srv := &http.Server{
		Handler:           draining.readiness(newServer(cfg, st, keys, apiTokens, revoked, work, time.Now, log)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go housekeeping(ctx, st, keys, log)
	fmt.Fprintf(stdout, "ImageHost is listening on http://%s\n  issuer:    %s\n  discovery: %s/.well-known/openid-configuration\n",
		ln.Addr(), cfg.Issuer, cfg.Issuer)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Behind a load balancer: first out of rotation (drain.go), then stop.
	if cfg.ShutdownDelay > 0 {
		log.Info("draining: /readyz answers 503 until the listener closes", "delay", cfg.ShutdownDelay)
		draining.start()
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-time.After(cfg.ShutdownDelay):
		}
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// discoverNAT64 returns the NAT64 prefix that DNS64 shows, if the network
// has one (RFC 7050), so that a back-channel URL whose name DNS64 made an
// IPv6 address for is checked by the IPv4 address it reaches. It asks the
// system's resolver once, at start, for two seconds at most.
func discoverNAT64(ctx context.Context, log *slog.Logger) []netip.Prefix {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	found, err := outbound.DiscoverNAT64(ctx, net.DefaultResolver)
	if err != nil {
		log.Warn("NAT64 prefix discovery failed; only the well-known and configured prefixes are checked", "err", err)
	} else if len(found) > 0 {
		log.Info("NAT64 prefix found by DNS64 (RFC 7050)", "prefixes", fmt.Sprint(found))
	}
	return found
}

// defaultMemoryLimit is ImageHost's soft memory limit for the Go heap: the
// rest of a 64 MiB resident set is the binary, the stacks and the runtime's
// own (BENCHMARKS.md: the load test's peak was 65.2 MiB under 48 MiB, and
// 61.8 MiB under this, with the same throughput).
const defaultMemoryLimit = 44 << 20

// followKeysEvery is how often each instance reads the signing keys, so
// that a rotation made in the database is published by every instance
// within that interval, and used by all after publishKeysFor.
const followKeysEvery = 2 * time.Second

// publishKeysFor is how long a rotation's new keys are published before
// they sign, when several instances may share the database (PostgreSQL):
// two of followKeysEvery, so every instance has read them, with an
// interval to spare for a slow read, before any hands out a token signed
// with them. Until then the old keys sign everywhere. A token from one
// instance is therefore never refused by another for a key it does not
// know yet, nor is a client that fetched one instance's JWKS missing the
// key of another's token. It is well within the 5 s in which a rotation
// must be in use everywhere.
const publishKeysFor = 2 * followKeysEvery

// keyPublishDelay is how long new signing keys are published before they
// sign on st: publishKeysFor on PostgreSQL, and nothing on SQLite, whose
// database one process serves: it publishes and uses the new keys at the
// same read, so a rotation in the demo takes effect at once.
func keyPublishDelay(st store.Store) time.Duration {
	if _, shared := st.(*postgres.Store); shared {
		return publishKeysFor
	}
	return 0
}

// followRevocationsEvery is how often the photos API's revocation list
// reads revocations another process made (the operator's command line, or
// another instance on the same PostgreSQL database), so they take effect
// within a second.
const followRevocationsEvery = 500 * time.Millisecond

// background is the work that goes on beside the handlers, which they hand
// work to: the activity log's writer and the back-channel logout queue.
type background struct {
	activity *activityLog
	logouts  *backchannel
}

// startBackground starts what works beside the handlers until stop is
// called: the activity log's writer, the back-channel logout queue, the
// revocation list following the store for revocations made by other
// processes, and the signing keys following the store for rotations. stop
// ends them and waits for them, the activity log written out and the
// queued logout notifications sent (for a few seconds at most); it must
// run after the server stopped, before the store closes. The end of ctx
// (SIGTERM) does not stop them: requests still finishing during the
// shutdown record their activity, which stop then writes out.
func startBackground(ctx context.Context, cfg Config, st store.Store, keys *signing.KeySet, revoked *revocation.Set, now func() time.Time, log *slog.Logger) (work background, stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	work.activity = newActivityLog(ctx, st, now, log)
	work.logouts = newBackchannel(cfg, keys, st, now, log)
	followed, keysFollowed := make(chan struct{}), make(chan struct{})
	go func() { revoked.Follow(ctx, followRevocationsEvery, log); close(followed) }()
	go func() { keys.Follow(ctx, followKeysEvery, log); close(keysFollowed) }()
	return work, func() { work.logouts.stop(); cancel(); <-work.activity.stopped; <-followed; <-keysFollowed }
}

// ownedStore is a store that its opener closes. Both stores keep the
// demo's bookkeeping too.
type ownedStore interface {
	store.Store
	store.DemoBookkeeping
	Close() error
}

// openStore opens the PostgreSQL database at databaseURL when there is one
// (several instances can share it), and otherwise the SQLite database in
// dataDir, creating the directory on first run.
func openStore(ctx context.Context, databaseURL, dataDir string, log *slog.Logger) (ownedStore, error) {
	// Each branch returns a nil interface on error, not a nil *Store in one.
	if databaseURL != "" {
		st, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	if err := privateDataDir(dataDir, log); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "imagehost.db"))
	if err != nil {
		return nil, err
	}
	return st, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(requestLogHandler{slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})}), nil
}

// housekeeping deletes expired records and retired keys no token needs,
// once a minute.
func housekeeping(ctx context.Context, st store.Store, keys *signing.KeySet, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := st.DeleteExpired(ctx, time.Now()); err != nil {
			log.Warn("delete expired records", "err", err)
		}
		if err := keys.Reload(ctx); err != nil {
			log.Warn("reload signing keys", "err", err)
		}
	}
}

// apiClientID is the photos API's own client, used only to authenticate its
// introspection requests.
const apiClientID = "imagehost-photos-api"

// newAPITokenVerifier builds the photos API's token check: local JWT
// validation against the revocation list, or RFC 7662 introspection over
// HTTP, as configured. For introspection the API authenticates with the
// configured secret, which instances sharing a database share, or else with
// a new one at every start; only its hash is stored. It is a resource
// server, so introspection tells it about every client's tokens (RFC 7662 §4).
func newAPITokenVerifier(ctx context.Context, cfg Config, st store.Store, keys *signing.KeySet, revoked *revocation.Set, now func() time.Time) (photos.TokenVerifier, error) {
	if cfg.APITokenCheck == "jwt" {
		return photos.JWTVerifier{Keys: keys, Issuer: cfg.Issuer, Audience: cfg.resource(), Revoked: revoked,
			MaxLifetime: cfg.MaxAccessTokenTTL, Now: now}, nil
	}
	secret := cfg.APIClientSecret
	if secret == "" {
		secret = oauth.NewToken()
	}
	err := st.SetClientSecret(ctx, apiClientID, oauth.HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		err = st.CreateClient(ctx, store.Client{ID: apiClientID, SecretHash: oauth.HashToken(secret),
			Name: "ImageHost Photos API", GrantTypes: []string{}, ResourceServer: true, CreatedAt: now()})
	} else if err == nil {
		err = st.SetClientResourceServer(ctx, apiClientID, true)
	}
	if err != nil {
		return nil, fmt.Errorf("photos API client: %w", err)
	}
	return photos.IntrospectionVerifier{Endpoint: cfg.Issuer + "/introspect", ClientID: apiClientID, ClientSecret: secret,
		Issuer: cfg.Issuer, Audience: cfg.resource(), HTTP: &http.Client{Timeout: 5 * time.Second}}, nil
}
