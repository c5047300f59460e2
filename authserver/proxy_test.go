package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// testClientHeader tells the test proxy which address the request came
// from, as if it had seen that client's connection; it does not pass it on.
const testClientHeader = "X-Test-Client"

// reverseProxy starts a reverse proxy on loopback in front of target, as
// the operator's nginx or haproxy would run on ImageHost's machine: it
// rewrites Host to the target's own (nginx's default proxy_pass does), and
// appends the address of the client it saw to X-Forwarded-For.
func reverseProxy(t *testing.T, target string) string {
	t.Helper()
	u, _ := url.Parse(target)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = u.Host
		client := pr.In.Header.Get(testClientHeader)
		if client == "" {
			client, _, _ = strings.Cut(pr.In.RemoteAddr, ":")
		}
		pr.Out.Header.Del(testClientHeader)
		prior := pr.In.Header.Values("X-Forwarded-For")
		pr.Out.Header["X-Forwarded-For"] = []string{strings.Join(append(prior, client), ", ")}
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// signInFrom posts the login form at base as user, from client (as the
// test proxy sees it), and returns the status.
func signInFrom(t *testing.T, base, client, user, pw string) int {
	t.Helper()
	b := (&testServer{t: t, URL: base}).browser()
	get, _ := http.NewRequest(http.MethodGet, base+"/login", nil)
	get.Header.Set(testClientHeader, client)
	resp, err := b.client.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	form := formValues(t, body(t, resp))
	form.Set("username", user)
	form.Set("password", pw)
	resp = postWith(t, b, base+"/login", form, func(r *http.Request) { r.Header.Set(testClientHeader, client) })
	resp.Body.Close()
	return resp.StatusCode
}

// TestThrottleBehindATrustedProxy is the PoC that locked every user out:
// behind a reverse proxy, every sign-in's TCP peer is the proxy, so 20
// failures from anyone used up the address limit of all. With the proxy
// named a trusted one, each client is counted by the address the proxy
// saw; whatever a client writes into X-Forwarded-For itself counts for
// nothing.
func TestThrottleBehindATrustedProxy(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.TrustedProxies = trustedProxies{netip.MustParsePrefix("127.0.0.1/32")}
	})
	base := reverseProxy(t, ts.URL)
	const attacker = "203.0.113.5"
	for i := range addressAttempts {
		// Each guess claims another address before the proxy's entry.
		b := (&testServer{t: t, URL: base}).browser()
		page := body(t, b.get(base+"/login"))
		form := formValues(t, page)
		form.Set("username", fmt.Sprintf("nobody%d", i))
		form.Set("password", "x")
		resp := postWith(t, b, base+"/login", form, func(r *http.Request) {
			r.Header.Set(testClientHeader, attacker)
			r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		})
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attacker's guess %d: %s", i+1, resp.Status)
		}
	}
	if status := signInFrom(t, base, attacker, "nobody", "x"); status != http.StatusTooManyRequests {
		t.Fatalf("the attacker's next guess: %d, want 429", status)
	}
	if status := signInFrom(t, base, "198.51.100.7", "alice", "wonderland"); status != http.StatusSeeOther {
		t.Fatalf("alice from another address, through the proxy: %d, want 303", status)
	}
	if !strings.Contains(ts.logs.String(), "ip="+attacker) {
		t.Error("the log does not name the client's address")
	}
}

// TestForwardedForFromAnyoneElseCountsForNothing: a client that is not a
// trusted proxy cannot pick its own throttle address.
func TestForwardedForFromAnyoneElseCountsForNothing(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.TrustedProxies = trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	})
	for i := range addressAttempts {
		b := ts.browser()
		form := formValues(t, body(t, b.get("/login")))
		form.Set("username", fmt.Sprintf("nobody%d", i))
		form.Set("password", "x")
		resp := postWith(t, b, "/login", form, func(r *http.Request) { r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)) })
		resp.Body.Close()
	}
	b := ts.browser()
	form := formValues(t, body(t, b.get("/login")))
	form.Set("username", "alice")
	form.Set("password", "wonderland")
	resp := postWith(t, b, "/login", form, func(r *http.Request) { r.Header.Set("X-Forwarded-For", "192.0.2.99") })
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 20 failures with made-up X-Forwarded-For: %s, want 429", resp.Status)
	}
}

