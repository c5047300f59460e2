package main

// Handler tests against a real ImageHost, started as a process from its
// built binary: PhotoEditorApp runs in-process on httptest, ImageHost is the
// other company's server.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oauthdemo/app/tokenstore"
	"oauthdemo/e2e/harness"
)

// testApp is PhotoEditorApp in-process, with a real ImageHost beside it.
type testApp struct {
	t         *testing.T
	URL       string
	imageHost *harness.Process
	store     tokenstore.Store
	cfg       Config
	// skew is how far the app's clock is from the machine's, which a
	// test may change: the app is the server whose clock drifted.
	skew *atomic.Int64
}

func newTestApp(t *testing.T, imageHostEnv ...string) *testApp {
	t.Helper()
	return newTestAppWith(t, nil, imageHostEnv...)
}

// newTestAppWith lets configure change the app's configuration first.
func newTestAppWith(t *testing.T, configure func(*Config), imageHostEnv ...string) *testApp {
	t.Helper()
	// The app's port is taken, and held, before ImageHost picks one: a
	// port found free and let go could be the very one ImageHost's
	// harness picks next, and the app's listen then fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	appURL := fmt.Sprintf("http://localhost:%d", port)
	ih := harness.ImageHost(t, appURL, imageHostEnv...)

	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{
			"PHOTOEDITOR_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "PHOTOEDITOR_BASE_URL": appURL,
			"PHOTOEDITOR_ISSUER": ih.URL, "PHOTOEDITOR_CLIENT_SECRET": harness.AppClientSecret,
			"PHOTOEDITOR_DATA_DIR": t.TempDir(), "PHOTOEDITOR_MACHINE_CLIENT_ID": "photo-sync",
			"PHOTOEDITOR_MACHINE_CLIENT_SECRET": harness.M2MClientSecret,
		}[k]
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	skew := new(atomic.Int64)
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv := httptest.NewUnstartedServer(newServer(cfg, db, authKey, encKey, &http.Client{Timeout: 10 * time.Second}, now, log))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &testApp{t: t, URL: appURL, imageHost: ih, store: db.sessions, cfg: cfg, skew: skew}
}

// user is a person's browser: a cookie jar that follows redirects across
// both parties.
type user struct {
	t      *testing.T
	client *http.Client
}

