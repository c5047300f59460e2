package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// The cookie-tossing attacker runs a page on another origin of ImageHost's
// site: another port of its host, or a sibling subdomain. Such a page is
// same-site, so the user's SameSite=Lax cookies go with its form posts, and
// it can set cookies for ImageHost's host (cookies know no ports), at a
// longer path than ImageHost's own so that the browser sends its values
// first. A browser says where such a post comes from (Sec-Fetch-Site,
// Origin); a script-less attacker, or an old browser, may not.
const attackerOrigin = "http://127.0.0.1:1" // another port of the test server's host

// fromAttackerPage sets the headers a browser sends with a form that a page
// on attackerOrigin posts.
func fromAttackerPage(req *http.Request) {
	req.Header.Set("Origin", attackerOrigin)
	req.Header.Set("Sec-Fetch-Site", "same-site")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
}

// toss plants cookies in the victim's browser as the attacker's page would:
// every cookie ImageHost gave the attacker's own browser (but its login
// session), at path, where they shadow the victim's own.
func toss(t *testing.T, victim, attacker *browser, path string) {
	t.Helper()
	issuer, _ := url.Parse(victim.ts.URL)
	var planted []*http.Cookie
	for _, c := range attacker.client.Jar.Cookies(issuer) {
		if strings.Contains(c.Name, "session") {
			continue
		}
		planted = append(planted, &http.Cookie{Name: c.Name, Value: c.Value, Path: path})
	}
	if len(planted) == 0 {
		t.Fatal("ImageHost gave the attacker no cookie to plant")
	}
	victim.client.Jar.SetCookies(issuer, planted)
}

// plant sets one cookie of the attacker's choosing in the victim's browser.
func plant(victim *browser, name, value, path string) {
	issuer, _ := url.Parse(victim.ts.URL)
	victim.client.Jar.SetCookies(issuer, []*http.Cookie{{Name: name, Value: value, Path: path}})
}

// postWith posts form from b, with whatever headers set adds.
func postWith(t *testing.T, b *browser, path string, form url.Values, set func(*http.Request)) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if set != nil {
		set(req)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// signedInAs reports who b is signed in as at ImageHost, "" if nobody.
func signedInAs(t *testing.T, b *browser) string {
	t.Helper()
	resp := b.get("/account")
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	for _, name := range []string{"Alice", "Bob"} {
		if strings.Contains(page, "Hello, "+name) {
			return name
		}
	}
	return "someone"
}

// The value the cookie-tossing PoC planted: any 43 characters.
const chosenCSRF = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// TestLoginCSRFByCookieTossing: a page on another port of ImageHost's host
// plants a CSRF cookie and posts the login form with the attacker's own
// username and password: the victim's browser must not end up signed in to
// the attacker's account (login CSRF), whether the planted value is one the
// attacker chose or one ImageHost gave the attacker's own browser.
func TestLoginCSRFByCookieTossing(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name string
		// forge plants the attacker's cookies in victim and returns the
		// form the attacker's page posts.
		forge   func(t *testing.T, victim *browser) url.Values
		headers func(*http.Request)
	}{
		{"a chosen value, posted by a page on another port", func(t *testing.T, victim *browser) url.Values {
			plant(victim, "imagehost_csrf", chosenCSRF, "/login")
			return url.Values{"csrf_token": {chosenCSRF}}
		}, fromAttackerPage},
		{"a chosen value, from a browser that says nothing", func(t *testing.T, victim *browser) url.Values {
			plant(victim, "imagehost_csrf", chosenCSRF, "/login")
			return url.Values{"csrf_token": {chosenCSRF}}
		}, nil},
		{"ImageHost's own cookies and token, posted by a page on another port", func(t *testing.T, victim *browser) url.Values {
			attacker := ts.browser()
			form := formValues(t, body(t, attacker.get("/login")))
			toss(t, victim, attacker, "/login")
			return form
		}, fromAttackerPage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := ts.browser()
			victim.get("/login").Body.Close() // the victim has been to ImageHost before
			form := tc.forge(t, victim)
			form.Set("username", "alice") // the attacker's account
			form.Set("password", "wonderland")
			resp := postWith(t, victim, "/login", form, tc.headers)
			resp.Body.Close()
			if who := signedInAs(t, victim); who != "" || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("forged login: %s, and the victim's browser is signed in as %q; want 403 and nobody", resp.Status, who)
			}
		})
	}
}

