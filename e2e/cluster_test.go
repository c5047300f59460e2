package e2e

// Both parties as an organisation runs them: two instances of each on
// PostgreSQL, behind haproxy, round-robin with no sticky sessions
// (e2e/cluster, which go tool task cluster runs by hand). The browser's
// story goes through it unchanged; one ImageHost killed in the middle of a
// load loses nothing it acknowledged; a rolling restart under load fails
// no request; a key rotated in the database is used by every instance
// within 5 seconds, and no token is refused meanwhile.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"oauthdemo/e2e/cluster"
	"oauthdemo/e2e/harness"
)

// How often haproxy checks each instance in these tests, and how long an
// instance told to stop drains: it takes haproxy two failed checks, a
// little over one interval, to notice; the rest is a margin for a machine
// busy with other tests.
const (
	clusterCheckInterval = 300 * time.Millisecond
	clusterShutdownDelay = 2 * time.Second
)

// testCluster is a cluster for one test, on databases of its own.
type testCluster struct {
	*cluster.Cluster
	imageHostDatabase string
	logs              *harness.LogBuffer
}

// startCluster starts two instances of each party on fresh databases of the
// test binary's PostgreSQL, and haproxy in front on free ports, with the
// harness's secrets. env are settings every instance gets. Without haproxy
// the test is skipped, and under CI=true failed, as for PostgreSQL.
func startCluster(t *testing.T, env ...string) *testCluster {
	t.Helper()
	if _, err := cluster.HAProxyPath(); err != nil {
		if strings.EqualFold(os.Getenv("CI"), "true") {
			t.Fatal("haproxy is not installed, and CI must run the cluster's tests (.ci/run installs it)")
		}
		t.Skip("haproxy is not installed: install it (Debian: apt-get install haproxy) to run the cluster's tests")
	}
	imageHostDB, appDB := pg.Database(t), pg.Database(t)
	issuerPort, err1 := cluster.Port()
	appPort, err2 := cluster.Port()
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{imageHostDatabase: imageHostDB, logs: &harness.LogBuffer{}}
	c, err := cluster.Start(t.Context(), cluster.Settings{
		Binaries: harness.Binaries(t), Dir: t.TempDir(),
		ImageHostDatabase: imageHostDB, AppDatabase: appDB,
		IssuerAddr: fmt.Sprintf("127.0.0.1:%d", issuerPort), AppPort: appPort,
		Secrets: &cluster.Secrets{Passwords: map[string]string{"alice": "wonderland", "bob": "builder"},
			AppClientSecret: harness.AppClientSecret, MachineClientSecret: harness.M2MClientSecret,
			ExpiryClientSecret: harness.ExpiryClientSecret, InitialAccessToken: harness.InitialAccessToken,
			SessionAuthKey: harness.AppSessionAuthKey, SessionEncryptionKey: harness.AppSessionEncryptionKey},
		Env:           env,
		Output:        tc.logs,
		CheckInterval: clusterCheckInterval,
		ShutdownDelay: clusterShutdownDelay,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, tc.logs)
	}
	tc.Cluster = c
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("the cluster's output:\n%s", tc.logs)
		}
	})
	return tc
}

// TestClusterBrowserFlow: the browser's whole story, through haproxy, with
// requests of it landing on both instances of each party: each instance's
// own /metrics (asked directly, not through haproxy) counts requests other
// than health checks.
func TestClusterBrowserFlow(t *testing.T) {
	const ttl = 6 * time.Second
	c := startCluster(t, "IMAGEHOST_ACCESS_TOKEN_TTL="+ttl.String())
	before := servedByInstance(t, c)
	browserFlow(t, c.IssuerURL, c.AppURL, ttl)
	after := servedByInstance(t, c)
	for name, n := range after {
		t.Logf("%s served %.0f requests of the flow", name, n-before[name])
		if n <= before[name] {
			t.Errorf("%s served none of the browser's requests", name)
		}
	}
}