func newUser(t *testing.T) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, client: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// noFollow is the same browser, stopping at the first redirect.
func (u *user) noFollow() *http.Client {
	c := *u.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (u *user) get(rawURL string) (*http.Response, string) {
	u.t.Helper()
	resp, err := u.client.Get(rawURL)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp, readBody(u.t, resp)
}

func (u *user) post(rawURL string, form url.Values) (*http.Response, string) {
	u.t.Helper()
	resp, err := u.client.PostForm(rawURL, form)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp, readBody(u.t, resp)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// hidden returns the hidden fields of the first form in page.
func hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		if !v.Has(m[1]) {
			v.Set(m[1], htmlUnescape(m[2]))
		}
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// connect runs the whole flow: Connect, sign in at ImageHost and allow
// (harness.SignIn), back to the app. It returns the gallery page.
func (a *testApp) connect(u *user, name, pw string) string {
	a.t.Helper()
	_, home := u.get(a.URL + "/")
	resp, err := u.noFollow().PostForm(a.URL+"/connect", hidden(home))
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	authURL, err := resp.Location()
	if err != nil || !strings.HasPrefix(authURL.String(), a.imageHost.URL+"/authorize?") {
		a.t.Fatalf("Connect answered %s, not a redirect to ImageHost's /authorize", resp.Status)
	}
	callback := harness.MustSignIn(a.t, u.client, authURL.String(), name, pw)
	resp, page := u.get(callback.String())
	if resp.Request.URL.String() != a.URL+"/photos" || resp.StatusCode != 200 {
		a.t.Fatalf("flow ended at %s with %d:\n%s", resp.Request.URL, resp.StatusCode, page)
	}
	return page
}

// TestRefusedExchangeIsSentOnce: the first code exchange of a fresh app
// (as an instance just started behind a load balancer is) is refused, and
// ImageHost sees it once. Sent again with the secret in the form, as
// x/oauth2 does when it must guess how the client authenticates, the
// same code would come twice, a replay. The app's DPoP proof first asks
// for ImageHost's nonce, a refusal that comes before the code is looked at
// (authserver TestDPoPCodeNotSpentOnANonceRequest): it is not counted.
func TestRefusedExchangeIsSentOnce(t *testing.T) {
	a := newTestApp(t, "IMAGEHOST_LOG_LEVEL=info") // info: ImageHost logs each refusal
	u := newUser(t)
	state := a.startConnect(u)
	resp, _ := u.get(a.URL + "/callback?" + url.Values{"code": {"a-code-ImageHost-never-issued"}, "state": {state}, "iss": {a.imageHost.URL}}.Encode())
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a callback with a made-up code: %d, want 400", resp.StatusCode)
	}
	out := a.imageHost.Output()
	if n := strings.Count(out, "token request refused") - strings.Count(out, `token request refused" error=use_dpop_nonce`); n != 1 {
		t.Fatalf("ImageHost refused %d token requests for the one exchange, want 1:\n%s", n, a.imageHost.Output())
	}
}

func TestConnectAndGallery(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	for _, want := range []string{"Sunset over the sea", "Garden maze", "Connected to ImageHost as Alice"} {
		if !strings.Contains(page, want) {
			t.Fatalf("gallery lacks %q", want)
		}
	}
	if strings.Contains(page, "Blueprint") {
		t.Fatal("alice sees bob's photo")
	}
	// The image proxy serves bytes without the browser holding a token.
	id := regexp.MustCompile(`data-photo-id="([^"]+)"`).FindStringSubmatch(page)[1]
	resp, img := u.get(a.URL + "/photos/" + id + "/image")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(img, "\x89PNG") {
		t.Fatalf("image proxy: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Cookies: ours are HttpOnly, SameSite=Lax, not readable by scripts.
	appURL, _ := url.Parse(a.URL)
	names := map[string]bool{}
	for _, c := range u.client.Jar.Cookies(appURL) {
		names[c.Name] = true
	}
	if !names[sessionCookieName] || names["imagehost_session"] {
		t.Fatalf("cookies for the app's host: %v", names)
	}
}

func TestSessionCookieSize(t *testing.T) {
	// The worst case the cookie ever holds: a connected session id, a login
	// under way, and a few flash messages. Tokens never go in it.
	key := func(n int) []byte { return bytes.Repeat([]byte{7}, n) }
	cs := newCookieSessions(key(64), key(32), false)
	rec := httptest.NewRecorder()
	c := echoContext(httptest.NewRequest("GET", "/", nil), rec)
	bs := cs.get(c)
	long := strings.Repeat("x", 43)
	bs.setPendingLogin(pendingLogin{State: long, Nonce: long, Verifier: long, Started: time.Now(), Attack: "wrong-verifier"})
	bs.s.Values[keySessionID] = long
	bs.ensureFlowID()
	bs.csrfToken()
	for range 5 {
		bs.addFlash(strings.Repeat("a long message ", 40))
	}
	if err := cs.save(c, bs); err != nil {
		t.Fatal(err)
	}
	size := len(rec.Header().Get("Set-Cookie"))
	t.Logf("worst-case session cookie: %d bytes", size)
	// Browsers drop cookies over 4096 bytes: keep at least 1.5 KB spare.
	if size > 2560 {
		t.Fatalf("the session cookie is %d bytes; browsers drop cookies over 4096, keep it well under", size)
	}
	// And a cookie that would not fit fails loudly instead of vanishing.
	bs.s.Values["filler"] = strings.Repeat("y", 5000)
	if err := cs.save(c, bs); err == nil {
		t.Fatal("an oversized session cookie was saved without an error")
	}
}

// startConnect posts Connect and returns the state ImageHost was sent.
func (a *testApp) startConnect(u *user) string {
	a.t.Helper()
	_, home := u.get(a.URL + "/")
	resp, err := u.noFollow().PostForm(a.URL+"/connect", hidden(home))
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		a.t.Fatalf("connect: %s", resp.Status)
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		a.t.Fatalf("authorization request lacks PKCE, nonce or state: %s", loc)
	}
	return q.Get("state")
}

func TestCallbackRefusesWhatItDidNotAskFor(t *testing.T) {
	a := newTestApp(t)
	tests := []struct {
		name   string
		query  func(state string) url.Values
		status int
		says   string
	}{
		{"forged state", func(string) url.Values {
			return url.Values{"code": {"x"}, "state": {"forged"}, "iss": {a.imageHost.URL}}
		}, 400, "state mismatch"},
		{"wrong issuer (mix-up)", func(s string) url.Values {
			return url.Values{"code": {"x"}, "state": {s}, "iss": {"http://evil.example"}}
		}, 400, "wrong issuer"},
		{"no iss from a server that sends it", func(s string) url.Values {
			return url.Values{"code": {"x"}, "state": {s}}
		}, 400, "wrong issuer"},
		{"user said no", func(s string) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {s}, "iss": {a.imageHost.URL}}
		}, 403, "You chose not to connect"},
		{"server error", func(s string) url.Values {
			return url.Values{"error": {"invalid_scope"}, "error_description": {"no such scope"}, "state": {s}, "iss": {a.imageHost.URL}}
		}, 502, "no such scope"},
		// ImageHost's refusal is the answer's fault, not ImageHost's: a 4xx.
		{"made-up code", func(s string) url.Values {
			return url.Values{"code": {"made-up"}, "state": {s}, "iss": {a.imageHost.URL}}
		}, 400, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t)
			state := a.startConnect(u)
			resp, page := u.get(a.URL + "/callback?" + tc.query(state).Encode())
			if resp.StatusCode != tc.status || !strings.Contains(page, tc.says) || !strings.Contains(page, "Try again") {
				t.Fatalf("status %d, want %d with %q:\n%s", resp.StatusCode, tc.status, tc.says, page)
			}
			// The state is single-use: a second try with the right state fails too.
			resp, page = u.get(a.URL + "/callback?" + url.Values{"code": {"x"}, "state": {state}, "iss": {a.imageHost.URL}}.Encode())
			if resp.StatusCode != 400 || !strings.Contains(page, "No connection") {
				t.Fatalf("second callback: %d", resp.StatusCode)
			}
		})
	}
}

