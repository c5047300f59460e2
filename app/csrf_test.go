package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// offlineApp is PhotoEditorApp in-process with no ImageHost behind it: for
// what the app decides on its own, before it would talk to ImageHost.
func offlineApp(t *testing.T, configure func(*Config)) (*httptest.Server, Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"PHOTOEDITOR_ADDR": srv.Listener.Addr().String(), "PHOTOEDITOR_BASE_URL": base,
			"PHOTOEDITOR_ISSUER": "http://127.0.0.1:1", "PHOTOEDITOR_CLIENT_SECRET": "secret", "PHOTOEDITOR_DATA_DIR": t.TempDir()}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(&cfg)
	}
	db, err := openDatabase(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.close() })
	authKey, encKey, err := sessionKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = newServer(cfg, db, authKey, encKey, &http.Client{Timeout: time.Second}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cfg
}

// TestFormsRefuseOtherOrigins: a page on another port of the app's host
// (same site, another origin) can set cookies for the app's host and post
// its forms with the user's cookies. The app must take a form only from its
// own origin, with a token it issued to this browser's session: a token
// cookie the attacker planted, with the same value in the form, is not one.
func TestFormsRefuseOtherOrigins(t *testing.T) {
	srv, _ := offlineApp(t, nil)
	const chosen = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct {
		name    string
		plant   bool              // the attacker's page planted a CSRF cookie of its choosing
		own     bool              // the form carries the token the app's page gave this browser
		headers map[string]string // what the browser says about the form's origin
		refused bool
	}{
		{"a planted cookie, posted by a page on another port", true, false,
			map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, true},
		{"a planted cookie, from a browser that says nothing", true, false, nil, true},
		{"the browser's own token, posted by a page on another port", false, true,
			map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, true},
		{"the browser's own token, posted by another site", false, true,
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, true},
		{"the browser's own token, from another origin, by an older browser", false, true,
			map[string]string{"Origin": "https://evil.example"}, true},
		{"the browser's own token, from an opaque origin", false, true,
			map[string]string{"Origin": "null"}, true},
		{"the browser's own token, from the app's own page", false, true,
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL}, false},
		{"the browser's own token, from a client that is no browser", false, true, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get(srv.URL + "/flow")
			if err != nil {
				t.Fatal(err)
			}
			token := hidden(readBody(t, resp)).Get("_csrf")
			form := url.Values{"_csrf": {token}}
			if tc.plant {
				u, _ := url.Parse(srv.URL)
				jar.SetCookies(u, []*http.Cookie{{Name: "photoeditor_csrf", Value: chosen, Path: "/flow"}})
				form.Set("_csrf", chosen)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/flow/reset", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err = client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page := readBody(t, resp)
			if refused := resp.StatusCode == http.StatusForbidden; refused != tc.refused {
				t.Fatalf("POST /flow/reset: %d, refused %v, want %v\n%.400s", resp.StatusCode, refused, tc.refused, page)
			}
		})
	}
}

// TestLabAndRevealBehindAProxy: the lab's switches and Reveal are for this
// machine's browser. A reverse proxy on the same machine connects from
// 127.0.0.1 and (like nginx's default) names a loopback address in Host, so
// only its forwarding header tells its requests apart: they are not local.
func TestLabAndRevealBehindAProxy(t *testing.T) {
	srv, _ := offlineApp(t, func(c *Config) { c.Lab = true })
	target, _ := url.Parse(srv.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = target.Host
		pr.SetXForwarded()
	}})
	t.Cleanup(proxy.Close)
	for _, tc := range []struct {
		base  string
		local bool
	}{{srv.URL, true}, {proxy.URL, false}} {
		resp, err := http.Get(tc.base + "/lab")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if ok := resp.StatusCode == http.StatusOK; ok != tc.local {
			t.Errorf("GET %s/lab: %d, want it answered: %v", tc.base, resp.StatusCode, tc.local)
		}
		resp, err = http.Get(tc.base + "/flow")
		if err != nil {
			t.Fatal(err)
		}
		if offered := strings.Contains(readBody(t, resp), `id="reveal"`); offered != tc.local {
			t.Errorf("GET %s/flow offers Reveal: %v, want %v", tc.base, offered, tc.local)
		}
	}
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"PHOTOEDITOR_CLIENT_SECRET": "s", "PHOTOEDITOR_LAB": "true", "PHOTOEDITOR_TRUSTED_PROXIES": "127.0.0.1"}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "proxy") {
		t.Fatalf("lab mode with a trusted proxy: %+v, %v; want refused", cfg.TrustedProxies, err)
	}
}

// TestClientAddress: the address the app logs (c.RealIP) is the rightmost
// one of X-Forwarded-For that is not a trusted proxy, and only behind a
// trusted proxy; echo's own default would believe the header from anyone.
func TestClientAddress(t *testing.T) {
	proxies, err := parseTrustedProxies("127.0.0.1/32,10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ peer, xff, want string }{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "198.51.100.1", "192.0.2.1"},
		{"127.0.0.1:5000", "198.51.100.1", "198.51.100.1"},
		{"127.0.0.1:5000", "6.6.6.6, 198.51.100.1, 10.0.0.7", "198.51.100.1"},
		{"127.0.0.1:5000", "", "127.0.0.1"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tc.peer
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		c := echoContext(req, httptest.NewRecorder())
		c.Echo().IPExtractor = proxies.clientAddr
		if got := c.RealIP(); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}