// TestClusterAttacksFail: the inspector's attack demonstrations through
// haproxy, each showing ImageHost's real refusal, though the steps of one
// demonstration (a login of its own, its callback, the exchange) land on
// different instances.
func TestClusterAttacksFail(t *testing.T) {
	c := startCluster(t)
	attacksFail(t, c.AppURL)
}

// TestClusterForwardedFor: a client that sends X-Forwarded-For through
// haproxy cannot pass for another address. A wrong password at ImageHost
// and a page of PhotoEditorApp, each claiming to come from 203.0.113.9:
// both parties log the address haproxy saw, and never the claimed one
// (sign-ins are limited per address).
func TestClusterForwardedFor(t *testing.T) {
	c := startCluster(t)
	const claimed = "203.0.113.9"
	browser := harness.NewBrowser()
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(harness.AuthorizeURL(c.IssuerURL, c.AppURL+"/callback", "openid", "s", clusterVerifier))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	login, err := resp.Location()
	if err != nil {
		t.Fatalf("/authorize answered %s, not a redirect to the login page", resp.Status)
	}
	form, err := harness.Form(t.Context(), browser, login.String())
	if err != nil {
		t.Fatal(err)
	}
	form.Set("username", "alice")
	form.Set("password", "not-her-password")
	for _, r := range []struct{ method, url, body string }{
		{http.MethodPost, c.IssuerURL + "/login", form.Encode()},
		{http.MethodGet, c.AppURL + "/", ""},
	} {
		req, _ := http.NewRequest(r.method, r.url, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", claimed)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	logs := c.logs.String()
	if strings.Contains(logs, claimed) {
		t.Errorf("an instance took the client's word for its address %s", claimed)
	}
	if !strings.Contains(logs, `msg="login failed"`) || !strings.Contains(logs, "ip=127.0.0.1") {
		t.Errorf("no failed sign-in logged with the address haproxy saw")
	}
}

// servedByInstance counts, by instance, the requests each has answered,
// health checks and metrics left out, from its own /metrics.
func servedByInstance(t *testing.T, c *testCluster) map[string]float64 {
	t.Helper()
	served := map[string]float64{}
	for _, p := range append(append([]*cluster.Process{}, c.ImageHost...), c.Apps...) {
		resp, err := http.Get(p.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, "_http_requests_total{") || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.Contains(line, "/readyz") || strings.Contains(line, "/healthz") || strings.Contains(line, "/metrics") {
				continue
			}
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", p.Name, line, err)
			}
			served[p.Name] += v
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/metrics: %s", p.Name, resp.Status)
		}
	}
	return served
}

// TestClusterKillImageHost: SIGKILL one ImageHost in the middle of a mixed
// load through haproxy (code grants, refreshes, API reads, uploads, client
// credentials and revocations). The load goes on through the other: the
// only requests that fail are those the killed instance had taken and
// never answered, all sent before the kill or within moments of it;
// haproxy sends the rest, and retries the GETs among those, to the other.
// Afterwards everything the clients were told happened is there: each
// grant's latest refresh token rotates, each upload reads back, each
// revoked token is refused; and no grant was revoked behind its client's
// back: every grant's latest access token still reads photos, and no
// refresh token was presented twice.
func TestClusterKillImageHost(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	c := startCluster(t, "IMAGEHOST_MAX_PHOTOS_PER_OWNER=100000")
	load := newOAuthLoad(t, c.IssuerURL, c.AppURL)
	const workers = 8
	stop := load.run(workers)
	time.Sleep(1500 * time.Millisecond)
	killed := c.ImageHost[0]
	killedAt := time.Now()
	killed.Kill()
	time.Sleep(3 * time.Second)
	stop()

	// The load went on through the other instance. A request that failed
	// was in flight at the kill: sent before it, or just after, onto a
	// kept-alive connection to the killed instance that the kernel had
	// closed and haproxy had not yet heard of. It hears within
	// milliseconds, but not before each such connection has broken: a
	// client whose request failed may see its next one, sent at once, fail
	// on another, so failures are not counted per client, only timed.
	const raceWindow = 100 * time.Millisecond
	failed, after := 0, 0
	for _, o := range load.outcomes() {
		if o.err != nil {
			failed++
			t.Logf("failed: %s sent %v after the kill: %v", o.op, o.sent.Sub(killedAt).Round(time.Millisecond), o.err)
			if o.sent.Sub(killedAt) > raceWindow {
				t.Errorf("%s sent %v after the kill failed: %v", o.op, o.sent.Sub(killedAt).Round(time.Millisecond), o.err)
			}
		} else if o.sent.After(killedAt) {
			after++
		}
	}
	t.Logf("%d requests, %d failed (in flight at the kill), %d succeeded after the kill", len(load.outcomes()), failed, after)
	if after < 50 {
		t.Errorf("only %d requests succeeded after the kill: the load did not go on", after)
	}
	load.verify(t, c.IssuerURL)
	if strings.Contains(c.logs.String(), "refresh token reuse") {
		t.Error("ImageHost saw a refresh token presented twice, and revoked its grant")
	}
}

