package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// testJoinCode is the room servers' join code, as a teacher would type it.
const testJoinCode = "Room Code 2026"

// roomServer is a test server where attendees join with testJoinCode, with
// a teacher: an admin account, "teacher" / "blackboard".
func roomServer(t testing.TB, configure ...func(*Config)) *testServer {
	t.Helper()
	ts := newTestServer(t, append([]func(*Config){func(c *Config) { c.JoinCode = testJoinCode }}, configure...)...)
	ctx := context.Background()
	if err := setUpJoining(ctx, ts.cfg, ts.store, ts.clock.now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	teacher := store.User{ID: "sub-teacher", Username: "teacher", PasswordHash: password.Hash("blackboard"), Name: "Teacher",
		Admin: true, CreatedAt: ts.clock.now()}
	if err := ts.store.CreateUser(ctx, teacher); err != nil {
		t.Fatal(err)
	}
	return ts
}

// joinAt fills in the join page at page (/join, or a pending request's) with
// code, username and password, and posts it.
func joinAt(t testing.TB, b *browser, page, code, username, pw string) *http.Response {
	t.Helper()
	form := formValues(t, body(t, b.get(page)))
	form.Set("join_code", code)
	form.Set("username", username)
	form.Set("password", pw)
	return b.post("/join", form)
}

// attendee joins as username and returns the signed-in browser.
func (ts *testServer) attendee(t testing.TB, username string) *browser {
	t.Helper()
	b := ts.browser()
	if loc := location(t, joinAt(t, b, "/join", testJoinCode, username, username+"-password")); loc.Path != "/developer" {
		t.Fatalf("%s joined, and went to %s", username, loc)
	}
	return b
}

// fromAddress is a browser whose connections come from ip, a loopback
// address other than 127.0.0.1: another laptop, as the server sees it.
func (ts *testServer) fromAddress(ip string) *browser {
	b := ts.browser()
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	b.client = &http.Client{Jar: jar, Transport: &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: b.client.CheckRedirect}
	return b
}

// joinError is the message a join page shows in its alert.
func joinError(t testing.TB, resp *http.Response) (int, string) {
	t.Helper()
	page := body(t, resp)
	_, msg, _ := strings.Cut(page, `role="alert">`)
	msg, _, _ = strings.Cut(msg, "<")
	return resp.StatusCode, msg
}

func TestJoin(t *testing.T) {
	ts := roomServer(t)
	ctx := context.Background()
	b := ts.browser()
	if page := body(t, b.get("/login")); !strings.Contains(page, `href="/join"`) {
		t.Fatal("the login page offers no way to create an account")
	}
	resp := joinAt(t, b, "/join", "  room-code 2026 ", "ann", "ann-password") // case, spaces and dashes do not count
	if loc := location(t, resp); loc.Path != "/developer" {
		t.Fatalf("after joining: %s, want the developer console", loc)
	}
	ann, err := ts.store.UserByUsername(ctx, "ann")
	if err != nil || ann.JoinedAt.IsZero() || ann.Admin {
		t.Fatalf("ann's account: %+v, %v", ann, err)
	}
	if page := body(t, b.get("/account")); !strings.Contains(page, "Signed in as <strong>ann</strong>") {
		t.Fatal("after joining, ann is not signed in")
	}
	if n, _ := ts.store.CountPhotos(ctx, ann.ID); n != 3 {
		t.Fatalf("ann starts with %d photos, want 3", n)
	}
	// Her password works; the account is hers.
	if loc := location(t, loginForm(t, ts.browser(), "ann", "ann-password")); loc.Path != "/account" {
		t.Fatalf("ann's sign-in went to %s", loc)
	}

	// What the form refuses, and why; nothing of it is about the code.
	for _, tc := range []struct {
		name, username, pw string
		status             int
		want               string
	}{
		{"an uppercase username", "Ann2", "long enough", 400, "lowercase"},
		{"a short username", "a", "long enough", 400, "2 to 32"},
		{"a long username", strings.Repeat("a", 33), "long enough", 400, "2 to 32"},
		{"a short password", "cal", "short", 400, "at least 8"},
		{"the username as password", "calvin99", "CALVIN99", 400, "must not be the username"},
	} {
		status, msg := joinError(t, joinAt(t, ts.browser(), "/join", testJoinCode, tc.username, tc.pw))
		if status != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, status, msg, tc.status, tc.want)
		}
	}
	if _, err := ts.store.UserByUsername(ctx, "cal"); err == nil {
		t.Fatal("a refused form created an account")
	}

	// A forged cross-site form has no CSRF token.
	form := formValues(t, body(t, ts.browser().get("/join")))
	form.Set("join_code", testJoinCode)
	form.Set("username", "mallory")
	form.Set("password", "mallory-password")
	form.Del("csrf_token")
	if status, _ := joinError(t, ts.browser().post("/join", form)); status != http.StatusForbidden {
		t.Fatalf("a join without a CSRF token: %d, want 403", status)
	}
}