// TestClientAddr: the client is the rightmost address of X-Forwarded-For
// that is not a trusted proxy, and only behind a trusted proxy.
func TestClientAddr(t *testing.T) {
	proxies, err := parseTrustedProxies("10.0.0.0/8, 127.0.0.1 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"an untrusted peer's header is ignored", "192.0.2.1:5000", []string{"198.51.100.1"}, "192.0.2.1"},
		{"behind a trusted proxy", "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the client's own entries are skipped", "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"through two trusted proxies", "127.0.0.1:5000", []string{"198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"headers repeated", "127.0.0.1:5000", []string{"6.6.6.6", "198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"IPv6 behind an IPv6 proxy", "[2001:db8:ffff::1]:5000", []string{"2001:db8:1:2::5"}, "2001:db8:1:2::5"},
		{"an IPv4-mapped address", "127.0.0.1:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"garbage ends the walk at the last good hop", "127.0.0.1:5000", []string{"198.51.100.1, not-an-address, 10.1.2.3"}, "10.1.2.3"},
		{"a trusted proxy with no header", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"only trusted proxies", "127.0.0.1:5000", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := proxies.clientAddr(r).String(); got != tc.want {
				t.Fatalf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := parseTrustedProxies("10.0.0.0/8,nonsense"); err == nil {
		t.Fatal("a list with nonsense in it parsed")
	}
}

// TestLabIsLocalOnly: lab mode answers this machine's browser only. Behind
// a reverse proxy on the same machine (which connects from 127.0.0.1 and,
// like nginx's default, names 127.0.0.1 in Host), a request is not local:
// the proxy's X-Forwarded-For says it was passed on.
func TestLabIsLocalOnly(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Lab = true })
	base := reverseProxy(t, ts.URL)
	resp := ts.browser().get(base + "/lab")
	page := body(t, resp)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(page, `name="csrf_token"`) {
		t.Fatalf("the lab through a reverse proxy: %s, want 403 without the form", resp.Status)
	}
	if resp := ts.browser().get("/lab"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the lab from this machine: %s", resp.Status)
	}
	cfg := ts.cfg
	cfg.TrustedProxies = trustedProxies{netip.MustParsePrefix("127.0.0.1/32")}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "proxy") {
		t.Fatalf("lab mode with trusted proxies: %v, want refused", err)
	}
}

// TestPublishedDemoSecretsAreLocalOnly: demo.env's secrets are published in
// the repository. ImageHost takes them on loopback only, but a reverse
// proxy on the same machine carries a loopback demo to the network: through
// it, none of them works; from this machine, each does.
func TestPublishedDemoSecretsAreLocalOnly(t *testing.T) {
	base, _, _ := serveDemo(t, "127.0.0.1:0", t.TempDir())
	proxied := reverseProxy(t, base)
	pw := publishedDemo["IMAGEHOST_DEMO_USERS"][len("alice:"):strings.Index(publishedDemo["IMAGEHOST_DEMO_USERS"], ",")]
	for _, tc := range []struct {
		name            string
		try             func(base string) int
		local, proxySts int
	}{
		{"alice's password", func(b string) int { return signInStatus(t, b, "alice", pw) }, http.StatusSeeOther, http.StatusForbidden},
		{"the machine client's secret", func(b string) int {
			return clientCredentialsStatus(t, b, demoM2MClientID, publishedDemo["IMAGEHOST_DEMO_M2M_CLIENT_SECRET"])
		}, http.StatusOK, http.StatusUnauthorized},
		{"the expired-token demonstration's client secret", func(b string) int {
			return clientCredentialsStatus(t, b, demoExpiryClientID, publishedDemo["IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET"])
		}, http.StatusOK, http.StatusUnauthorized},
		{"the initial access token", func(b string) int { return registerStatus(t, b, publishedDemo["IMAGEHOST_INITIAL_ACCESS_TOKEN"]) },
			http.StatusCreated, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.try(proxied); got != tc.proxySts {
				t.Errorf("through a reverse proxy: %d, want %d", got, tc.proxySts)
			}
			if got := tc.try(base); got != tc.local {
				t.Errorf("from this machine: %d, want %d", got, tc.local)
			}
		})
	}
}

// TestSignInsFromOneIPv6Site: a site (a home, an office, a hosting
// customer) usually holds an IPv6 /48, 65,536 /64s. Counted per /64 only,
// it could make 20 guesses from each: over a million every five minutes,
// and enough fresh keys to push everyone else's out of the throttle's
// table. A burst of wrong passwords, each from another /64 of one /48 and
// at another account, gets the /48's limit checked, no more; another /48
// is not affected.
func TestSignInsFromOneIPv6Site(t *testing.T) {
	ts := newTestServer(t)
	apiTokens, err := newAPITokenVerifier(context.Background(), ts.cfg, ts.store, ts.keys, ts.revoked, ts.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	h := newServer(ts.cfg, ts.store, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, discardLogger())
	send := func(remote string, req *http.Request) *httptest.ResponseRecorder {
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	page := send("[2001:db8:1::1]:4000", httptest.NewRequest(http.MethodGet, "/login", nil))
	token := formValues(t, page.Body.String()).Get(csrfField)
	cookies := page.Result().Cookies()
	post := func(remote, user, pw string) int {
		form := url.Values{csrfField: {token}, "username": {user}, "password": {pw}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return send(remote, req).Code
	}

	// Most of the /48's limit goes one guess at a time, each from another
	// /64 at another account: every one is checked.
	const burst, left = 30, 10
	for i := range networkAttempts - left {
		if status := post(fmt.Sprintf("[2001:db8:1:%x::1]:4000", i+1), fmt.Sprintf("user%d", i), "guess"); status != http.StatusUnauthorized {
			t.Fatalf("guess %d from the /48: %d, want 401", i+1, status)
		}
	}
	// Then a burst from 30 more /64s at once (fewer than the password
	// checks that may wait, so none is turned away as busy): exactly the
	// limit's rest is checked.
	statuses := make(chan int, burst)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range burst {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			statuses <- post(fmt.Sprintf("[2001:db8:1:f%03x::1]:4000", i), fmt.Sprintf("late%d", i), "guess")
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
	if counts[http.StatusUnauthorized] != left || counts[http.StatusTooManyRequests] != burst-left {
		t.Fatalf("a burst of %d from one /48 with %d guesses left: %v; want %d checked, 429 for the rest", burst, left, counts, left)
	}
	if status := post("[2001:db8:1:ffff::1]:4000", "alice", "wonderland"); status != http.StatusTooManyRequests {
		t.Fatalf("another /64 of the same /48 afterwards: %d, want 429", status)
	}
	if status := post("[2001:db8:2::1]:4000", "alice", "wonderland"); status != http.StatusSeeOther {
		t.Fatalf("alice from another /48: %d, want 303", status)
	}
}