func TestCallbackWithoutLogin(t *testing.T) {
	a := newTestApp(t)
	resp, page := newUser(t).get(a.URL + "/callback?code=x&state=y")
	if resp.StatusCode != 400 || !strings.Contains(page, "No connection to ImageHost was in progress") {
		t.Fatalf("callback out of nowhere: %d", resp.StatusCode)
	}
}

func TestFormsNeedCSRFToken(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	for _, path := range []string{"/disconnect", "/logout", "/connect", "/photos/x/delete"} {
		resp, page := u.post(a.URL+path, url.Values{})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "The form had expired") {
			t.Fatalf("POST %s without token: %d", path, resp.StatusCode)
		}
	}
	// Still connected: nothing happened.
	if resp, _ := u.get(a.URL + "/photos"); resp.Request.URL.Path != "/photos" {
		t.Fatal("a forged form changed the session")
	}
}

func TestUploadEditDelete(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "bob", "builder")
	csrf := hidden(page).Get("_csrf")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("_csrf", csrf)
	mw.WriteField("title", "Red square")
	fw, _ := mw.CreateFormFile("file", "red.png")
	img := image.NewRGBA(image.Rect(0, 0, 8, 4))
	for x := range 8 {
		for y := range 4 {
			img.Set(x, y, color.RGBA{200, 10, 10, 255})
		}
	}
	png.Encode(fw, img)
	mw.Close()
	resp, err := u.client.Post(a.URL+"/photos", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	page = readBody(t, resp)
	if !strings.Contains(page, "Uploaded to ImageHost") || !strings.Contains(page, "Red square") {
		t.Fatalf("after upload:\n%s", page)
	}
	id := regexp.MustCompile(`data-photo-id="([^"]+)"[^>]*>\s*<img src="[^"]*" alt="Red square"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatal("uploaded photo not in the gallery")
	}
	_, editPage := u.get(a.URL + "/photos/" + id[1] + "/edit")
	form := hidden(editPage)
	form.Set("op", "rotate-right")
	_, page = u.post(a.URL+"/photos/"+id[1]+"/edit", form)
	if !strings.Contains(page, "Rotate right: saved to ImageHost") {
		t.Fatalf("after edit:\n%s", page)
	}
	resp, data := u.get(a.URL + "/photos/" + id[1] + "/image")
	rotated, err := png.Decode(strings.NewReader(data))
	if err != nil || rotated.Bounds().Dx() != 4 || rotated.Bounds().Dy() != 8 {
		t.Fatalf("rotated image: %v %v", err, resp.Status)
	}
	form = hidden(page)
	_, page = u.post(a.URL+"/photos/"+id[1]+"/delete", url.Values{"_csrf": {form.Get("_csrf")}})
	if !strings.Contains(page, "Deleted from ImageHost") || strings.Contains(page, "Red square") {
		t.Fatalf("after delete:\n%s", page)
	}
	// Not an image: ImageHost's refusal is shown, not a crash.
	body.Reset()
	mw = multipart.NewWriter(&body)
	mw.WriteField("_csrf", csrf)
	fw, _ = mw.CreateFormFile("file", "notes.png")
	fw.Write([]byte("just text"))
	mw.Close()
	resp, _ = u.client.Post(a.URL+"/photos", mw.FormDataContentType(), &body)
	if page := readBody(t, resp); !strings.Contains(page, "ImageHost refused the upload") {
		t.Fatalf("bad upload:\n%s", page)
	}
}

// introspect asks ImageHost about a token, as the app's client.
func (a *testApp) introspect(token string) bool {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.imageHost.URL+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(harness.AppClientID, harness.AppClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Active bool }
	json.NewDecoder(resp.Body).Decode(&struct {
		Active *bool `json:"active"`
	}{&out.Active})
	return out.Active
}

// session returns the server-side session of a user's browser.
func (a *testApp) session(u *user) tokenstore.Session {
	a.t.Helper()
	var db tokenstore.Session
	appURL, _ := url.Parse(a.URL)
	for _, c := range u.client.Jar.Cookies(appURL) {
		if c.Name != sessionCookieName {
			continue
		}
		cs := newCookieSessions(mustKeys(a.t, a.cfg))
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(c)
		id := cs.get(echoContext(req, httptest.NewRecorder())).sessionID()
		if id == "" {
			return db
		}
		var err error
		if db, err = a.store.Get(context.Background(), id); err != nil {
			a.t.Fatal(err)
		}
	}
	return db
}

func mustKeys(t *testing.T, cfg Config) ([]byte, []byte, bool) {
	a, e, err := sessionKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, e, false
}

func TestDisconnectRevokesAtImageHost(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	rt := a.session(u).RefreshToken
	if rt == "" || !a.introspect(rt) {
		t.Fatal("no active refresh token after connecting")
	}
	_, page = u.post(a.URL+"/disconnect", hidden(page))
	if !strings.Contains(page, "Disconnected") || !strings.Contains(page, "Connect with ImageHost") {
		t.Fatalf("after disconnect:\n%s", page)
	}
	if a.introspect(rt) {
		t.Fatal("the refresh token is still active at ImageHost after Disconnect (RFC 7009)")
	}
}

func TestLogoutGoesToImageHost(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	resp, err := u.noFollow().PostForm(a.URL+"/logout", hidden(page))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), a.imageHost.URL+"/logout?") || q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != a.URL+"/" {
		t.Fatalf("logout redirected to %s", loc)
	}
	// ImageHost signs the user out (the hint names them) and sends them back.
	resp, page = u.get(loc.String())
	if resp.Request.URL.String() != a.URL+"/" || !strings.Contains(page, "Connect with ImageHost") {
		t.Fatalf("after ImageHost's logout: %s", resp.Request.URL)
	}
}

func TestBackchannelLogoutEndsTheSession(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	// The user signs out at ImageHost itself, in another tab.
	_, confirm := u.get(a.imageHost.URL + "/logout")
	resp, _ := u.post(a.imageHost.URL+"/logout", hidden(confirm))
	if resp.StatusCode != 200 {
		t.Fatalf("ImageHost logout: %d", resp.StatusCode)
	}
	// The app's cookie is still there, but the session is dead.
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.String() != a.URL+"/" || !strings.Contains(page, "signed out at ImageHost") {
		t.Fatalf("after back-channel logout /photos went to %s:\n%s", resp.Request.URL, page)
	}
}

func TestRevokeAtImageHostEndsTheSession(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	_, account := u.get(a.imageHost.URL + "/account")
	form := hidden(account)
	form.Set("client_id", harness.AppClientID)
	if resp, _ := u.post(a.imageHost.URL+"/account/revoke", form); resp.StatusCode != 200 {
		t.Fatalf("revoke at ImageHost: %d", resp.StatusCode)
	}
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.String() != a.URL+"/" || !strings.Contains(page, "Connect again") && !strings.Contains(page, "revoked") {
		t.Fatalf("after revoking at ImageHost, /photos went to %s:\n%s", resp.Request.URL, page)
	}
}

func TestBackchannelLogoutRejectsForgeries(t *testing.T) {
	a := newTestApp(t)
	for _, token := range []string{"", "garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
		resp, err := http.PostForm(a.URL+"/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != 400 || !strings.Contains(body, "invalid_request") {
			t.Fatalf("logout token %q: %d %s", token, resp.StatusCode, body)
		}
	}
}

func TestRefreshIsSharedByConcurrentRequests(t *testing.T) {
	// After a refresh the app uses a token until 2 s before it expires:
	// 6 s leaves the concurrent requests 4 s, plenty even on a busy machine.
	const ttl = 6 * time.Second
	a := newTestApp(t, "IMAGEHOST_ACCESS_TOKEN_TTL="+ttl.String())
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	for round := range 2 {
		time.Sleep(ttl) // every round starts with an expired access token
		before := a.session(u).Refreshes
		var wg sync.WaitGroup
		refreshed := make(chan bool, 6)
		for range 6 {
			wg.Go(func() {
				resp, page := u.get(a.URL + "/photos")
				if resp.Request.URL.Path != "/photos" || resp.StatusCode != 200 {
					t.Errorf("round %d: concurrent request ended at %s (%d)", round, resp.Request.URL, resp.StatusCode)
				}
				refreshed <- strings.Contains(page, "token-refreshed")
			})
		}
		wg.Wait()
		close(refreshed)
		n := 0
		for r := range refreshed {
			if r {
				n++
			}
		}
		// One request refreshed; the others used its result. Had two
		// refreshed with the same token, ImageHost would have revoked the
		// family and the next round would fail.
		if n != 1 {
			t.Fatalf("round %d: %d requests refreshed, want exactly 1", round, n)
		}
		if after := a.session(u).Refreshes; after != before+1 {
			t.Fatalf("round %d: %d refreshes, want 1", round, after-before)
		}
	}
}

func TestRefusedRefreshAsksToReconnect(t *testing.T) {
	const ttl = 3 * time.Second
	a := newTestApp(t, "IMAGEHOST_ACCESS_TOKEN_TTL="+ttl.String())
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	// The grant ends at ImageHost without the app being told (the token is
	// revoked directly, so no back-channel logout is sent).
	rt := a.session(u).RefreshToken
	req, _ := http.NewRequest("POST", a.imageHost.URL+"/revoke", strings.NewReader(url.Values{"token": {rt}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(harness.AppClientID, harness.AppClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v", err)
	}
	resp.Body.Close()
	time.Sleep(ttl)
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.String() != a.URL+"/" || !strings.Contains(page, "ImageHost no longer accepts this app") || !strings.Contains(page, "Connect again") {
		t.Fatalf("after a refused refresh /photos went to %s:\n%s", resp.Request.URL, page)
	}
	if s := a.session(u); s.ID != "" {
		t.Fatal("the dead session is still referenced by the cookie")
	}
}

func TestUsersSeeOnlyTheirOwnPhotos(t *testing.T) {
	a := newTestApp(t)
	alice, bob := newUser(t), newUser(t)
	alicePage := a.connect(alice, "alice", "wonderland")
	bobPage := a.connect(bob, "bob", "builder")
	if strings.Contains(alicePage, "Blueprint") || strings.Contains(bobPage, "Sunset over the sea") || !strings.Contains(bobPage, "Blueprint") {
		t.Fatal("a gallery shows another user's photos")
	}
	// Bob's photo id, asked for with alice's session, is not found.
	id := regexp.MustCompile(`data-photo-id="([^"]+)"`).FindStringSubmatch(bobPage)[1]
	if resp, _ := alice.get(a.URL + "/photos/" + id + "/image"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("alice fetching bob's photo: %d", resp.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	a := newTestApp(t)
	resp, _ := newUser(t).get(a.URL + "/")
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("security headers: %v", h)
	}
	resp, page := newUser(t).get(a.URL + "/no-such-page")
	if resp.StatusCode != 404 || !strings.Contains(page, "Page not found") {
		t.Fatalf("unknown page: %d", resp.StatusCode)
	}
}