// TestConsentByCookieTossing is the account takeover the cookie-tossing PoC
// showed: the attacker starts an authorization request for an application
// they control, bound to cookies they know, and has the signed-in victim's
// browser post "Allow" for it from a page on another port. The code would
// go to the attacker's redirect URI, for the victim's account.
func TestConsentByCookieTossing(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name string
		// forge starts the attacker's request, plants cookies in victim,
		// and returns the consent form the attacker's page posts.
		forge   func(t *testing.T, victim *browser) url.Values
		headers func(*http.Request)
	}{
		{"a chosen value, posted by a page on another port", func(t *testing.T, victim *browser) url.Values {
			id := attackersRequest(t, ts, func(b *browser) { plant(b, "imagehost_csrf", chosenCSRF, "/") })
			plant(victim, "imagehost_csrf", chosenCSRF, "/consent")
			return url.Values{"csrf_token": {chosenCSRF}, "request": {id}, "decision": {"allow"}}
		}, fromAttackerPage},
		{"a chosen value, from a browser that says nothing", func(t *testing.T, victim *browser) url.Values {
			id := attackersRequest(t, ts, func(b *browser) { plant(b, "imagehost_csrf", chosenCSRF, "/") })
			plant(victim, "imagehost_csrf", chosenCSRF, "/consent")
			return url.Values{"csrf_token": {chosenCSRF}, "request": {id}, "decision": {"allow"}}
		}, nil},
		{"ImageHost's own cookies and the token of the attacker's own consent page, from a browser that says nothing", func(t *testing.T, victim *browser) url.Values {
			// The attacker signs in to their own account and reads the
			// consent form ImageHost gives them; then plants every cookie
			// they hold but their session.
			attacker := ts.browser()
			loginForm(t, attacker, "alice", "wonderland").Body.Close()
			id := pendingAt(t, ts, attacker, "/consent", ts.authURL(appID, appRedirect, "openid photos.read photos.write", "s",
				oauth.S256Challenge(oauth2.GenerateVerifier())))
			form := formValues(t, body(t, attacker.get("/consent?request="+url.QueryEscape(id))))
			toss(t, victim, attacker, "/consent")
			form.Set("decision", "allow")
			return form
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := ts.browser()
			loginForm(t, victim, "bob", "builder").Body.Close()
			form := tc.forge(t, victim)
			resp := postWith(t, victim, "/consent", form, tc.headers)
			resp.Body.Close()
			if loc, _ := resp.Location(); loc != nil && loc.Query().Has("code") {
				t.Fatalf("forged consent: %s, a code for bob went to %s://%s%s", resp.Status, loc.Scheme, loc.Host, loc.Path)
			}
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("forged consent: %s, want a refusal", resp.Status)
			}
		})
	}
}

// attackersRequest starts an authorization request for the test app in
// the attacker's own browser, prepared by prepare, and returns its id.
func attackersRequest(t *testing.T, ts *testServer, prepare func(*browser)) string {
	t.Helper()
	attacker := ts.browser()
	prepare(attacker)
	return pendingAt(t, ts, attacker, "/login", ts.authURL(appID, appRedirect, "openid photos.read photos.write", "s",
		oauth.S256Challenge(oauth2.GenerateVerifier())))
}

