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

// TestRefreshOutlivesTheBrowser: the browser goes away (its request's
// context ends) while ImageHost answers a refresh, having rotated the
// refresh token. The app keeps the new tokens: had it dropped them, its
// next refresh would present the spent token, and ImageHost would revoke
// the grant as stolen.
func TestRefreshOutlivesTheBrowser(t *testing.T) {
	eachStore(t, func(t *testing.T, configure func(*Config)) {
		a := newTestAppWith(t, configure)
		u := newUser(t)
		a.connect(u, "alice", "wonderland")
		sess := a.session(u)
		var leave context.CancelFunc
		// ImageHost gets the refresh and answers it; meanwhile the browser
		// leaves, and a transport gives up on a request whose context ended
		// before the answer came.
		leavesDuringRefresh := roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.URL.Path != "/token" || leave == nil {
				return http.DefaultTransport.RoundTrip(req)
			}
			resp, err := http.DefaultTransport.RoundTrip(req.Clone(context.Background()))
			leave()
			if err == nil && req.Context().Err() != nil {
				resp.Body.Close()
				return nil, req.Context().Err()
			}
			return resp, err
		})
		p := &provider{issuer: a.imageHost.URL, clientID: harness.AppClientID, clientSecret: harness.AppClientSecret,
			redirectURI: a.cfg.redirectURI(), http: &http.Client{Transport: leavesDuringRefresh, Timeout: 10 * time.Second}, now: time.Now}
		keeper := &tokenKeeper{store: a.store, provider: p, now: time.Now}
		expire := func() {
			t.Helper()
			if err := keeper.update(context.Background(), sess.ID, func(s *tokenstore.Session) error { s.Expiry = time.Now().Add(-time.Second); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		expire()
		var ctx context.Context
		ctx, leave = context.WithCancel(context.Background())
		keeper.forSession(sess.ID).AccessToken(ctx) // its caller is gone: whatever it returns, nobody reads it
		leave = nil
		if got, _ := a.store.Get(context.Background(), sess.ID); got.Refreshes != 1 || got.RefreshToken == sess.RefreshToken {
			t.Fatalf("the refresh's answer was dropped: %d refreshes, refresh token changed: %v", got.Refreshes, got.RefreshToken != sess.RefreshToken)
		}
		// The next refresh presents the rotated token, and ImageHost agrees.
		expire()
		if _, err := keeper.forSession(sess.ID).AccessToken(context.Background()); err != nil {
			t.Fatalf("the next refresh: %v", err)
		}
		if resp, _ := u.get(a.URL + "/photos"); resp.Request.URL.Path != "/photos" {
			t.Fatalf("after the browser left mid-refresh, /photos went to %s", resp.Request.URL)
		}
	})
}
