package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
)

// TestGrantsEndWithTheirSession: an app the user let in without
// offline_access may act for them only while they are signed in. However
// the login session ends (signed out, replaced by a new sign-in in the same
// browser, expired and swept), the grants made in it end too and their
// tokens stop at the API; a grant with offline_access stays.
func TestGrantsEndWithTheirSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, ts *testServer, b *browser)
	}{
		{"signed out", func(t *testing.T, ts *testServer, b *browser) {
			signOut(t, b)
		}},
		{"replaced by a new sign-in", func(t *testing.T, ts *testServer, b *browser) {
			// An app asks for a fresh login (prompt=login): the browser
			// signs in again, and its old session ends.
			id := pendingAt(t, ts, b, "/login", ts.authURL(appID, appRedirect, "openid", "s",
				oauth.S256Challenge(oauth2.GenerateVerifier()), "prompt", "login"))
			if loc := location(t, loginAt(t, b, "/login?request="+url.QueryEscape(id), "alice", "wonderland")); !loc.Query().Has("code") {
				t.Fatalf("the second sign-in went to %s", loc)
			}
		}},
		{"expired and swept", func(t *testing.T, ts *testServer, b *browser) {
			ts.clock.advance(ts.cfg.SessionTTL + time.Second)
			if err := ts.store.DeleteExpired(context.Background(), ts.clock.now()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.SessionTTL = 2 * time.Minute })
			b := ts.browser()
			online := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read")
			offline := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "photos.read", "offline_access")
			onlineTok, _ := online.login(t, b, "alice", "wonderland")
			offlineTok, _ := offline.login(t, b, "alice", "wonderland") // the same session: consent was given
			for name, tok := range map[string]string{"online": onlineTok.AccessToken, "offline": offlineTok.AccessToken} {
				if status := apiStatus(t, ts, tok); status != http.StatusOK {
					t.Fatalf("the %s grant's token before the session ended: %d", name, status)
				}
			}

			tc.end(t, ts, b)
			if err := ts.revoked.Sync(context.Background()); err != nil { // what another process would poll
				t.Fatal(err)
			}
			if status := apiStatus(t, ts, onlineTok.AccessToken); status != http.StatusUnauthorized {
				t.Fatalf("the token of a grant without offline_access after its session ended: %d, want 401", status)
			}
			if status := apiStatus(t, ts, offlineTok.AccessToken); status != http.StatusOK {
				t.Fatalf("the token of a grant with offline_access after its session ended: %d, want 200", status)
			}
			if rt := refreshWith(t, ts, offlineTok.RefreshToken); rt.StatusCode != http.StatusOK {
				t.Fatalf("refreshing the offline_access grant: %s", rt.Status)
			}
		})
	}
}