func TestInspectorMasksSecretsForOtherHosts(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	sess := a.session(u)

	_, revealed := u.get(a.URL + "/flow?reveal=1")
	if !strings.Contains(revealed, sess.RefreshToken) {
		t.Fatal("on localhost, reveal should show the refresh token")
	}
	// The same page asked for under another host name: everything masked,
	// reveal or not.
	req, _ := http.NewRequest("GET", a.URL+"/flow?reveal=1", nil)
	req.Host = "photoeditor.example:8080"
	// Go's client keeps a jar's cookies from a request to another Host:
	// the browser's cookies go along by hand.
	for _, c := range u.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	for name, secret := range map[string]string{"access token": sess.AccessToken, "refresh token": sess.RefreshToken, "ID token": sess.IDToken} {
		if strings.Contains(page, secret) {
			t.Fatalf("the %s is unmasked on a page for a non-localhost host", name)
		}
	}
	if !strings.Contains(page, "Disconnect") || !strings.Contains(page, "6-7") || strings.Contains(page, `id="reveal"`) {
		t.Fatalf("the masked inspector should show the steps and offer no reveal:\n%.3000s", page)
	}
	for _, export := range []string{"/flow/export.md", "/flow/export.har"} {
		_, body := u.get(a.URL + export)
		if strings.Contains(body, sess.RefreshToken) || strings.Contains(body, sess.AccessToken) || !strings.Contains(body, "6-7") {
			t.Fatalf("%s leaks a token or lacks the steps", export)
		}
	}
}

