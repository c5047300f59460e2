package main

// Revocation must reach the photos API: whichever way access ends, a token
// that was valid stops opening the API within a second, whether the API
// checks tokens itself (jwt) or asks /introspect.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// issued is what a test app holds after a login: its tokens, and what it
// would need to replay the code.
type issued struct {
	access, refresh string
	code, verifier  string
	browser         *browser // alice's, signed in at ImageHost
	clientID        string
}

// aliceTokens runs the code flow for the test app as alice with scope.
func aliceTokens(t *testing.T, ts *testServer, scope string) issued {
	t.Helper()
	b := ts.browser()
	code, verifier := ts.codeFor(t, b, scope)
	resp := redeem(t, ts, code, verifier)
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("redeem: %s %v", resp.Status, err)
	}
	return issued{access: out.AccessToken, refresh: out.RefreshToken, code: code, verifier: verifier, browser: b, clientID: appID}
}

// consoleAppTokens registers an app in the developer console as alice and
// signs in to it as alice.
func consoleAppTokens(t *testing.T, ts *testServer) issued {
	t.Helper()
	b := ts.browser()
	loginForm(t, b, "alice", "wonderland").Body.Close()
	form := formValues(t, body(t, b.get("/developer")))
	form.Set("name", "Attendee App")
	form.Set("redirect_uris", "http://localhost:3000/cb")
	page := body(t, b.post("/developer/clients", form))
	id, secret := newClientIDRE.FindStringSubmatch(page), newSecretRE.FindStringSubmatch(page)
	if id == nil || secret == nil {
		t.Fatalf("console registration failed:\n%s", page)
	}
	tok, _ := newStandardClient(t, ts, id[1], secret[1], "http://localhost:3000/cb", "openid", "photos.read").login(t, b, "alice", "wonderland")
	return issued{access: tok.AccessToken, browser: b, clientID: id[1]}
}

// apiStatus calls GET /api/photos with token.
func apiStatus(t *testing.T, ts *testServer, token string) int {
	t.Helper()
	resp := apiCall(t, "GET", ts.URL+"/api/photos", token)
	resp.Body.Close()
	return resp.StatusCode
}