// TestClusterRollingRestart: each instance in turn, ImageHost's then
// PhotoEditorApp's, twice round, is stopped with SIGTERM, started again and waited for
// until haproxy sees it up, under a load of OAuth clients at ImageHost and
// of connected browsers at PhotoEditorApp (the gallery, and the token
// expired now and then, so that refreshes go through ImageHost too). Not
// one request fails: the instance drains (its /readyz answers 503 while it
// still serves) until haproxy has taken it out, then finishes what it was
// doing.
func TestClusterRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts under load")
	}
	c := startCluster(t, "IMAGEHOST_MAX_PHOTOS_PER_OWNER=100000")
	load := newOAuthLoad(t, c.IssuerURL, c.AppURL)
	browsers := newBrowserLoad(t, c.AppURL, 4)
	stopLoad := load.run(8)
	stopBrowsers := browsers.run()

	// Twice round: what a restart can lose it loses in a few milliseconds
	// (a kept-alive connection closed under a request), so the more
	// restarts, the likelier a loss shows.
	var restarts []*cluster.Process
	for range 2 {
		restarts = append(append(restarts, c.ImageHost...), c.Apps...)
	}
	for _, p := range restarts {
		time.Sleep(500 * time.Millisecond)
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// haproxy takes it out of rotation while it still listens: its
		// /readyz answers 503 first.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.WaitUntil(ctx, p.Name, false)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://")); err != nil {
			t.Errorf("%s stopped listening before haproxy took it out of rotation: %v", p.Name, err)
		} else {
			conn.Close()
		}
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop after SIGTERM", p.Name)
		}
		if code := p.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM", p.Name, code)
		}
		if err := p.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
		err = c.WaitUntil(ctx, p.Name, true)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s restarted", p.Name)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	stopBrowsers()

	outcomes := append(load.outcomes(), browsers.outcomes()...)
	failed := 0
	for _, o := range outcomes {
		if o.err != nil {
			failed++
			if failed <= 10 {
				t.Errorf("%s failed: %v", o.op, o.err)
			}
		}
	}
	t.Logf("%d requests during the rolling restart, %d failed", len(outcomes), failed)
	if failed > 0 {
		t.Errorf("%d requests failed during the rolling restart, want none", failed)
	}
	if len(browsers.outcomes()) < 20 || len(load.outcomes()) < 100 {
		t.Errorf("too little load to speak of: %d browser requests, %d client requests", len(browsers.outcomes()), len(load.outcomes()))
	}
	load.verify(t, c.IssuerURL)
}