// TestJoinAnswersAlike: without the code, nobody learns which usernames
// exist: a wrong code and a taken username get the same answer.
func TestJoinAnswersAlike(t *testing.T) {
	ts := roomServer(t)
	ts.attendee(t, "ann")
	wrongCode, wrongMsg := joinError(t, joinAt(t, ts.browser(), "/join", "not the code", "ben", "ben-password"))
	wrongAndTaken, wrongAndTakenMsg := joinError(t, joinAt(t, ts.browser(), "/join", "not the code", "ann", "another-password"))
	taken, takenMsg := joinError(t, joinAt(t, ts.browser(), "/join", testJoinCode, "ann", "another-password"))
	noCode, noCodeMsg := joinError(t, joinAt(t, ts.browser(), "/join", "", "ben", "ben-password"))
	if wrongCode != http.StatusBadRequest || wrongCode != taken || wrongCode != wrongAndTaken || wrongCode != noCode ||
		wrongMsg != takenMsg || wrongMsg != wrongAndTakenMsg || wrongMsg != noCodeMsg || wrongMsg == "" {
		t.Fatalf("wrong code: %d %q; wrong code, taken name: %d %q; taken name: %d %q; no code: %d %q; want one answer",
			wrongCode, wrongMsg, wrongAndTaken, wrongAndTakenMsg, taken, takenMsg, noCode, noCodeMsg)
	}
	if _, err := ts.store.UserByUsername(context.Background(), "ben"); err == nil {
		t.Fatal("a wrong code created an account")
	}
}

// TestJoinIsOffUnlessConfigured: without a join code there is no join page,
// and the login page offers none.
func TestJoinIsOffUnlessConfigured(t *testing.T) {
	ts := newTestServer(t)
	if page := body(t, ts.browser().get("/login")); strings.Contains(page, "/join") {
		t.Fatal("the login page offers joining, which is off")
	}
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, ts.URL+"/join", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s /join: %d, want 404", method, resp.StatusCode)
		}
	}
}

// TestJoinedBrowserSignsInDuringLockout: an attendee's username is on the
// projector, and anyone may send five wrong passwords for it. The browser
// the attendee joined with is known to the account, and still signs in.
func TestJoinedBrowserSignsInDuringLockout(t *testing.T) {
	ts := roomServer(t)
	ann := ts.attendee(t, "ann")
	ts.clock.advance(ts.cfg.SessionTTL + time.Hour) // her session has expired since
	for i := range accountAttempts {
		if resp := loginForm(t, ts.browser(), "ann", fmt.Sprintf("guess-%d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a neighbour's guess %d: %s", i+1, resp.Status)
		}
	}
	if resp := loginForm(t, ts.browser(), "ann", "ann-password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("another browser with ann's password during the lockout: %s, want 429", resp.Status)
	}
	if loc := location(t, loginForm(t, ann, "ann", "ann-password")); loc.Path != "/account" {
		t.Fatalf("the browser ann joined with, during the lockout, went to %s, want /account", loc)
	}
}