// refusedWithin polls the photos API until it refuses token with
// invalid_token, and fails the test if that takes longer than limit.
func refusedWithin(t *testing.T, ts *testServer, token string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp := apiCall(t, "GET", ts.URL+"/api/photos", token)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the photos API still answers %s to the token %v after the revocation", resp.Status, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRevocationReachesPhotosAPI(t *testing.T) {
	const withRefresh, online = "openid offline_access photos.read", "openid photos.read"
	tests := []struct {
		name string
		// issue returns the token to revoke.
		issue  func(t *testing.T, ts *testServer) issued
		revoke func(t *testing.T, ts *testServer, tok issued)
		// bystander is a token revoking must not touch: "bob" (another
		// user's grant of the test app) or "robot" (another client).
		bystander string
	}{
		{"account page: Revoke access",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				form := formValues(t, body(t, tok.browser.get("/account")))
				form.Set("client_id", appID)
				location(t, tok.browser.post("/account/revoke", form))
			}, "bob"},
		{"RFC 7009: the grant's refresh token revoked",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				postBasic(t, ts.URL+"/revoke", appID, appSecret, url.Values{"token": {tok.refresh}}).Body.Close()
			}, "bob"},
		{"refresh token reused",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				refreshToken(t, refreshWith(t, ts, tok.refresh))
				tokenError(t, refreshWith(t, ts, tok.refresh))
			}, "bob"},
		{"authorization code replayed",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) { tokenError(t, redeem(t, ts, tok.code, tok.verifier)) }, "bob"},
		{"sign-out at ImageHost ends a grant without offline_access",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, online) },
			func(t *testing.T, ts *testServer, tok issued) {
				form := formValues(t, body(t, tok.browser.get("/logout")))
				if page := body(t, tok.browser.post("/logout", form)); !strings.Contains(page, "You are signed out") {
					t.Fatal("sign-out failed")
				}
			}, "bob"},
		{"RFC 7009 §2.2: the access token itself revoked",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				postBasic(t, ts.URL+"/revoke", appID, appSecret, url.Values{"token": {tok.access}}).Body.Close()
			}, "bob"},
		{"client credentials token revoked at /revoke",
			func(t *testing.T, ts *testServer) issued {
				return issued{access: mintRobotToken(t, ts), clientID: m2mID}
			},
			func(t *testing.T, ts *testServer, tok issued) {
				postBasic(t, ts.URL+"/revoke", m2mID, m2mSecret, url.Values{"token": {tok.access}}).Body.Close()
			}, "bob"},
		{"user deleted with the operator's command line",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				if out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", ts.dataDir), "", "users", "remove", "-username", "alice"); err != nil {
					t.Fatalf("users remove: %v\n%s", err, out)
				}
			}, "bob"},
		{"client deleted with the operator's command line",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				if out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", ts.dataDir), "", "clients", "remove", "-id", appID); err != nil {
					t.Fatalf("clients remove: %v\n%s", err, out)
				}
			}, "robot"},
		{"machine client deleted with the operator's command line",
			func(t *testing.T, ts *testServer) issued {
				return issued{access: mintRobotToken(t, ts), clientID: m2mID}
			},
			func(t *testing.T, ts *testServer, tok issued) {
				if out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", ts.dataDir), "", "clients", "remove", "-id", m2mID); err != nil {
					t.Fatalf("clients remove: %v\n%s", err, out)
				}
			}, "bob"},
		{"user disabled with the operator's command line",
			func(t *testing.T, ts *testServer) issued { return aliceTokens(t, ts, withRefresh) },
			func(t *testing.T, ts *testServer, tok issued) {
				if out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", ts.dataDir), "", "users", "disable", "-username", "alice"); err != nil {
					t.Fatalf("users disable: %v\n%s", err, out)
				}
			}, "bob"},
		{"attendee disabled by the teacher at /class/attendees",
			func(t *testing.T, ts *testServer) issued {
				// ann joins with the code, the store's way, and signs in to
				// the test app.
				ctx := context.Background()
				if err := ts.store.SetJoinCode(ctx, store.JoinCode{Hash: hashJoinCode(testJoinCode), SetAt: ts.clock.now()}); err != nil {
					t.Fatal(err)
				}
				for _, u := range []store.User{
					{ID: "sub-ann", Username: "ann", PasswordHash: password.Hash("ann-password"), JoinedAt: ts.clock.now()},
					{ID: "sub-teacher", Username: "teacher", PasswordHash: password.Hash("blackboard"), Admin: true},
				} {
					if err := ts.store.JoinUser(ctx, u, hashJoinCode(testJoinCode), 10); err != nil {
						t.Fatal(err)
					}
				}
				return issued{access: ts.userToken(t, "ann", "ann-password", "photos.read").AccessToken}
			},
			func(t *testing.T, ts *testServer, tok issued) {
				teacher := ts.teacher(t)
				form := formValues(t, body(t, teacher.get("/class/attendees")))
				if resp := teacher.post("/class/attendees/sub-ann/disable", form); resp.StatusCode != http.StatusOK {
					t.Fatalf("disable: %d", resp.StatusCode)
				}
			}, "bob"},
		{"client deleted in the developer console",
			consoleAppTokens,
			func(t *testing.T, ts *testServer, tok issued) {
				form := formValues(t, body(t, tok.browser.get("/developer")))
				if loc := location(t, tok.browser.post("/developer/clients/"+tok.clientID+"/delete", form)); loc.Path != "/developer" {
					t.Fatalf("delete went to %s", loc)
				}
			}, "bob"},
	}
	for _, mode := range []string{"jwt", "introspect"} {
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				ts := newTestServer(t, func(c *Config) { c.APITokenCheck = mode })
				tok := tc.issue(t, ts)
				bystander := mintRobotToken(t, ts)
				if tc.bystander == "bob" {
					bystander = ts.userToken(t, "bob", "builder", "photos.read").AccessToken
				}
				if s := apiStatus(t, ts, tok.access); s != http.StatusOK {
					t.Fatalf("before the revocation the API answers %d", s)
				}
				tc.revoke(t, ts, tok)
				refusedWithin(t, ts, tok.access, time.Second)
				if s := apiStatus(t, ts, bystander); s != http.StatusOK {
					t.Fatalf("an unrelated token (%s) is refused too: %d", tc.bystander, s)
				}
			})
		}
	}
}

