package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"oauthdemo/app/tokenstore"
	"oauthdemo/e2e/harness"
)

// roundTripper is a function as an http.RoundTripper.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestLogoutDuringRefreshIsNotUndone: ImageHost's back-channel logout ends
// the session while the app's refresh of it is on its way to ImageHost.
// The refresh comes back with new tokens; the session must stay ended, and
// the request be told to reconnect, not handed the new access token.
func TestLogoutDuringRefreshIsNotUndone(t *testing.T) {
	eachStore(t, testLogoutDuringRefresh)
}

func testLogoutDuringRefresh(t *testing.T, configure func(*Config)) {
	ctx := context.Background()
	a := newTestAppWith(t, configure)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	sess := a.session(u)
	const reason = "You were signed out at ImageHost (while the app refreshed)."
	// The app's token keeper, whose HTTP client lets the logout in just as
	// the refresh request leaves for ImageHost.
	logoutFirst := roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.URL.Path == "/token" {
			if n, err := a.store.End(ctx, sess.Subject, "", reason); err != nil || n != 1 {
				t.Errorf("back-channel logout during the refresh: %d, %v", n, err)
			}
		}
		return http.DefaultTransport.RoundTrip(req)
	})
	p := &provider{issuer: a.imageHost.URL, clientID: harness.AppClientID, clientSecret: harness.AppClientSecret,
		redirectURI: a.cfg.redirectURI(), http: &http.Client{Transport: logoutFirst, Timeout: 10 * time.Second}, now: time.Now}
	keeper := &tokenKeeper{store: a.store, provider: p, now: time.Now}
	if err := keeper.update(ctx, sess.ID, func(s *tokenstore.Session) error { s.Expiry = time.Now().Add(-time.Second); return nil }); err != nil {
		t.Fatal(err)
	}
	token, err := keeper.forSession(sess.ID).AccessToken(ctx)
	var rc *reconnectError
	if !errors.As(err, &rc) || rc.reason != reason || token != "" {
		t.Fatalf("a refresh that crossed a logout gave %.12q, %v; want the logout's reason to reconnect", token, err)
	}
	got, err := a.store.Get(ctx, sess.ID)
	if err != nil || got.EndedReason != reason || got.AccessToken != "" || got.RefreshToken != "" || got.Refreshes != 0 {
		t.Fatalf("the refresh brought the session back: %+v, %v", got, err)
	}
	// And the browser is sent to connect again.
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.Path != "/" || !strings.Contains(page, "signed out at ImageHost") {
		t.Fatalf("after the crossed refresh /photos went to %s", resp.Request.URL)
	}
}
