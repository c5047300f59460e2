package main

// ImageHost on PostgreSQL: the whole program started through run with a
// database URL, and the round trips to the database each token request
// costs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
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
	"oauthdemo/authserver/revocation"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/postgres"
	"oauthdemo/authserver/store/postgres/pgtest"
	"oauthdemo/e2e/harness"
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
	return openPostgres(tb, newPostgresDatabase(tb), tracer)
}

// newPostgresDatabase returns the URL of a fresh, migrated database,
// dropped when the test ends.
func newPostgresDatabase(tb testing.TB) string {
	tb.Helper()
	return pg.DatabaseFrom(tb, "imagehost", func(ctx context.Context, dbURL string) error {
		s, err := postgres.Open(ctx, dbURL)
		if err != nil {
			return err
		}
		return s.Close()
	})
}

// openPostgres opens a store, with its own pool, on the database at dbURL,
// closed when the test ends.
func openPostgres(tb testing.TB, dbURL string, tracer pgx.QueryTracer) *postgres.Store {
	tb.Helper()
	cfg, err := postgres.ParseConfig(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	st, err := postgres.OpenConfig(context.Background(), cfg)
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

// TestTokenChecksRoundTripsOnPostgres counts the round trips to PostgreSQL
// of the requests that check an access token, and of an upload. The photos
// API checks revocations in memory (revocation.Set), no round trip; userinfo
// and introspection ask the store, the source of truth, in one query for all
// of a token's keys (its jti, grant, client and subject). An upload checks
// the owner's quota and inserts in one batch.
func TestTokenChecksRoundTripsOnPostgres(t *testing.T) {
	st := newPostgresStore(t, roundTrips{})
	bs := benchServerOf(t, newTestServerOn(t, st))
	robotToken := mintRobotToken(t, bs.testServer)
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, tokenRequest("grant_type=refresh_token&refresh_token="+bs.grantFor(t, bs.clock.now()), appID, appSecret))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body.String())
	}
	bearer := func(method, path, token string) *http.Request {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return req
	}
	png := pngBytes(t)
	tests := []struct {
		name    string
		request func() *http.Request
		want    int
		budget  int64 // round trips at most
	}{
		{"photos API list, jwt", func() *http.Request { return bearer("GET", "/api/photos", robotToken) }, 200,
			1}, // the page of photos; revocations: none, in memory
		{"photos API upload, jwt", func() *http.Request {
			var buf bytes.Buffer
			req := bearer("POST", "/api/photos", robotToken)
			req.Header.Set("Content-Type", newMultipart(&buf, "file", "dot.png", png))
			req.Body = io.NopCloser(&buf)
			return req
		}, 201, 1}, // the owner's lock, quota and insert in one batch
		{"userinfo", func() *http.Request { return bearer("GET", "/userinfo", tok.AccessToken) }, 200,
			2}, // revocations of the token's four keys, the user
		{"introspection", func() *http.Request {
			return tokenRequestTo("/introspect", "token="+robotToken, m2mID, m2mSecret)
		}, 200, 3}, // the client, revocations of the token's keys, the user named by sub
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serve := func(req *http.Request) {
				t.Helper()
				rec := httptest.NewRecorder()
				bs.h.ServeHTTP(rec, req)
				if rec.Code != tc.want {
					t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body.String())
				}
			}
			for range 3 { // each connection prepares a statement once; count what follows
				serve(tc.request())
			}
			ctx, n := countRoundTrips(context.Background())
			serve(tc.request().WithContext(ctx))
			t.Logf("%s: %d round trips to PostgreSQL", tc.name, n.Load())
			if n.Load() == 0 && tc.budget > 0 {
				t.Fatal("no round trip counted: the tracer sees no query")
			}
			if n.Load() > tc.budget {
				t.Fatalf("%s took %d round trips to PostgreSQL, budget %d", tc.name, n.Load(), tc.budget)
			}
		})
	}
}