// TestSignOutKeepsOfflineGrants: offline_access is the user's leave to use
// the photos while they are away, so signing out of ImageHost leaves such a
// grant alone; the app was told by back-channel logout and decides.
func TestSignOutKeepsOfflineGrants(t *testing.T) {
	ts := newTestServer(t)
	tok := aliceTokens(t, ts, "openid offline_access photos.read")
	form := formValues(t, body(t, tok.browser.get("/logout")))
	tok.browser.post("/logout", form).Body.Close()
	if s := apiStatus(t, ts, tok.access); s != http.StatusOK {
		t.Fatalf("an offline_access grant's token after sign-out: %d, want 200", s)
	}
	refreshToken(t, refreshWith(t, ts, tok.refresh))
}

// TestAccessTokenLifetimeCapped: a client cannot choose a lifetime that
// would outlast the photos API's memory of revocations (the server's
// IMAGEHOST_MAX_ACCESS_TOKEN_TTL, 1h by default), and the API refuses a
// token that claims to live longer.
func TestAccessTokenLifetimeCapped(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()

	// The developer console refuses a day.
	b := ts.browser()
	loginForm(t, b, "alice", "wonderland").Body.Close()
	form := formValues(t, body(t, b.get("/developer")))
	form.Set("name", "Long-lived")
	form.Set("redirect_uris", "http://localhost:3000/cb")
	form.Set("access_token_ttl", "86400")
	resp := b.post("/developer/clients", form)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "from 5 to 3600") {
		t.Fatalf("a 24 h lifetime in the console: %d, want 400 naming the cap", resp.StatusCode)
	}

	// A client stored with a day (by the command line, or before the cap)
	// gets tokens of the cap.
	long := store.Client{ID: "long", SecretHash: oauth.HashToken(m2mSecret), Name: "Long", GrantTypes: []string{"client_credentials"},
		Scope: "photos.read", AccessTokenTTL: 24 * time.Hour, CreatedAt: ts.clock.now()}
	if err := ts.store.CreateClient(ctx, long); err != nil {
		t.Fatal(err)
	}
	resp = postBasic(t, ts.URL+"/token", "long", m2mSecret, url.Values{"grant_type": {"client_credentials"}})
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	claims, e := parseTestAccessToken(ts, out.AccessToken)
	// expires_in counts from when the response is written: on a busy
	// machine that can be a second after the token was minted.
	if e != nil || out.ExpiresIn < 3590 || out.ExpiresIn > 3600 || claims.Expiry.Time().Sub(claims.IssuedAt.Time()) != time.Hour {
		t.Fatalf("token of a client stored with 24 h: expires_in %d, claims %+v, %v; want an hour", out.ExpiresIn, claims, e)
	}

	// A token signed by ImageHost's key that claims two hours is refused.
	now := ts.clock.now()
	claims.ID, claims.IssuedAt, claims.Expiry = "long-lived", jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(2*time.Hour))
	forged, err := ts.keys.Sign(signing.ES256, oauth.TypeAccessToken, claims)
	if err != nil {
		t.Fatal(err)
	}
	if s := apiStatus(t, ts, forged); s != http.StatusUnauthorized {
		t.Fatalf("a token living two hours: %d, want 401", s)
	}
}