// TestFormsRefuseOtherOrigins: every form of ImageHost's pages is taken
// only from ImageHost's own origin, even with the browser's valid token;
// the back channel, which no browser form posts to, is not held to it.
func TestFormsRefuseOtherOrigins(t *testing.T) {
	ts, fake := fakeUpstreamServerWith(t, func(c *Config) { c.Lab = true; c.JoinCode = testJoinCode })
	addDeviceClients(t, ts)
	if err := setUpJoining(context.Background(), ts.cfg, ts.store, ts.clock.now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	// Alice is the teacher here, so that the room's forms would do what
	// they say if they were taken.
	if err := ts.store.SetUserAdmin(context.Background(), "sub-alice", true); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	// An identity at the upstream waits in this browser for an account,
	// and a device for the user's answer, so that the upstream's and the
	// device page's forms too would do what they say if they were taken.
	if next := location(t, b.throughFake("/login")); next.Path != "/upstream/link" {
		t.Fatalf("a new identity at the upstream went to %s", next)
	}
	device := startDevice(t, ts, cliID, "", "photos.read")
	loginForm(t, b, "alice", "wonderland").Body.Close()
	token := formValues(t, body(t, b.get("/account"))).Get("csrf_token")
	forms := map[string]url.Values{
		"/device":                        {"user_code": {device.UserCode}},
		"/device/decision":               {"user_code": {device.UserCode}, "decision": {"allow"}},
		"/upstream/fake/start":           {},
		"/upstream/link":                 {"choice": {"new"}},
		"/join":                          {"join_code": {testJoinCode}, "username": {"evil"}, "password": {"evil-password"}},
		"/class/attendees/none/disable":  {},
		"/class/attendees/none/enable":   {},
		"/class/attendees/none/remove":   {},
		"/class/join-code/rotate":        {},
		"/class/join-code/close":         {},
		"/login":                         {"username": {"bob"}, "password": {"builder"}},
		"/consent":                       {"request": {"x"}, "decision": {"allow"}},
		"/logout":                        {},
		"/account/revoke":                {"client_id": {appID}},
		"/developer/clients":             {"name": {"Evil"}, "redirect_uris": {"https://evil.example/cb"}},
		"/developer/clients/none/rotate": {},
		"/developer/clients/none/delete": {},
		"/lab":                           {"defence": {defencePKCE}, "on": {"false"}},
	}
	for _, from := range []struct {
		name    string
		headers map[string]string
	}{
		{"a page on another port of the host", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": attackerOrigin}},
		{"another site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"another origin, in a browser without Sec-Fetch-Site", map[string]string{"Origin": "https://evil.example"}},
		{"an opaque origin (a sandboxed frame, a data: URL)", map[string]string{"Origin": "null"}},
	} {
		for path, form := range forms {
			t.Run(from.name+" "+path, func(t *testing.T) {
				f := url.Values{"csrf_token": {token}}
				for k, v := range form {
					f[k] = v
				}
				resp := postWith(t, b, path, f, func(r *http.Request) {
					for k, v := range from.headers {
						r.Header.Set(k, v)
					}
				})
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("POST %s: %s, want 403", path, resp.Status)
				}
			})
		}
	}
	if who := signedInAs(t, b); who != "Alice" {
		t.Fatalf("after the forged forms the browser is signed in as %q, want Alice", who)
	}
	if !ts.labOn(t, b, defencePKCE) {
		t.Fatal("a form from another origin switched PKCE off")
	}
	if _, err := ts.store.UserByUsername(context.Background(), "evil"); err == nil {
		t.Fatal("a join form from another origin created an account")
	}
	if code, err := ts.store.JoinCode(context.Background()); err != nil || !code.Open() || !bytes.Equal(code.Hash, hashJoinCode(testJoinCode)) {
		t.Fatal("a form from another origin rotated or closed the join code")
	}
	ts.clock.advance(ts.cfg.DevicePollInterval)
	if _, code := pollError(t, ts, cliID, "", device.DeviceCode); code != "authorization_pending" {
		t.Fatalf("after the forged answers the device hears %s, want authorization_pending", code)
	}
	if _, err := ts.store.UserByUpstream(context.Background(), fake.URL, "carol-at-fake"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a link form from another origin gave the upstream identity an account: %v", err)
	}
	b.linkPage() // the identity still waits for the user's own choice
	// From ImageHost's own pages the same forms work.
	resp := postWith(t, b, "/account/revoke", url.Values{"csrf_token": {token}, "client_id": {appID}}, func(r *http.Request) {
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Origin", ts.URL)
	})
	if loc := location(t, resp); loc.Path != "/account" {
		t.Fatalf("revoke from ImageHost's own page went to %s", loc)
	}

	// The back channel: a single-page app calls /token from its own origin,
	// and servers send no Origin at all.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://spa.example")
	req.SetBasicAuth(m2mID, m2mSecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a cross-origin token request: %v %v, want 200", resp.Status, err)
	}
}

// TestCookiesUnderTLS: served over TLS, every cookie ImageHost sets has a
// __Host- name, Secure, Path=/ and no Domain, so that browsers take it only
// from ImageHost's own secure origin, and no other page of the site can set
// or shadow one.
func TestCookiesUnderTLS(t *testing.T) {
	ts := newTestServer(t)
	srv := httptest.NewUnstartedServer(nil)
	cfg := ts.cfg
	cfg.Issuer = "https://" + srv.Listener.Addr().String()
	apiTokens, err := newAPITokenVerifier(context.Background(), cfg, ts.store, ts.keys, ts.revoked, ts.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = newServer(cfg, ts.store, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, discardLogger())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	b := &browser{t: t, ts: &testServer{t: t, URL: cfg.Issuer}, client: srv.Client()}
	jar, _ := cookiejar.New(nil)
	b.client.Jar = jar
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	set := map[string]*http.Cookie{}
	keep := func(resp *http.Response) *http.Response {
		for _, c := range resp.Cookies() {
			set[c.Name] = c
		}
		return resp
	}
	authorize := strings.TrimPrefix(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier())), ts.URL)
	id := location(t, keep(b.get(authorize))).Query().Get("request")
	form := formValues(t, body(t, keep(b.get("/login?request="+url.QueryEscape(id)))))
	form.Set("username", "alice")
	form.Set("password", "wonderland")
	location(t, keep(postWith(t, b, "/login", form, nil)))
	for _, name := range []string{sessionCookie, csrfCookie, browserCookie, knownBrowserCookie} {
		c := set["__Host-"+name]
		if c == nil {
			var got []string
			for n := range set {
				got = append(got, n)
			}
			t.Errorf("no __Host-%s cookie; got %v", name, got)
			continue
		}
		if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("%s = %+v: want Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain", c.Name, c)
		}
		if set[name] != nil {
			t.Errorf("%s is set under its plain name too", name)
		}
	}
}

