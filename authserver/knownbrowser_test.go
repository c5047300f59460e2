package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// TestKnownBrowserSignsInDuringLockout: anyone can send five wrong
// passwords for bob and so lock his account for every browser that has
// never signed in to it. The browser bob signed in with before still signs
// him in; an unknown browser, even with the right password, waits.
func TestKnownBrowserSignsInDuringLockout(t *testing.T) {
	ts := newTestServer(t)
	bobs := ts.browser()
	if loc := location(t, loginForm(t, bobs, "bob", "builder")); loc.Path != "/account" {
		t.Fatalf("bob's sign-in went to %s", loc)
	}
	ts.clock.advance(13 * time.Hour) // his session has expired since

	for i := range accountAttempts {
		resp := loginForm(t, ts.browser(), "BOB", fmt.Sprintf("guess-%d", i)) // any case counts as bob
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attacker's guess %d: %s", i+1, resp.Status)
		}
	}
	if resp := loginForm(t, ts.browser(), "bob", "builder"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an unknown browser with the right password during the lockout: %s, want 429", resp.Status)
	}
	if loc := location(t, loginForm(t, bobs, "bob", "builder")); loc.Path != "/account" {
		t.Fatalf("bob's own browser during the lockout went to %s, want /account", loc)
	}
}

// TestKnownBrowserCookieIsNoMasterKey: whoever steals the cookie of a
// browser bob signed in with gets that browser's own limit, not unlimited
// guesses: of a burst of wrong passwords sent with it, the account limit's
// worth is checked, and it counts for no other account.
func TestKnownBrowserCookieIsNoMasterKey(t *testing.T) {
	ts := newTestServer(t)
	bobs := ts.browser()
	location(t, loginForm(t, bobs, "bob", "builder"))
	ts.clock.advance(13 * time.Hour)
	form := formValues(t, body(t, bobs.get("/login")))

	const n = 40
	counts := burst(t, n, func(i int) func() (*http.Response, error) {
		f := url.Values{"csrf_token": form["csrf_token"], "username": {"bob"}, "password": {fmt.Sprintf("guess-%d", i)}}
		return func() (*http.Response, error) { return bobs.client.PostForm(ts.URL+"/login", f) }
	})
	if counts[http.StatusUnauthorized] != accountAttempts || counts[http.StatusTooManyRequests] != n-accountAttempts {
		t.Fatalf("a burst with bob's known-browser cookie: %v; want %d checked and 429 for the rest", counts, accountAttempts)
	}
	// The cookie is bob's: for alice it is any browser's.
	if resp := loginForm(t, bobs, "alice", "wonderland"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice from bob's browser: %s", resp.Status)
	}
}

// TestCaseTwinGetsNoExtraGuesses: an attendee cannot join as "teacher"
// when the admin is "Teacher" (one name in any case), and the known-browser
// cookie of the attendee's own account gives no extra guesses at the
// admin's: of 80 wrong passwords, each four followed by a sign-in to the
// attendee's own account (which clears that browser's count for that
// account alone), the account limit's worth is checked.
func TestCaseTwinGetsNoExtraGuesses(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.JoinCode = testJoinCode })
	ctx := context.Background()
	if err := setUpJoining(ctx, ts.cfg, ts.store, ts.clock.now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := ts.store.CreateUser(ctx, store.User{ID: "sub-teacher", Username: "Teacher", PasswordHash: password.Hash("Correct-Horse-77"),
		Name: "Teacher", Admin: true, CreatedAt: ts.clock.now()}); err != nil {
		t.Fatal(err)
	}

	attacker, own := ts.browser(), "teacher"
	if status, msg := joinError(t, joinAt(t, attacker, "/join", testJoinCode, "teacher", "attendee-pass-1")); status != http.StatusBadRequest ||
		!strings.Contains(msg, "that username is taken") {
		t.Errorf("joining as teacher, with Teacher taken: %d %q, want the usual refusal", status, msg)
		own = "teacher" // joined: the twin signs in below
	} else {
		own = "mallory"
		location(t, joinAt(t, attacker, "/join", testJoinCode, own, "attendee-pass-1"))
	}

	// The attendee is signed in, so /login sends the browser on: the form
	// is posted with the CSRF token of another page, as a script would.
	signIn := func(user, pw string) *http.Response {
		form := url.Values{csrfField: {formValues(t, body(t, attacker.get("/device"))).Get(csrfField)}, "username": {user}, "password": {pw}}
		return attacker.post("/login", form)
	}
	counts := map[int]int{}
	for i := range 80 {
		resp := signIn("Teacher", fmt.Sprintf("guess-%d", i))
		resp.Body.Close()
		counts[resp.StatusCode]++
		if i%4 == 3 {
			if resp := signIn(own, "attendee-pass-1"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("the attendee's own sign-in: %s", resp.Status)
			}
		}
	}
	if counts[http.StatusUnauthorized] != accountAttempts || counts[http.StatusTooManyRequests] != 80-accountAttempts {
		t.Fatalf("80 guesses at Teacher with the attendee's known-browser cookie: %v; want %d checked and 429 for the rest", counts, accountAttempts)
	}
}
