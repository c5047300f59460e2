package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/revocation"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
	"oauthdemo/e2e/harness"
)

// testClock is the injected clock: real time plus whatever the test skipped.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Test fixtures: created fresh for every test server.
const (
	appID        = "app"
	appSecret    = "app-secret-for-tests-0123456789abcdef"
	appRedirect  = "http://localhost:8080/callback"
	appLoggedOut = "http://localhost:8080/"
	spaID        = "spa" // public client
	spaRedirect  = "http://127.0.0.1:5173/callback"
	m2mID        = "robot"
	m2mSecret    = "robot-secret-for-tests-0123456789abcdef"
	iat          = "initial-access-token-for-tests"
)

// testServer is a real ImageHost on a real SQLite file (or another store),
// over real HTTP.
type testServer struct {
	t        testing.TB
	URL      string
	cfg      Config
	store    store.Store
	keys     *signing.KeySet
	clock    *testClock
	dataDir  string             // holds imagehost.db, for the operator's command line; "" on another store
	logs     *harness.LogBuffer // everything the server logged
	activity *activityLog
	revoked  *revocation.Set
	// background is the work beside the handlers: the activity log and the
	// back-channel logout queue.
	background background
}

func newTestServer(t testing.TB, configure ...func(*Config)) *testServer {
	t.Helper()
	dataDir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "imagehost.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts := newTestServerOn(t, st, configure...)
	ts.dataDir = dataDir
	return ts
}

// newTestServerOn is newTestServer on an empty store the caller opened and
// closes.
func newTestServerOn(t testing.TB, st store.Store, configure ...func(*Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	ts := &testServer{t: t, clock: &testClock{}, logs: &harness.LogBuffer{}, store: st}

	srv := httptest.NewUnstartedServer(nil)
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://" + srv.Listener.Addr().String()
	cfg.InitialAccessToken = iat
	for _, f := range configure {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts.cfg, ts.URL = cfg, cfg.Issuer
	ts.keys, err = signing.Open(ctx, st, ts.clock.now, cfg.maxTokenTTL())
	if err != nil {
		t.Fatal(err)
	}
	ts.seed()
	var logTo io.Writer = ts.logs
	if testing.Verbose() {
		logTo = io.MultiWriter(ts.logs, testWriter{t})
	}
	log := slog.New(slog.NewTextHandler(logTo, nil))
	ts.revoked, err = revocation.Load(ctx, st, ts.clock.now, cfg.MaxAccessTokenTTL, revocation.DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	apiTokens, err := newAPITokenVerifier(ctx, cfg, st, ts.keys, ts.revoked, ts.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	var stopBackground func()
	ts.background, stopBackground = startBackground(ctx, cfg, st, ts.keys, ts.revoked, ts.clock.now, log)
	ts.activity = ts.background.activity
	t.Cleanup(stopBackground) // runs after the server closed, before the store closes
	srv.Config.Handler = newServer(cfg, st, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, log)
	srv.Start()
	t.Cleanup(srv.Close)
	return ts
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (ts *testServer) seed() {
	ctx := context.Background()
	now := ts.clock.now()
	for _, u := range []store.User{
		{ID: "sub-alice", Username: "alice", Name: "Alice", Email: "alice@example.org"},
		{ID: "sub-bob", Username: "bob", Name: "Bob", Email: "bob@example.org"},
	} {
		pw := map[string]string{"alice": "wonderland", "bob": "builder"}[u.Username]
		u.PasswordHash, u.CreatedAt = password.Hash(pw), now
		if err := ts.store.CreateUser(ctx, u); err != nil {
			ts.t.Fatal(err)
		}
	}
	for _, c := range []store.Client{
		{ID: appID, SecretHash: oauth.HashToken(appSecret), Name: "Test App", RedirectURIs: []string{appRedirect},
			PostLogoutRedirectURIs: []string{appLoggedOut}, GrantTypes: []string{"authorization_code", "refresh_token"},
			Scope: "openid profile email offline_access photos.read photos.write"},
		{ID: spaID, Name: "Public SPA", RedirectURIs: []string{spaRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: "openid offline_access photos.read"},
		{ID: m2mID, SecretHash: oauth.HashToken(m2mSecret), Name: "Robot", GrantTypes: []string{"client_credentials"},
			Scope: "photos.read photos.write"},
	} {
		c.CreatedAt = now
		if err := ts.store.CreateClient(ctx, c); err != nil {
			ts.t.Fatal(err)
		}
	}
}

// browser is a person's user agent: it keeps cookies and lets each
// redirect be inspected.
type browser struct {
	t      testing.TB
	ts     *testServer
	client *http.Client
}

func (ts *testServer) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: ts.t, ts: ts, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(u string) *http.Response {
	b.t.Helper()
	resp, err := b.client.Get(b.abs(u))
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

func (b *browser) post(u string, form url.Values) *http.Response {
	b.t.Helper()
	resp, err := b.client.PostForm(b.abs(u), form)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.ts.URL + u
	}
	return u
}

// body reads and closes a response body.
func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var requestRE = regexp.MustCompile(`name="request" value="([^"]*)"`)

// formValues reads the hidden fields a page's form carries.
func formValues(t testing.TB, html string) url.Values {
	t.Helper()
	v := url.Values{}
	if m := csrfRE.FindStringSubmatch(html); m != nil {
		v.Set("csrf_token", m[1])
	}
	if m := requestRE.FindStringSubmatch(html); m != nil {
		v.Set("request", m[1])
	}
	return v
}

// location returns a redirect's target, failing the test if resp is not one.
func location(t testing.TB, resp *http.Response) *url.URL {
	t.Helper()
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want a redirect", resp.StatusCode)
	}
	u, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// authorize runs the browser through /authorize, login (as user, unless
// the browser is signed in already) and consent (allow), as a person
// would (harness.SignIn), and returns where ImageHost finally sends it: the
// client's redirect URI with the response.
func (b *browser) authorize(authURL, user, pw string) *url.URL {
	b.t.Helper()
	return harness.MustSignIn(b.t, b.client, b.abs(authURL), user, pw)
}

// authURL builds an authorization request for the test app with PKCE.
func (ts *testServer) authURL(clientID, redirectURI, scope, state, challenge string, extra ...string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {scope}, "state": {state}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return ts.URL + "/authorize?" + q.Encode()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mintRobotToken gets a client-credentials token for the robot client.
func mintRobotToken(tb testing.TB, ts *testServer) string {
	tb.Helper()
	req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(m2mID, m2mSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		tb.Fatalf("client credentials: %s", resp.Status)
	}
	return out.AccessToken
}

// burst sends n requests at once, as an attacker would: each goroutine
// makes its request ready with prepare(i), then all wait, are released
// together and send. It returns how many answers had each status.
func burst(t testing.TB, n int, prepare func(i int) (send func() (*http.Response, error))) map[int]int {
	t.Helper()
	statuses := make(chan int, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			send := prepare(i)
			ready.Done()
			<-start
			resp, err := send()
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	return counts
}