// TestPlantedSessionCookieSignsNobodyIn: a page of the same site can plant
// the attacker's own login cookie in the victim's browser, at a longer path
// than ImageHost's, so that it is sent first there: the victim, on the
// consent page of an application they use, would allow it access to the
// attacker's account, and the application would sign them in as the
// attacker. A browser that sends two login cookies is signed in to nobody.
func TestPlantedSessionCookieSignsNobodyIn(t *testing.T) {
	ts := newTestServer(t)
	attacker := ts.browser()
	loginForm(t, attacker, "alice", "wonderland").Body.Close()
	issuer, _ := url.Parse(ts.URL)
	var planted *http.Cookie
	for _, c := range attacker.client.Jar.Cookies(issuer) {
		if c.Name == sessionCookie {
			planted = &http.Cookie{Name: c.Name, Value: c.Value, Path: "/consent"}
		}
	}
	victim := ts.browser()
	loginForm(t, victim, "bob", "builder").Body.Close()
	id := pendingAt(t, ts, victim, "/consent", ts.authURL(appID, appRedirect, "openid photos.read", "s", oauth.S256Challenge(oauth2.GenerateVerifier())))
	victim.client.Jar.SetCookies(issuer, []*http.Cookie{planted})
	resp := victim.get("/consent?request=" + url.QueryEscape(id))
	page := body(t, resp)
	if strings.Contains(page, "alice") {
		t.Fatal("the consent page asks on behalf of the attacker's account")
	}
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/login" {
		t.Fatalf("the consent page with a planted login cookie: %s, want a redirect to sign in", resp.Status)
	}
}

// TestCookieNamesUnderTLS: every cookie, the upstream sign-in's included
// (TestCookiesUnderTLS signs in with a password, which sets it not), takes
// the __Host- prefix when ImageHost is served over TLS: no other origin of
// the site can plant a link cookie then.
func TestCookieNamesUnderTLS(t *testing.T) {
	for secure, prefix := range map[bool]string{false: "", true: "__Host-"} {
		n := newCookieNames(secure)
		for _, got := range []string{n.session, n.csrf, n.browser, n.knownBrowser, n.upstream} {
			if !strings.HasPrefix(got, prefix) || (prefix == "" && strings.HasPrefix(got, "__Host-")) {
				t.Errorf("secure=%v: cookie %q, want the prefix %q", secure, got, prefix)
			}
		}
		if n.upstream != prefix+upstreamCookie {
			t.Errorf("secure=%v: the upstream cookie is %q", secure, n.upstream)
		}
	}
}