// TestClusterKeyRotation: the signing keys rotated in the database
// ("authserver keys rotate", the operator's command). For 6 seconds,
// without a pause, each instance issues a token that the other's photos
// API checks, and each publishes, in its JWKS, the key of every token
// issued so far: none is refused, for the new keys are published before
// they sign. Within 5 seconds both sign with the new key, and publish both
// new keys (ES256 for access tokens, RS256 for ID tokens).
func TestClusterKeyRotation(t *testing.T) {
	c := startCluster(t)
	instances := c.ImageHost[:2]
	oldKeys := jwksKeyIDs(t, instances[0].URL)
	oldKid := tokenKeyID(t, clientCredentials(t, instances[0].URL))

	rotated := time.Now()
	rotate := exec.Command(filepath.Join(harness.Binaries(t), "authserver"), "keys", "rotate")
	rotate.Env = append(os.Environ(), "IMAGEHOST_DATABASE_URL="+c.imageHostDatabase)
	if out, err := rotate.CombinedOutput(); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	issued := map[string]bool{} // kids of the tokens issued so far
	newKeyAt := map[string]time.Duration{}
	refused, unpublished, rounds := 0, 0, 0
	for time.Since(rotated) < 6*time.Second {
		rounds++
		for i, issuer := range instances {
			token := clientCredentials(t, issuer.URL)
			kid := tokenKeyID(t, token)
			issued[kid] = true
			if _, seen := newKeyAt[issuer.Name]; !seen && kid != oldKid {
				newKeyAt[issuer.Name] = time.Since(rotated)
			}
			if status := apiStatus(t, instances[1-i].URL, token); status != http.StatusOK {
				if refused++; refused == 1 {
					t.Errorf("%v after the rotation %s refuses a token %s signed with %s: %d",
						time.Since(rotated).Round(time.Millisecond), instances[1-i].Name, issuer.Name, kid, status)
				}
			}
		}
		for _, p := range instances {
			published := jwksKeyIDs(t, p.URL)
			for kid := range issued {
				if !published[kid] {
					if unpublished++; unpublished == 1 {
						t.Errorf("%v after the rotation %s's JWKS lacks the key %s of a token issued already", time.Since(rotated).Round(time.Millisecond), p.Name, kid)
					}
				}
			}
		}
	}
	if refused > 0 || unpublished > 0 {
		t.Errorf("in %d rounds, %d tokens refused by the other instance and %d JWKS without a key in use", rounds, refused, unpublished)
	}
	for _, p := range instances {
		newKeys := 0
		for kid := range jwksKeyIDs(t, p.URL) {
			if !oldKeys[kid] {
				newKeys++
			}
		}
		at, ok := newKeyAt[p.Name]
		if !ok || at > 5*time.Second || newKeys < 2 {
			t.Errorf("%s signed with the new key %v after the rotation (signed with it: %v) and publishes %d new keys; want within 5 s, and 2",
				p.Name, at.Round(time.Millisecond), ok, newKeys)
		}
	}
	t.Logf("%d rounds; the instances signed with the new key %v after the rotation", rounds, newKeyAt)
}

