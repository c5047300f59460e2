package main

import (
	"encoding/json"
	"net/url"
	"testing"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// introspectAs asks /introspect about token with a client's credentials.
func introspectAs(t *testing.T, ts *testServer, id, secret, token string) map[string]any {
	t.Helper()
	resp := postBasic(t, ts.URL+"/introspect", id, secret, url.Values{"token": {token}})
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspection as %s: %s %v", id, resp.Status, err)
	}
	return out
}

// TestIntrospectionTellsOnlyItsOwnTokens: an app registered in the
// developer console asks about other clients' tokens, as the review's
// attacker did with photo-sync's. It learns nothing; a client learns about
// its own tokens, and a resource server, which only the operator can make
// one, about all (RFC 7662 §4).
func TestIntrospectionTellsOnlyItsOwnTokens(t *testing.T) {
	ts := newTestServer(t)
	robotToken := mintRobotToken(t, ts)
	alice := aliceTokens(t, ts, "openid offline_access photos.read")

	// Bob registers an app in the console, asking to be a resource server
	// in every way a form can.
	b := ts.browser()
	loginForm(t, b, "bob", "builder").Body.Close()
	form := formValues(t, body(t, b.get("/developer")))
	form.Set("name", "Curious App")
	form.Set("redirect_uris", "http://localhost:3000/cb")
	form.Set("resource_server", "true")
	page := body(t, b.post("/developer/clients", form))
	id, secret := newClientIDRE.FindStringSubmatch(page), newSecretRE.FindStringSubmatch(page)
	if id == nil || secret == nil {
		t.Fatalf("console registration failed:\n%s", page)
	}
	// And an app registered by RFC 7591, with the same wish.
	status, reg, _ := register(t, ts, iat, `{"redirect_uris":["https://app.example/cb"],"resource_server":true}`)
	if status != 201 {
		t.Fatalf("registration: %d %v", status, reg)
	}
	regID, regSecret := reg["client_id"].(string), reg["client_secret"].(string)

	inactive := func(out map[string]any) bool { return out["active"] == false && len(out) == 1 }
	tests := []struct {
		name, id, secret, token string
		active                  bool
	}{
		{"console app asks about the machine client's token", id[1], secret[1], robotToken, false},
		{"console app asks about another app's access token", id[1], secret[1], alice.access, false},
		{"console app asks about another app's refresh token", id[1], secret[1], alice.refresh, false},
		{"registered app asks about the machine client's token", regID, regSecret, robotToken, false},
		{"registered app asks about another app's access token", regID, regSecret, alice.access, false},
		{"the app asks about the machine client's token", appID, appSecret, robotToken, false},
		{"the machine client asks about its own token", m2mID, m2mSecret, robotToken, true},
		{"the app asks about its own access token", appID, appSecret, alice.access, true},
		{"the app asks about its own refresh token", appID, appSecret, alice.refresh, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := introspectAs(t, ts, tc.id, tc.secret, tc.token)
			if tc.active && out["active"] != true {
				t.Fatalf("introspection = %v, want active", out)
			}
			if !tc.active && !inactive(out) {
				t.Fatalf("introspection = %v, want only {\"active\":false}", out)
			}
		})
	}

	// The operator makes the machine client a resource server: it may now
	// see who is behind the app's access token, but still not the app's
	// refresh token, and the flag goes as it came.
	cli := env("IMAGEHOST_DATA_DIR", ts.dataDir)
	if out, err := runCmd(t, cli, "", "clients", "set-resource-server", "-id", m2mID); err != nil {
		t.Fatalf("set-resource-server: %v %s", err, out)
	}
	if out := introspectAs(t, ts, m2mID, m2mSecret, alice.access); out["active"] != true || out["sub"] != "sub-alice" {
		t.Fatalf("a resource server asks about an app's token: %v", out)
	}
	if out := introspectAs(t, ts, m2mID, m2mSecret, alice.refresh); !inactive(out) {
		t.Fatalf("a resource server sees an app's refresh token: %v", out)
	}
	if out, err := runCmd(t, cli, "", "clients", "set-resource-server", "-id", m2mID, "-off"); err != nil {
		t.Fatalf("set-resource-server -off: %v %s", err, out)
	}
	if out := introspectAs(t, ts, m2mID, m2mSecret, alice.access); !inactive(out) {
		t.Fatalf("after -off: %v", out)
	}
}

// TestPhotosAPIClientIsResourceServer: the photos API introspects every
// app's tokens, so its client is a resource server, also when it was
// created before the flag existed.
func TestPhotosAPIClientIsResourceServer(t *testing.T) {
	ts := newTestServer(t)
	ctx := t.Context()
	if err := ts.store.CreateClient(ctx, store.Client{ID: apiClientID, SecretHash: oauth.HashToken("old"), Name: "ImageHost Photos API",
		GrantTypes: []string{}, CreatedAt: ts.clock.now()}); err != nil {
		t.Fatal(err)
	}
	cfg := ts.cfg
	cfg.APITokenCheck = "introspect"
	if _, err := newAPITokenVerifier(ctx, cfg, ts.store, ts.keys, ts.revoked, ts.clock.now); err != nil {
		t.Fatal(err)
	}
	if c, err := ts.store.ClientByID(ctx, apiClientID); err != nil || !c.ResourceServer {
		t.Fatalf("the photos API's client after start: %+v %v, want a resource server", c, err)
	}
}