// TestJoinThrottleUnderABurst: a burst of guesses at the code from one
// address, released together: joinAddressAttempts of them are checked,
// the rest refused before any password is hashed; the window ends it.
func TestJoinThrottleUnderABurst(t *testing.T) {
	ts := roomServer(t)
	b := ts.browser()
	form := formValues(t, body(t, b.get("/join")))
	form.Set("username", "guesser")
	form.Set("password", "guesser-password")
	const n = 4 * joinAddressAttempts
	count := burst(t, n, func(i int) func() (*http.Response, error) {
		f := cloneValues(form)
		f.Set("join_code", fmt.Sprintf("guess-%04d", i))
		return func() (*http.Response, error) { return b.post("/join", f), nil }
	})
	// A guess past the throttle is checked (400), or, on a machine too
	// busy to hash its password within the budget's wait, shed (503)
	// and its attempt given back; either way no more than the limit get
	// past it.
	if count[http.StatusBadRequest]+count[http.StatusServiceUnavailable] != joinAddressAttempts || count[http.StatusTooManyRequests] != n-joinAddressAttempts {
		t.Fatalf("%d guesses at once from one address: %v; want %d past the throttle (400, or 503 when busy) and %d refused (429)",
			n, count, joinAddressAttempts, n-joinAddressAttempts)
	}
	// The right code is throttled too, until the window has passed.
	if status, _ := joinError(t, joinAt(t, b, "/join", testJoinCode, "guesser", "guesser-password")); status != http.StatusTooManyRequests {
		t.Fatalf("the right code during the block: %d, want 429", status)
	}
	ts.clock.advance(joinWindow)
	if loc := location(t, joinAt(t, b, "/join", testJoinCode, "guesser", "guesser-password")); loc.Path != "/developer" {
		t.Fatalf("after the window, the right code went to %s", loc)
	}
}

// TestJoinThrottleCountsTheServer: guesses spread over many addresses,
// each under its own limit, meet the server's: past joinServerAttempts
// failures in the window, nobody joins, whatever the address.
func TestJoinThrottleCountsTheServer(t *testing.T) {
	ts := roomServer(t)
	const perAddress = joinAddressAttempts / 2
	addresses := joinServerAttempts / perAddress
	for a := range addresses {
		b := ts.fromAddress(fmt.Sprintf("127.0.1.%d", a+1))
		form := formValues(t, body(t, b.get("/join")))
		form.Set("username", "guesser")
		form.Set("password", "guesser-password")
		var wg sync.WaitGroup
		for i := range perAddress {
			f := cloneValues(form)
			f.Set("join_code", fmt.Sprintf("guess-%d-%d", a, i))
			wg.Go(func() {
				if status, _ := joinError(t, b.post("/join", f)); status != http.StatusBadRequest {
					t.Errorf("guess %d from address %d: %d, want 400", i, a, status)
				}
			})
		}
		wg.Wait()
	}
	// A new address, with the right code: the server has had its failures.
	b := ts.fromAddress("127.0.2.1")
	if status, _ := joinError(t, joinAt(t, b, "/join", testJoinCode, "latecomer", "latecomer-password")); status != http.StatusTooManyRequests {
		t.Fatalf("after %d failures from %d addresses, a join from another: %d, want 429", joinServerAttempts, addresses, status)
	}
}