// clientCredentials gets an access token for the machine client at base.
func clientCredentials(t *testing.T, base string) string {
	t.Helper()
	status, out, err := postToken(http.DefaultClient, base, harness.M2MClientID, harness.M2MClientSecret, url.Values{"grant_type": {"client_credentials"}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("client credentials at %s: %d %v %v", base, status, out, err)
	}
	return out["access_token"]
}

// tokenKeyID is the kid in a JWT's header.
func tokenKeyID(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// jwksKeyIDs are the kids an instance publishes.
func jwksKeyIDs(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	return kids
}

// apiStatus is how the photos API at base answers a token.
func apiStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/photos", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// postToken posts a token request with client authentication, and reads
// the JSON answer.
func postToken(client *http.Client, base, clientID, secret string, form url.Values) (int, map[string]string, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out := map[string]string{}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var raw map[string]any
	if json.Unmarshal(body, &raw) == nil {
		for k, v := range raw {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return resp.StatusCode, out, nil
}

// outcome is one request of a load, as its client saw it: err is set when
// it got no answer, or an answer a working service never gives (5xx).
type outcome struct {
	op   string
	sent time.Time
	err  error
}

// unavailable is the error of an answer only an unavailable service gives.
func unavailable(status int) error {
	if status >= 500 {
		return fmt.Errorf("answered %d %s", status, http.StatusText(status))
	}
	return nil
}

// oauthLoad is a mixed load of OAuth clients at ImageHost, and what they
// were told: the grants they hold, the photos they uploaded, the tokens
// they revoked. An answer that says something went wrong other than the
// service being away (an invalid_grant, say) fails the test at once.
type oauthLoad struct {
	t        *testing.T
	issuer   string
	browser  *http.Client // alice's, signed in and consented
	redirect string
	authURL  string
	client   *http.Client // the clients' servers', with keep-alive

	mu      sync.Mutex
	grants  []*grant
	uploads map[string][]byte // photo id: the bytes uploaded
	revoked []string          // access tokens revoked, and told so
	results []outcome
}

const clusterVerifier = "cluster-test-pkce-verifier-0123456789abcdefghijk"

func newOAuthLoad(t *testing.T, issuer, appURL string) *oauthLoad {
	l := &oauthLoad{t: t, issuer: issuer, browser: harness.NewBrowser(), uploads: map[string][]byte{}, redirect: appURL + "/callback",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	l.authURL = harness.AuthorizeURL(issuer, l.redirect, "openid offline_access photos.read photos.write", "s", clusterVerifier)
	// alice signs in and allows once; from then on /authorize answers
	// her browser with a code at once.
	if _, err := harness.Code(harness.MustSignIn(t, l.browser, l.authURL, "alice", "wonderland")); err != nil {
		t.Fatal(err)
	}
	return l
}

// record keeps one request's outcome.
func (l *oauthLoad) record(op string, sent time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, outcome{op, sent, err})
}

func (l *oauthLoad) outcomes() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.results...)
}

// run starts workers clients, each going round the operations, until the
// returned function is called; it waits for them to end.
func (l *oauthLoad) run(workers int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []*grant
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var usable []*grant
				for _, g := range mine {
					if !g.inDoubt {
						usable = append(usable, g)
					}
				}
				op := (w + i) % 5
				if len(usable) == 0 && op != 4 {
					op = 0
				}
				switch op {
				case 0:
					if g := l.codeGrant(); g != nil {
						mine = append(mine, g)
					}
				case 1:
					l.refresh(usable[i%len(usable)])
				case 2:
					l.read(usable[i%len(usable)])
				case 3:
					l.upload(usable[i%len(usable)], w, i)
				case 4:
					l.revokeMachineToken()
				}
			}
		})
	}
	return func() { close(done); wg.Wait() }
}

// codeGrant runs the authorization code flow: a code at /authorize (alice
// is signed in), redeemed at /token.
func (l *oauthLoad) codeGrant() *grant {
	sent := time.Now()
	callback, err := harness.SignIn(l.t.Context(), l.browser, l.authURL, "alice", "wonderland")
	if err == nil {
		var code string
		if code, err = harness.Code(callback); err != nil {
			l.t.Errorf("authorization: %v", err)
			return nil
		}
		l.record("GET /authorize", sent, nil)
		sent = time.Now()
		status, out, err := postToken(l.client, l.issuer, harness.AppClientID, harness.AppClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {l.redirect}, "code_verifier": {clusterVerifier}})
		if err == nil {
			err = unavailable(status)
		}
		l.record("POST /token (code)", sent, err)
		if err != nil {
			return nil
		}
		if status != http.StatusOK {
			l.t.Errorf("code redemption: %d %v", status, out)
			return nil
		}
		g := &grant{refresh: out["refresh_token"], access: out["access_token"]}
		l.mu.Lock()
		l.grants = append(l.grants, g)
		l.mu.Unlock()
		return g
	}
	var refused *harness.RefusedError
	if errors.As(err, &refused) {
		l.t.Errorf("authorization: %v", err)
	}
	l.record("GET /authorize", sent, err)
	return nil
}