// TestLocalRequest: the lab's switches and Reveal answer only a local
// request: on a loopback listener, from a loopback peer, naming a loopback
// host, and passed on by no proxy (a proxy on this machine would carry
// anyone's request, and nginx's default even rewrites Host to a loopback
// address).
func TestLocalRequest(t *testing.T) {
	tests := []struct {
		remote, host string
		header       string // a forwarding header the request carries
		loopback     bool   // the app listens on loopback only
		want         bool
	}{
		{"127.0.0.1:5000", "localhost:8080", "", true, true},
		{"[::1]:5000", "127.0.0.1:8080", "", true, true},
		{"192.0.2.7:5000", "localhost:8080", "", true, false},
		{"127.0.0.1:5000", "192.168.1.20:8080", "", true, false},
		{"127.0.0.1:5000", "LOCALHOST:8080", "", true, true},
		{"127.0.0.1:5000", "127.8.9.10", "", true, true},
		{"127.0.0.1:5000", "[::1]", "", true, true},
		{"[::1]:5000", "[::1]:8080", "", true, true},
		// DNS rebinding: a page of another site whose name now points here.
		{"127.0.0.1:5000", "rebind.example:8080", "", true, false},
		{"127.0.0.1:5000", "localhost.rebind.example", "", true, false},
		{"127.0.0.1:5000", "127.0.0.1.rebind.example:8080", "", true, false},
		{"127.0.0.1:5000", "", "", true, false},
		// A reverse proxy on this machine, with Host rewritten to loopback.
		{"127.0.0.1:5000", "127.0.0.1:8080", "X-Forwarded-For", true, false},
		{"127.0.0.1:5000", "127.0.0.1:8080", "Forwarded", true, false},
		{"127.0.0.1:5000", "127.0.0.1:8080", "X-Real-Ip", true, false},
		{"127.0.0.1:5000", "127.0.0.1:8080", "Via", true, false},
		{"127.0.0.1:5000", "127.0.0.1:8080", "X-Forwarded-Host", true, false},
		// Listening beyond loopback.
		{"127.0.0.1:5000", "localhost:8080", "", false, false},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/flow", nil)
		req.RemoteAddr, req.Host = tc.remote, tc.host
		if tc.header != "" {
			req.Header.Set(tc.header, "203.0.113.9")
		}
		if got := localRequest(req, tc.loopback); got != tc.want {
			t.Errorf("remote %s host %s header %q listener on loopback %v: %v, want %v", tc.remote, tc.host, tc.header, tc.loopback, got, tc.want)
		}
	}
}