// TestJoinThrottleReservesUnderABurst: the server-wide count of the
// throttle holds under a concurrent burst from as many addresses.
func TestJoinThrottleReservesUnderABurst(t *testing.T) {
	limits := newJoinThrottle(attemptLimitsFor(Config{}, nil, time.Now))
	const n = 3 * joinServerAttempts / 2
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	reserved := 0
	for i := range n {
		wg.Go(func() {
			r := &http.Request{RemoteAddr: fmt.Sprintf("10.0.%d.%d:1234", i/200, i%200)}
			<-start
			if _, wait, err := limits.reserve(r); err == nil && wait == 0 {
				mu.Lock()
				reserved++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if reserved != joinServerAttempts {
		t.Fatalf("%d joins from %d addresses at once: %d got through, want %d", n, n, reserved, joinServerAttempts)
	}
}

// TestJoinClassIsCapped: a burst of attendees with the right code, from as
// many laptops, fills the class and no more.
func TestJoinClassIsCapped(t *testing.T) {
	const size, n = 5, 12
	ts := roomServer(t, func(c *Config) { c.MaxAttendees = size })
	forms := make([]*browser, n)
	pages := make([]string, n)
	for i := range n {
		forms[i] = ts.fromAddress(fmt.Sprintf("127.0.3.%d", i+1))
		pages[i] = body(t, forms[i].get("/join"))
	}
	count := burst(t, n, func(i int) func() (*http.Response, error) {
		f := formValues(t, pages[i])
		f.Set("join_code", testJoinCode)
		f.Set("username", fmt.Sprintf("attendee%d", i))
		f.Set("password", "a-good-password")
		return func() (*http.Response, error) { return forms[i].post("/join", f), nil }
	})
	class, err := ts.store.ClassProgress(context.Background(), 100, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if count[http.StatusSeeOther] != size || count[http.StatusForbidden] != n-size || len(class.Attendees) != size {
		t.Fatalf("%d joins at once into a class of %d: %v, %d attendees", n, size, count, len(class.Attendees))
	}
}

// TestJoinForAPendingRequest: an attendee sent to sign in by an app creates
// an account on the way, and goes on to consent and back to the app, whose
// ID token says the attendee signed in with a password (amr "pwd"), through
// no upstream provider (no idp).
func TestJoinForAPendingRequest(t *testing.T) {
	ts := roomServer(t)
	b := ts.browser()
	verifier := oauth2.GenerateVerifier()
	authURL := ts.authURL(appID, appRedirect, "openid photos.read", "st-join", oauth.S256Challenge(verifier))
	login := location(t, b.get(authURL))
	page := body(t, b.get(login.String()))
	if !strings.Contains(page, "/join?request=") {
		t.Fatal("a pending request's login page offers no way to create an account")
	}
	join := "/join?" + login.RawQuery
	if page := body(t, b.get(join)); !strings.Contains(page, "Test App") {
		t.Fatal("the join page does not say which app asked")
	}
	consent := location(t, joinAt(t, b, join, testJoinCode, "ann", "ann-password"))
	if consent.Path != "/consent" {
		t.Fatalf("after joining for a request: %s, want the consent page", consent)
	}
	form := formValues(t, body(t, b.get(consent.String())))
	form.Set("decision", "allow")
	back := location(t, b.post("/consent", form))
	if back.Query().Get("code") == "" || back.Query().Get("state") != "st-join" {
		t.Fatalf("back at the app: %s", back)
	}
	claims := idTokenClaimsOf(t, ts, back.Query().Get("code"), verifier)
	if !slices.Equal(toStrings(claims["amr"]), []string{amrPassword}) || claims["idp"] != nil {
		t.Fatalf("the ID token after joining says amr %v, idp %v; want [pwd] and no idp", claims["amr"], claims["idp"])
	}
}

// TestLoginPageOffersJoiningAndUpstreams: where attendees may join and
// users may sign in through an upstream, the login page offers both, for
// the same pending request, and each leads where it says.
func TestLoginPageOffersJoiningAndUpstreams(t *testing.T) {
	clock := &testClock{}
	fake := newFakeUpstream(t, clock.now)
	ts := roomServer(t, fakeConfig(fake))
	fake.set(func(f *fakeUpstream) { f.now = ts.clock.now })
	b := ts.browser()
	login := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "st-both", oauth.S256Challenge(oauth2.GenerateVerifier()))))
	page := body(t, b.get(login.String()))
	for _, want := range []string{`id="create-account"`, "/join?request=", `action="/upstream/fake/start"`, "Continue with Fake SSO"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the login page lacks %s:\n%s", want, page)
		}
	}
	if page := body(t, b.get("/join?"+login.RawQuery)); !strings.Contains(page, "Test App") {
		t.Fatal("the join page does not say which app asked")
	}
	if atFake := b.upstreamStart(login.String(), "fake"); !strings.HasPrefix(atFake.String(), fake.URL+"/authorize?") {
		t.Fatalf("Continue with Fake SSO went to %s", atFake)
	}
}

// TestSetUpJoining: the configured code is set at start; the same one
// again leaves an admin's changes standing; another replaces them.
// IMAGEHOST_JOIN alone makes a code once, and prints it.
func TestSetUpJoining(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	now := ts.clock.now()
	set := func(cfg Config) string {
		t.Helper()
		var out bytes.Buffer
		if err := setUpJoining(ctx, cfg, ts.store, now, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	works := func(code string) bool {
		c, err := ts.store.JoinCode(ctx)
		return err == nil && c.Open() && string(c.Hash) == string(hashJoinCode(code))
	}
	if out := set(Config{}); out != "" || works("") {
		t.Fatalf("joining off: printed %q", out)
	}
	if out := set(Config{JoinCode: "first-code", MaxAttendees: 40}); !strings.Contains(out, "open with IMAGEHOST_JOIN_CODE") || !works("FIRST CODE") {
		t.Fatalf("a configured code: %q", out)
	}
	// An admin's rotation keeps the configured code's hash (attendees.go).
	if err := ts.store.SetJoinCode(ctx, store.JoinCode{Hash: hashJoinCode("rotated"), Configured: hashJoinCode("first-code"), SetAt: now}); err != nil {
		t.Fatal(err)
	}
	if set(Config{JoinCode: "first-code"}); !works("rotated") {
		t.Fatal("a restart with the same configured code undid the admin's rotation")
	}
	if set(Config{JoinCode: "second-code"}); !works("second-code") {
		t.Fatal("a new configured code did not replace the admin's")
	}

	fresh := newTestServer(t)
	var out bytes.Buffer
	if err := setUpJoining(ctx, Config{Join: true, MaxAttendees: 40}, fresh.store, now, &out); err != nil {
		t.Fatal(err)
	}
	printed := strings.Fields(out.String()[strings.Index(out.String(), "now):")+5:])
	if len(printed) == 0 || len(normalizeJoinCode(printed[0])) != joinCodeLength {
		t.Fatalf("IMAGEHOST_JOIN printed %q", out.String())
	}
	if c, err := fresh.store.JoinCode(ctx); err != nil || string(c.Hash) != string(hashJoinCode(printed[0])) {
		t.Fatal("the printed code is not the stored one")
	}
	out.Reset()
	if err := setUpJoining(ctx, Config{Join: true}, fresh.store, now, &out); err != nil || strings.Contains(out.String(), printed[0]) ||
		!strings.Contains(out.String(), "open with the code set") {
		t.Fatalf("a second start made or printed a code again: %q, %v", out.String(), err)
	}
}

func TestJoinCodeValidation(t *testing.T) {
	for code, ok := range map[string]bool{"": true, "abcd-efgh": true, "ab cd-ef": false, "1234567": false, "12345678": true} {
		cfg, _ := parseConfig(nil, env(), io.Discard)
		cfg.JoinCode = code
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("join code %q: %v, want ok %v", code, err, ok)
		}
	}
	for i := range 50 {
		code := newJoinCode()
		if len(code) != joinCodeLength+1 || strings.ContainsAny(code, "01ilo") {
			t.Fatalf("generated code %d: %q", i, code)
		}
	}
}

// TestRoomHostileInput: the room's forms and pages answer what attackers
// send with a 4xx, never a 500.
func TestRoomHostileInput(t *testing.T) {
	ts := roomServer(t)
	huge := strings.Repeat("a", 10<<20)
	stranger := ts.browser()
	form := formValues(t, body(t, stranger.get("/join")))
	withForm := func(kv ...string) url.Values {
		f := cloneValues(form)
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	teacher := ts.teacher(t)
	tform := formValues(t, body(t, teacher.get("/class/attendees")))
	for _, tc := range []struct {
		name string
		do   func() *http.Response
	}{
		{"a 10 MB join form", func() *http.Response {
			return stranger.post("/join", withForm("join_code", huge))
		}},
		{"invalid UTF-8 in the username", func() *http.Response {
			return stranger.post("/join", withForm("join_code", testJoinCode, "username", "\xff\xfe", "password", "long enough"))
		}},
		{"invalid UTF-8 in the code and password", func() *http.Response {
			return stranger.post("/join", withForm("join_code", "\xff\x00", "username", "zed", "password", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"))
		}},
		{"a SQL-looking username", func() *http.Response {
			return stranger.post("/join", withForm("join_code", testJoinCode, "username", "x' OR '1'='1", "password", "long enough"))
		}},
		{"repeated fields", func() *http.Response {
			f := withForm("join_code", "a", "username", "zed", "password", "long enough")
			f.Add("join_code", testJoinCode)
			f.Add("request", "x")
			return stranger.post("/join", f)
		}},
		{"an unknown pending request", func() *http.Response { return stranger.get("/join?request=%ff%00") }},
		{"an attendee id that is not one", func() *http.Response {
			return teacher.post("/class/attendees/%27%20OR%201=1--/disable", tform)
		}},
		{"a client id that is not one", func() *http.Response { return teacher.get("/developer/clients/%ff/starter.go") }},
	} {
		resp := tc.do()
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %d, want a 4xx", tc.name, resp.StatusCode)
		}
	}
	if _, err := ts.store.UserByUsername(context.Background(), "zed"); err == nil {
		t.Fatal("a hostile form created an account")
	}
}