// refresh rotates a grant's refresh token. A refresh whose answer never
// came leaves the grant in doubt: its refresh token may or may not have
// been spent, and presenting it again could look like theft.
func (l *oauthLoad) refresh(g *grant) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sent := time.Now()
	g.inDoubt = true
	status, out, err := postToken(l.client, l.issuer, harness.AppClientID, harness.AppClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}})
	if err == nil {
		err = unavailable(status)
	}
	l.record("POST /token (refresh)", sent, err)
	if err != nil {
		return
	}
	if status != http.StatusOK {
		l.t.Errorf("refresh: %d %v", status, out)
		return
	}
	g.refresh, g.access, g.inDoubt = out["refresh_token"], out["access_token"], false
}

// read lists alice's photos with a grant's access token.
func (l *oauthLoad) read(g *grant) {
	g.mu.Lock()
	access := g.access
	g.mu.Unlock()
	sent := time.Now()
	status, err := l.get(l.issuer+"/api/photos", access)
	l.record("GET /api/photos", sent, err)
	if err == nil && status != http.StatusOK {
		l.t.Errorf("GET /api/photos: %d", status)
	}
}

// upload uploads a small image of its own.
func (l *oauthLoad) upload(g *grant, w, i int) {
	g.mu.Lock()
	access := g.access
	g.mu.Unlock()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{uint8(w), uint8(i), uint8(i >> 8), 255})
	var pngData bytes.Buffer
	png.Encode(&pngData, img)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("title", fmt.Sprintf("load %d-%d", w, i))
	part, _ := mw.CreateFormFile("file", "load.png")
	part.Write(pngData.Bytes())
	mw.Close()
	sent := time.Now()
	req, _ := http.NewRequest(http.MethodPost, l.issuer+"/api/photos", &body)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := l.client.Do(req)
	if err != nil {
		l.record("POST /api/photos", sent, err)
		return
	}
	defer resp.Body.Close()
	var created struct {
		ID string `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	err = unavailable(resp.StatusCode)
	l.record("POST /api/photos", sent, err)
	if err != nil {
		return
	}
	if resp.StatusCode != http.StatusCreated || created.ID == "" {
		l.t.Errorf("upload: %s", resp.Status)
		return
	}
	l.mu.Lock()
	l.uploads[created.ID] = pngData.Bytes()
	l.mu.Unlock()
}

// revokeMachineToken gets a token for the machine client and revokes it.
func (l *oauthLoad) revokeMachineToken() {
	sent := time.Now()
	status, out, err := postToken(l.client, l.issuer, harness.M2MClientID, harness.M2MClientSecret, url.Values{"grant_type": {"client_credentials"}})
	if err == nil {
		err = unavailable(status)
	}
	l.record("POST /token (client_credentials)", sent, err)
	if err != nil {
		return
	}
	if status != http.StatusOK {
		l.t.Errorf("client credentials: %d %v", status, out)
		return
	}
	sent = time.Now()
	req, _ := http.NewRequest(http.MethodPost, l.issuer+"/revoke", strings.NewReader(url.Values{"token": {out["access_token"]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(harness.M2MClientID, harness.M2MClientSecret)
	resp, err := l.client.Do(req)
	if err == nil {
		resp.Body.Close()
		err = unavailable(resp.StatusCode)
	}
	l.record("POST /revoke", sent, err)
	if err != nil {
		return
	}
	if resp.StatusCode != http.StatusOK {
		l.t.Errorf("revoke: %s", resp.Status)
		return
	}
	l.mu.Lock()
	l.revoked = append(l.revoked, out["access_token"])
	l.mu.Unlock()
}

// get sends a GET with a bearer token, and reads the answer away.
func (l *oauthLoad) get(target, token string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, unavailable(resp.StatusCode)
}

// verify checks, through the issuer, that everything the clients were
// told happened is there, and that no grant was revoked: every grant's
// latest access token still reads the photos, even one whose last refresh
// is in doubt (a revoked grant takes its access tokens with it); every
// grant not in doubt rotates its refresh token once more; every upload
// reads back, byte for byte; every revoked token is refused.
func (l *oauthLoad) verify(t *testing.T, issuer string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	doubtful := 0
	for _, g := range l.grants {
		if status, err := l.get(issuer+"/api/photos", g.access); err != nil || status != http.StatusOK {
			t.Errorf("a grant's latest access token: %d %v (its grant was revoked)", status, err)
		}
		if g.inDoubt {
			doubtful++
			continue
		}
		status, out, err := postToken(l.client, issuer, harness.AppClientID, harness.AppClientSecret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}})
		if err != nil || status != http.StatusOK {
			t.Errorf("a grant's latest refresh token: %d %v %v", status, out, err)
		}
	}
	for id, want := range l.uploads {
		req, _ := http.NewRequest(http.MethodGet, issuer+"/api/photos/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+l.grants[0].access)
		resp, err := l.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("uploaded photo %s: %s, %d bytes of %d", id, resp.Status, len(got), len(want))
		}
	}
	for _, token := range l.revoked {
		if status, _ := l.get(issuer+"/api/photos", token); status != http.StatusUnauthorized {
			t.Errorf("a revoked access token: %d, want 401", status)
		}
	}
	t.Logf("checked %d grants (%d in doubt: access token only), %d uploads, %d revocations", len(l.grants), doubtful, len(l.uploads), len(l.revoked))
	if len(l.grants) == 0 || len(l.uploads) == 0 || len(l.revoked) == 0 {
		t.Errorf("nothing to check of some kind: %d grants, %d uploads, %d revocations", len(l.grants), len(l.uploads), len(l.revoked))
	}
}

// browserLoad is browsers connected to PhotoEditorApp, each looking at its
// gallery over and over, and now and then having its access token expire
// (the inspector's button), so that the next look refreshes it.
type browserLoad struct {
	t        *testing.T
	appURL   string
	browsers []*http.Client

	mu      sync.Mutex
	results []outcome
}

func newBrowserLoad(t *testing.T, appURL string, n int) *browserLoad {
	b := &browserLoad{t: t, appURL: appURL}
	for range n {
		browser := harness.NewBrowser()
		if _, err := connect(t.Context(), browser, appURL, "alice", "wonderland"); err != nil {
			t.Fatal(err)
		}
		b.browsers = append(b.browsers, browser)
	}
	return b
}

func (b *browserLoad) outcomes() []outcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]outcome(nil), b.results...)
}

func (b *browserLoad) record(op string, sent time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.results = append(b.results, outcome{op, sent, err})
}

func (b *browserLoad) run() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, browser := range b.browsers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if i%5 == 4 {
					sent := time.Now()
					form, err := harness.Form(b.t.Context(), browser, b.appURL+"/flow")
					b.record("GET /flow", sent, err)
					if err != nil {
						continue
					}
					sent = time.Now()
					resp, err := browser.PostForm(b.appURL+"/flow/expire", form)
					if err == nil {
						resp.Body.Close()
						err = unavailable(resp.StatusCode)
						if err == nil && resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("answered %s", resp.Status)
						}
					}
					b.record("POST /flow/expire", sent, err)
					continue
				}
				sent := time.Now()
				resp, err := browser.Get(b.appURL + "/photos")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					err = unavailable(resp.StatusCode)
					if err == nil && (resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/photos") {
						err = fmt.Errorf("ended at %s with %s", resp.Request.URL.Path, resp.Status)
					}
				}
				b.record("GET /photos", sent, err)
			}
		})
	}
	return func() { close(done); wg.Wait() }
}

// TestClusterDPoP: a token bound to a DPoP key works at both ImageHost
// instances, each asked directly rather than through haproxy. The nonce
// one instance gives is good at the other; a proof one instance accepted
// is refused by the other, whose record of proofs is the same PostgreSQL
// table (RFC 9449 §11.1); the bound token without a proof is refused at
// both. (PhotoEditorApp's sessions are bound too, and TestClusterBrowserFlow
// and TestClusterAttacksFail run them over both instances of each party.)
func TestClusterDPoP(t *testing.T) {
	c := startCluster(t)
	s := newProofSigner(t)
	a, b := c.ImageHost[0].URL, c.ImageHost[1].URL
	// send sends one request to an instance, with a proof made for the
	// issuer's public URL of path (htu), which is what each instance checks.
	type answer struct {
		status int
		nonce  string
		body   map[string]any
	}
	send := func(instance, method, path, authorization, proof string, form url.Values) answer {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, instance+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(harness.M2MClientID, harness.M2MClientSecret)
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		ans := answer{status: resp.StatusCode, nonce: resp.Header.Get("DPoP-Nonce")}
		json.NewDecoder(resp.Body).Decode(&ans.body)
		return ans
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"photos.read"}}
	tokenURL, apiURL := c.IssuerURL+"/token", c.IssuerURL+"/api/photos"

	// The token endpoint: a's nonce, used at b.
	first := send(a, "POST", "/token", "", s.proof(t, "POST", tokenURL, "", ""), form)
	if first.status != 400 || first.body["error"] != "use_dpop_nonce" || first.nonce == "" {
		t.Fatalf("a token request with no nonce at %s: %d %v, nonce %q", c.ImageHost[0].Name, first.status, first.body, first.nonce)
	}
	tok := send(b, "POST", "/token", "", s.proof(t, "POST", tokenURL, "", first.nonce), form)
	token, _ := tok.body["access_token"].(string)
	if tok.status != 200 || tok.body["token_type"] != "DPoP" || token == "" {
		t.Fatalf("at %s with %s's nonce: %d %v", c.ImageHost[1].Name, c.ImageHost[0].Name, tok.status, tok.body)
	}

	// The photos API: b's nonce, used at a; the proof a took, refused by b.
	dpop := "DPoP " + token
	first = send(b, "GET", "/api/photos", dpop, s.proof(t, "GET", apiURL, token, ""), nil)
	if first.status != 401 || first.body["error"] != "use_dpop_nonce" || first.nonce == "" {
		t.Fatalf("an API call with no nonce at %s: %d %v, nonce %q", c.ImageHost[1].Name, first.status, first.body, first.nonce)
	}
	proof := s.proof(t, "GET", apiURL, token, first.nonce)
	if got := send(a, "GET", "/api/photos", dpop, proof, nil); got.status != 200 {
		t.Fatalf("at %s with %s's nonce: %d %v", c.ImageHost[0].Name, c.ImageHost[1].Name, got.status, got.body)
	}
	if got := send(b, "GET", "/api/photos", dpop, proof, nil); got.status != 401 || got.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("the proof %s took, again at %s: %d %v; want 401 invalid_dpop_proof", c.ImageHost[0].Name, c.ImageHost[1].Name, got.status, got.body)
	}
	for _, instance := range []string{a, b} {
		if got := send(instance, "GET", "/api/photos", dpop, s.proof(t, "GET", apiURL, token, first.nonce), nil); got.status != 200 {
			t.Fatalf("a new proof at %s: %d %v", instance, got.status, got.body)
		}
		if got := send(instance, "GET", "/api/photos", "Bearer "+token, "", nil); got.status != 401 || got.body["error"] != "invalid_token" {
			t.Fatalf("the bound token as a bearer token at %s: %d %v; want 401 invalid_token", instance, got.status, got.body)
		}
	}
}