func TestMachineToMachine(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	// Twice: the demonstration leaves nothing behind, so the machine sees
	// its one upload each time, and none afterwards.
	for range 2 {
		_, page := u.get(a.URL + "/flow")
		_, page = u.post(a.URL+"/flow/machine", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
		for _, want := range []string{`sub=&#34;photo-sync&#34;`, "refresh token: false", "it sees 1 photo(s), all its own uploads",
			"404, as if it did not exist", "it removed its upload again", `data-step="M"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("the machine demonstration lacks %q:\n%s", want, page)
			}
		}
	}
	if n := a.machinePhotos(); n != 0 {
		t.Fatalf("the machine keeps %d photos after the demonstrations, want 0", n)
	}
}

// machinePhotos counts the photos the machine client keeps at ImageHost.
func (a *testApp) machinePhotos() int {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.imageHost.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("photo-sync", harness.M2MClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ = http.NewRequest("GET", a.imageHost.URL+"/api/photos", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	var list []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		a.t.Fatalf("the machine's photo list: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	return len(list)
}

// TestWorkshopButtonsNeedAConnection: a browser that is not connected
// cannot have the app act at ImageHost: no upload as the machine client, no
// attack sent.
func TestWorkshopButtonsNeedAConnection(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	for _, path := range []string{"/flow/machine", "/flow/attack/redirect-uri", "/flow/attack/forged-state", "/flow/expire"} {
		_, page := u.get(a.URL + "/flow")
		resp, page := u.post(a.URL+path, url.Values{"_csrf": {hidden(page).Get("_csrf")}})
		if resp.Request.URL.Path != "/" || !strings.Contains(page, "Connect with ImageHost first") {
			t.Fatalf("POST %s, not connected: ended at %s\n%s", path, resp.Request.URL, page)
		}
	}
	if _, page := u.get(a.URL + "/flow"); strings.Contains(page, `data-step="M"`) || strings.Contains(page, `data-step="!"`) {
		t.Fatal("the refused buttons still sent requests to ImageHost")
	}
	if n := a.machinePhotos(); n != 0 {
		t.Fatalf("an anonymous browser had the machine client upload %d photos", n)
	}
}

// TestLabAnswersOnlyOnLoopback: a DNS-rebinding page, whose requests come
// from this machine under its own host name, can neither read the lab's
// page (and its CSRF token) nor switch a defence off.
func TestLabAnswersOnlyOnLoopback(t *testing.T) {
	a := newTestAppWith(t, func(c *Config) { c.Lab = true }, "IMAGEHOST_LAB=true")
	u := newUser(t)
	_, page := u.get(a.URL + "/lab")
	form := hidden(page)
	form.Set("check", checkState)
	form.Set("on", "false")
	forged := func(method string, body url.Values) (*http.Response, string) {
		req, _ := http.NewRequest(method, a.URL+"/lab", strings.NewReader(body.Encode()))
		req.Host = "rebind.example:" + a.URL[strings.LastIndex(a.URL, ":")+1:]
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range u.client.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		resp, err := u.noFollow().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readBody(t, resp)
	}
	if resp, body := forged("GET", nil); resp.StatusCode != http.StatusForbidden || strings.Contains(body, form.Get("_csrf")) {
		t.Fatalf("GET /lab with Host rebind.example: %d", resp.StatusCode)
	}
	if resp, _ := forged("POST", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /lab with Host rebind.example: %d", resp.StatusCode)
	}
	if _, page := u.get(a.URL + "/lab"); strings.Contains(page, `class="off"`) {
		t.Fatalf("a forged request switched a check off:\n%s", page)
	}
	// From localhost, the same form works.
	labFlip(t, u, a.URL, "check", checkState, false)
}

// labFlip sets one of a lab page's switches through its form.
func labFlip(t *testing.T, u *user, base, field, name string, on bool) {
	t.Helper()
	_, page := u.get(base + "/lab")
	form := hidden(page)
	form.Set(field, name)
	form.Set("on", strconv.FormatBool(on))
	if resp, _ := u.post(base+"/lab", form); resp.StatusCode != 200 {
		t.Fatalf("lab switch %s: %d", name, resp.StatusCode)
	}
}

// attack presses an attack button and returns the page it ends on.
func (a *testApp) attack(u *user, name string) string {
	a.t.Helper()
	_, page := u.get(a.URL + "/flow")
	_, page = u.post(a.URL+"/flow/attack/"+name, url.Values{"_csrf": {hidden(page).Get("_csrf")}})
	return page
}

func TestLabModeAttacksSucceedWithDefencesOff(t *testing.T) {
	a := newTestAppWith(t, func(c *Config) { c.Lab, c.LabAttacker = true, "bob:builder" }, "IMAGEHOST_LAB=true")
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	if _, page := u.get(a.URL + "/flow"); !strings.Contains(page, "LAB MODE") {
		t.Fatal("no lab banner")
	}

	// Mix-up: only the iss check stops the attacker's code.
	if page := a.attack(u, "mix-up"); !strings.Contains(page, "wrong issuer") {
		t.Fatalf("mix-up with the iss check on:\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkISS, false)
	if page := a.attack(u, "mix-up"); !strings.Contains(page, "Connected to ImageHost as Bob") || !strings.Contains(page, "Blueprint") {
		t.Fatalf("mix-up with the iss check off should log this browser in as the attacker:\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkISS, true)

	// Login CSRF into a browser with no login in progress: only the state
	// check stops it.
	if page := a.attack(u, "forged-state"); !strings.Contains(page, "state mismatch") {
		t.Fatalf("login CSRF with the state check on:\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkState, false)
	if page := a.attack(u, "forged-state"); !strings.Contains(page, "Connected to ImageHost as Bob") {
		t.Fatalf("login CSRF with the state check off:\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkState, true)
	if page := a.attack(u, "forged-state"); !strings.Contains(page, "state mismatch") {
		t.Fatalf("login CSRF with the state check back on:\n%s", page)
	}

	// Code injection into this browser's own login: PKCE and the nonce
	// each stop it on their own; with both off it works.
	if page := a.attack(u, "code-injection"); !strings.Contains(page, "invalid_grant") {
		t.Fatalf("code injection with every check on:\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkPKCE, false)
	if page := a.attack(u, "code-injection"); !strings.Contains(page, "nonce mismatch") {
		t.Fatalf("code injection with only PKCE off must still fail (nonce):\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkPKCE, true)
	labFlip(t, u, a.URL, "check", checkNonce, false)
	if page := a.attack(u, "code-injection"); !strings.Contains(page, "invalid_grant") {
		t.Fatalf("code injection with only the nonce check off must still fail (PKCE):\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkPKCE, false)
	if page := a.attack(u, "code-injection"); !strings.Contains(page, "Connected to ImageHost as Bob") {
		t.Fatalf("code injection with PKCE and the nonce check off:\n%s", page)
	}
	labFlip(t, u, a.URL, "check", checkNonce, true)
	labFlip(t, u, a.URL, "check", checkPKCE, true)

	// ImageHost's switches: PKCE and refresh reuse detection. (The app's
	// session is the attacker's now, from the successful login CSRF.)
	labFlip(t, u, a.imageHost.URL, "defence", "pkce", false)
	if page := a.attack(u, "wrong-verifier"); !strings.Contains(page, "attack succeeded") {
		t.Fatalf("wrong verifier with ImageHost's PKCE off:\n%s", page)
	}
	labFlip(t, u, a.imageHost.URL, "defence", "pkce", true)
	if page := a.attack(u, "wrong-verifier"); !strings.Contains(page, "invalid_grant") {
		t.Fatalf("wrong verifier with PKCE back on:\n%s", page)
	}
	labFlip(t, u, a.imageHost.URL, "defence", "refresh-reuse-detection", false)
	if page := a.attack(u, "reuse-refresh"); !strings.Contains(page, "the attack succeeded") {
		t.Fatalf("refresh reuse with detection off:\n%s", page)
	}
	labFlip(t, u, a.imageHost.URL, "defence", "refresh-reuse-detection", true)
	if page := a.attack(u, "reuse-refresh"); !strings.Contains(page, "invalid_grant") {
		t.Fatalf("refresh reuse with detection back on:\n%s", page)
	}
}

// TestBackChannelAnswersAreBounded: an issuer that answers discovery with
// an endless document gets an error page, and the app stops reading.
func TestBackChannelAnswersAreBounded(t *testing.T) {
	var written atomic.Int64
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"issuer":"`)
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for written.Load() < 256<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer hostile.Close()
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"PHOTOEDITOR_ISSUER": hostile.URL, "PHOTOEDITOR_CLIENT_SECRET": "s", "PHOTOEDITOR_DATA_DIR": t.TempDir()}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDatabase(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	key := func(n int) []byte { return bytes.Repeat([]byte{7}, n) }
	app := httptest.NewServer(newServer(cfg, db, key(64), key(32), &http.Client{Timeout: 20 * time.Second}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer app.Close()
	u := newUser(t)
	_, home := u.get(app.URL + "/")
	resp, page := u.post(app.URL+"/connect", hidden(home))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "ImageHost is not answering") {
		t.Fatalf("connect with an endless discovery document: %d\n%.500s", resp.StatusCode, page)
	}
	if n := written.Load(); n > 4*maxResponseBytes {
		t.Fatalf("the app read %d MB of an answer, want about %d MB at most", n>>20, maxResponseBytes>>20)
	}
}

// TestRevealNeverShowsClientCredentials: Reveal shows the attendee's own
// tokens, never the app's credentials (nor the machine client's), which
// the code exchange, the attacks and the machine demonstration send.
func TestRevealNeverShowsClientCredentials(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	_, page := u.get(a.URL + "/flow")
	u.post(a.URL+"/flow/machine", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
	a.attack(u, "replay-code")
	basic := func(id, secret string) string {
		return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	}
	_, revealed := u.get(a.URL + "/flow?reveal=1")
	_, md := u.get(a.URL + "/flow/export.md")
	_, har := u.get(a.URL + "/flow/export.har")
	for what, out := range map[string]string{"Reveal": revealed, "Markdown": md, "HAR": har} {
		for name, secret := range map[string]string{
			"the app's secret": harness.AppClientSecret, "the app's Basic credentials": basic(harness.AppClientID, harness.AppClientSecret),
			"the machine's secret": harness.M2MClientSecret, "the machine's Basic credentials": basic("photo-sync", harness.M2MClientSecret),
		} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %s", what, name)
			}
		}
	}
	if !strings.Contains(revealed, "client credentials: never recorded") || !strings.Contains(revealed, `data-name="code_verifier"`) {
		t.Fatal("Reveal should still show the exchanges, with the credentials marked as never recorded")
	}
}

// TestInspectorEscapesRecordedValues: what a crafted link puts in the
// recording is text on the inspector's page, never markup or a link.
func TestInspectorEscapesRecordedValues(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.startConnect(u)
	u.get(a.URL + "/callback?" + url.Values{"state": {`"><script>alert(1)</script>`}, "next": {"javascript:alert(1)"},
		"error": {"x"}, "error_description": {`<img src=x onerror=alert(1)>`}}.Encode())
	_, page := u.get(a.URL + "/flow")
	for _, raw := range []string{"<script>alert", "<img src=x", `href="javascript:`} {
		if strings.Contains(page, raw) {
			t.Fatalf("the inspector shows %q as markup", raw)
		}
	}
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Fatal("the recorded values are not on the page as text")
	}
}

var jwtRE = regexp.MustCompile(`eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+`)

// TestLogoutLeavesNothingUsable: after Log out or Disconnect, the same
// browser's inspector holds nothing of the previous user's flow, even
// revealed, and the tokens the app held no longer work at ImageHost.
func TestLogoutLeavesNothingUsable(t *testing.T) {
	// Both ways the photos API checks tokens must see the revocation at
	// once: asking ImageHost (introspect), and checking the JWT locally
	// against ImageHost's revocation list (jwt, the default).
	for _, run := range []struct{ mode, path string }{
		{"jwt", "/logout"}, {"jwt", "/disconnect"}, {"introspect", "/logout"}, {"introspect", "/disconnect"},
	} {
		path := run.path
		t.Run(run.mode+path, func(t *testing.T) {
			a := newTestApp(t, "IMAGEHOST_API_TOKEN_CHECK="+run.mode)
			u := newUser(t)
			a.connect(u, "alice", "wonderland")
			// A refresh, so that the recording holds two access tokens.
			_, page := u.get(a.URL + "/flow")
			u.post(a.URL+"/flow/expire", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
			u.get(a.URL + "/photos")
			sess := a.session(u)
			_, before := u.get(a.URL + "/flow?reveal=1")
			var accessTokens []string
			for _, tok := range jwtRE.FindAllString(before, -1) {
				header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
				if strings.Contains(string(header), "at+jwt") && !slices.Contains(accessTokens, tok) {
					accessTokens = append(accessTokens, tok)
				}
			}
			if len(accessTokens) < 2 || !strings.Contains(before, sess.RefreshToken) || !strings.Contains(before, "Sunset over the sea") {
				t.Fatalf("before: %d access tokens revealed, the refresh token and the photo titles should be there", len(accessTokens))
			}

			resp, err := u.noFollow().PostForm(a.URL+path, hidden(page))
			if err != nil || resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST %s: %v %v", path, resp.Status, err)
			}
			resp.Body.Close()
			_, after := u.get(a.URL + "/flow?reveal=1")
			if !strings.Contains(after, "Nothing recorded yet") || len(jwtRE.FindAllString(after, -1)) != 0 ||
				strings.Contains(after, sess.RefreshToken) || strings.Contains(after, "Sunset over the sea") {
				t.Fatalf("after %s the inspector still shows the previous flow:\n%.3000s", path, after)
			}
			for _, export := range []string{"/flow/export.md", "/flow/export.har"} {
				if _, body := u.get(a.URL + export); strings.Contains(body, "Sunset") || strings.Contains(body, "6-7") {
					t.Fatalf("after %s, %s still holds the previous flow", path, export)
				}
			}

			// At ImageHost: the refresh token is refused, and every access
			// token the recording held is inactive.
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sess.RefreshToken}}
			req, _ := http.NewRequest("POST", a.imageHost.URL+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(harness.AppClientID, harness.AppClientSecret)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
				t.Fatalf("the old refresh token at the token endpoint: %d %s", resp.StatusCode, body)
			}
			for i, tok := range accessTokens {
				if a.introspect(tok) {
					t.Fatalf("access token %d of the old recording is still active at ImageHost", i)
				}
				req, _ := http.NewRequest("GET", a.imageHost.URL+"/api/photos", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("access token %d of the old recording at the photos API: %d", i, resp.StatusCode)
				}
			}
		})
	}
}