// anotherInstance starts a second ImageHost on st, a store of its own on
// the database that first's store uses, as a second instance behind a load
// balancer would run, or first after a restart: the same configuration and
// issuer, its own listener, signing-key set, revocation list and activity
// writer. Its URL is its own listener's. Its clock is first's, unless clock
// gives it one of its own.
func anotherInstance(t *testing.T, first *testServer, st store.Store, clock *testClock) *testServer {
	t.Helper()
	ctx := context.Background()
	if clock == nil {
		clock = first.clock
	}
	ts := &testServer{t: t, cfg: first.cfg, store: st, clock: clock, logs: &harness.LogBuffer{}}
	var err error
	if ts.keys, err = signing.Open(ctx, st, ts.clock.now, ts.cfg.maxTokenTTL()); err != nil {
		t.Fatal(err)
	}
	if ts.revoked, err = revocation.Load(ctx, st, ts.clock.now, ts.cfg.MaxAccessTokenTTL, revocation.DefaultLimit); err != nil {
		t.Fatal(err)
	}
	apiTokens, err := newAPITokenVerifier(ctx, ts.cfg, st, ts.keys, ts.revoked, ts.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(ts.logs, nil))
	var stop func()
	ts.background, stop = startBackground(context.Background(), ts.cfg, st, ts.keys, ts.revoked, ts.clock.now, log)
	ts.activity = ts.background.activity
	t.Cleanup(stop) // runs after the server closed, before the store closes
	srv := httptest.NewServer(newServer(ts.cfg, st, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, log))
	t.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

// TestRevocationReachesOtherInstancesOnPostgres: two instances on one
// PostgreSQL database, the second's photos API checking tokens itself (jwt).
// A token revoked at the first, by the client at /revoke or by the user on
// the account page, stops opening the second's API within a second: the
// second learns of it only from the database, by following the revocations
// table.
func TestRevocationReachesOtherInstancesOnPostgres(t *testing.T) {
	tests := []struct {
		name   string
		issue  func(t *testing.T, ts *testServer) issued
		revoke func(t *testing.T, ts *testServer, tok issued)
	}{
		{"RFC 7009 §2.2: the access token revoked",
			func(t *testing.T, ts *testServer) issued {
				return issued{access: mintRobotToken(t, ts), clientID: m2mID}
			},
			func(t *testing.T, ts *testServer, tok issued) {
				postBasic(t, ts.URL+"/revoke", m2mID, m2mSecret, url.Values{"token": {tok.access}}).Body.Close()
			}},
		{"account page: Revoke access",
			func(t *testing.T, ts *testServer) issued {
				return aliceTokens(t, ts, "openid offline_access photos.read")
			},
			func(t *testing.T, ts *testServer, tok issued) {
				form := formValues(t, body(t, tok.browser.get("/account")))
				form.Set("client_id", appID)
				location(t, tok.browser.post("/account/revoke", form))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbURL := newPostgresDatabase(t)
			first := newTestServerOn(t, openPostgres(t, dbURL, nil))
			second := anotherInstance(t, first, openPostgres(t, dbURL, nil), nil)
			tok := tc.issue(t, first)
			bystander := first.userToken(t, "bob", "builder", "photos.read").AccessToken
			if s := apiStatus(t, second, tok.access); s != http.StatusOK {
				t.Fatalf("before the revocation the second instance's API answers %d", s)
			}
			tc.revoke(t, first, tok)
			refusedWithin(t, second, tok.access, time.Second)
			if s := apiStatus(t, second, bystander); s != http.StatusOK {
				t.Fatalf("an unrelated token is refused too: %d", s)
			}
		})
	}
}

// TestRevocationReachesInstancesWithOtherClocksOnPostgres: two instances on
// one PostgreSQL database whose clocks are a minute apart (injected clocks),
// the photos API of each checking tokens itself (jwt). A token revoked at
// either stops opening the other's API within a second: each follows the
// revocations table by the number the database gives each record, not by
// the times the instances' clocks wrote into it.
func TestRevocationReachesInstancesWithOtherClocksOnPostgres(t *testing.T) {
	for _, revokeAtAhead := range []bool{false, true} {
		name := "revoked at the instance whose clock is behind"
		if revokeAtAhead {
			name = "revoked at the instance whose clock is ahead"
		}
		t.Run(name, func(t *testing.T) {
			dbURL := newPostgresDatabase(t)
			behind := newTestServerOn(t, openPostgres(t, dbURL, nil))
			ahead := anotherInstance(t, behind, openPostgres(t, dbURL, nil), &testClock{offset: time.Minute})
			revoker, checker := behind, ahead
			if revokeAtAhead {
				revoker, checker = ahead, behind
			}
			// Tokens come from the instance behind: one from the instance
			// ahead would be issued a minute in the future of the other.
			tok := mintRobotToken(t, behind)
			bystander := mintRobotToken(t, behind)
			for _, ts := range []*testServer{behind, ahead} {
				if s := apiStatus(t, ts, tok); s != http.StatusOK {
					t.Fatalf("before the revocation, %s's photos API answers %d", ts.URL, s)
				}
			}
			postBasic(t, revoker.URL+"/revoke", m2mID, m2mSecret, url.Values{"token": {tok}}).Body.Close()
			refusedWithin(t, checker, tok, time.Second)
			if s := apiStatus(t, checker, bystander); s != http.StatusOK {
				t.Fatalf("an unrelated token is refused too: %d", s)
			}
		})
	}
}

// TestIntrospectionOnSeveralInstancesOnPostgres: with the photos API
// checking tokens by introspection, instances on one database share the
// API's client secret, so an instance starting does not lock the photos API
// of those started before it out of /introspect. A revocation at one
// reaches the other at once: introspection asks the database.
func TestIntrospectionOnSeveralInstancesOnPostgres(t *testing.T) {
	dbURL := newPostgresDatabase(t)
	first := newTestServerOn(t, openPostgres(t, dbURL, nil), func(c *Config) {
		c.APITokenCheck, c.APIClientSecret = "introspect", "photos-api-secret-for-tests-0123456789"
	})
	tok := mintRobotToken(t, first)
	bystander := first.userToken(t, "bob", "builder", "photos.read").AccessToken
	second := anotherInstance(t, first, openPostgres(t, dbURL, nil), nil)
	for _, ts := range []*testServer{first, second} {
		if s := apiStatus(t, ts, tok); s != http.StatusOK {
			t.Fatalf("with both instances started, %s's photos API answers %d", ts.URL, s)
		}
	}
	postBasic(t, first.URL+"/revoke", m2mID, m2mSecret, url.Values{"token": {tok}}).Body.Close()
	refusedWithin(t, second, tok, time.Second)
	if s := apiStatus(t, second, bystander); s != http.StatusOK {
		t.Fatalf("an unrelated token is refused too: %d", s)
	}
}
