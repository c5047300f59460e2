package main

// ImageHost on PostgreSQL: the whole program started through run with a
// database URL, and the round trips to the database each token request
// costs.

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/postgres"
	"oauthdemo/authserver/store/postgres/pgtest"
)

// pg is this test binary's PostgreSQL server, started by the first test
// that needs one; without PostgreSQL those tests skip (outside CI).
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// newPostgresStore opens a fresh, migrated PostgreSQL database for one test,
// closed when the test ends. A tracer, if given, sees every query.
func newPostgresStore(tb testing.TB, tracer pgx.QueryTracer) *postgres.Store {
	tb.Helper()
	ctx := context.Background()
	dbURL := pg.DatabaseFrom(tb, "imagehost", func(ctx context.Context, dbURL string) error {
		s, err := postgres.Open(ctx, dbURL)
		if err != nil {
			return err
		}
		return s.Close()
	})
	cfg, err := postgres.ParseConfig(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	st, err := postgres.OpenConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// TestServeOnPostgres runs ImageHost through run with IMAGEHOST_DATABASE_URL
// on an empty database, as an instance behind a load balancer would start,
// and does a whole authorization code flow with a standard client: login,
// consent, code, tokens, the photos API, a refresh. Everything it stores
// lands in PostgreSQL; the data directory stays empty.
func TestServeOnPostgres(t *testing.T) {
	dbURL := pg.Database(t)
	dataDir := t.TempDir()
	const secret = "demo-secret-0123456789abcdef"
	getenv := env("IMAGEHOST_ADDR", "127.0.0.1:0", "IMAGEHOST_DATA_DIR", dataDir, "IMAGEHOST_DATABASE_URL", dbURL,
		"IMAGEHOST_DEMO", "true", "IMAGEHOST_DEMO_USERS", "alice:wonderland", "IMAGEHOST_DEMO_APP_CLIENT_SECRET", secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, getenv, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	var issuer string
	sc := bufio.NewScanner(pr)
	for issuer == "" && sc.Scan() {
		if m := regexp.MustCompile(`issuer:\s+(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			issuer = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if issuer == "" {
		cancel()
		t.Fatalf("no issuer printed; run: %v", <-done)
	}

	ts := &testServer{t: t, URL: issuer, clock: &testClock{}}
	c := newStandardClient(t, ts, "photoeditorapp", secret, "http://localhost:8080/callback", "openid", "offline_access", "photos.read")
	tok, idToken := c.login(t, ts.browser(), "alice", "wonderland")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}
	resp, err := c.oauth.Client(context.Background(), tok).Get(issuer + "/api/photos")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/photos: %v %v", err, resp.Status)
	}
	if page := body(t, resp); !strings.Contains(page, `"id"`) {
		t.Fatalf("alice's seeded photos are missing: %s", page)
	}
	refreshed, err := c.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v after shutdown", err)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Fatalf("the data directory holds %v; everything belongs in PostgreSQL", entries)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var grants, refreshTokens int
	err = conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM grants WHERE user_id = $1),
		(SELECT count(*) FROM refresh_tokens)`, idToken.Subject).Scan(&grants, &refreshTokens)
	if err != nil || grants != 1 || refreshTokens != 2 {
		t.Fatalf("PostgreSQL holds %d grants of alice's and %d refresh tokens (%v), want 1 and 2 (the first, rotated once)", grants, refreshTokens, err)
	}
}

// roundTrips counts the queries, and batches, whose context carries a
// counter (countRoundTrips). Once a connection has prepared a statement each
// of them is one round trip to PostgreSQL: pgx sends BEGIN and COMMIT as
// queries too, and a batch in one go.
type roundTrips struct{}

type roundTripsKey struct{}

func countRoundTrips(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, roundTripsKey{}, n), n
}

func (roundTrips) add(ctx context.Context) context.Context {
	if n, ok := ctx.Value(roundTripsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	return ctx
}

func (r roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return r.add(ctx)
}
func (roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return r.add(ctx)
}
func (roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestTokenEndpointRoundTripsOnPostgres counts the round trips to PostgreSQL
// of each kind of token request. Each one is network latency that every
// request pays, with several instances in front of one database: a new one
// on these paths should be a decision, made here.
func TestTokenEndpointRoundTripsOnPostgres(t *testing.T) {
	st := newPostgresStore(t, roundTrips{})
	bs := benchServerOf(t, newTestServerOn(t, st))
	now := bs.clock.now()
	verifier := strings.Repeat("v", 43)
	codeRequest := func() *http.Request {
		code := oauth.NewToken()
		err := st.SaveAuthCode(context.Background(), store.AuthCode{CodeHash: oauth.HashToken(code), ClientID: appID, UserID: "sub-alice",
			RedirectURI: appRedirect, Scope: "openid offline_access photos.read", Nonce: "n", CodeChallenge: oauth.S256Challenge(verifier),
			CodeChallengeMethod: "S256", AuthTime: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect},
			"code_verifier": {verifier}}.Encode(), appID, appSecret)
	}
	refreshRequest := func() *http.Request {
		return tokenRequest("grant_type=refresh_token&refresh_token="+bs.grantFor(t, now), appID, appSecret)
	}
	tests := []struct {
		name    string
		request func() *http.Request
		budget  int64 // round trips at most
	}{
		{"client_credentials", func() *http.Request {
			return tokenRequest("grant_type=client_credentials", m2mID, m2mSecret)
		}, 1}, // the client
		{"authorization_code", codeRequest, 4}, // the client, consume the code, the user, the grant with its refresh token
		{"refresh_token", refreshRequest, 4},   // the client, the refresh token with its grant, the user, the rotation
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // each connection prepares a statement once; count what follows
				serveOK(t, bs.h, tc.request())
			}
			ctx, n := countRoundTrips(context.Background())
			serveOK(t, bs.h, tc.request().WithContext(ctx))
			t.Logf("%s: %d round trips to PostgreSQL", tc.name, n.Load())
			if n.Load() == 0 {
				t.Fatal("no round trip counted: the tracer sees no query")
			}
			if n.Load() > tc.budget {
				t.Fatalf("%s took %d round trips to PostgreSQL, budget %d", tc.name, n.Load(), tc.budget)
			}
		})
	}
}

func serveOK(t *testing.T, h http.Handler, req *http.Request) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body.String())
	}
}
