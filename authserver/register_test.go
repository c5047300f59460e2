package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func register(t *testing.T, ts *testServer, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+"/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

func TestRegistrationErrors(t *testing.T) {
	ts := newTestServer(t)
	ok := `{"redirect_uris":["https://app.example/cb"]}`
	tests := []struct {
		name, token, body string
		status            int
		err               string
	}{
		{"no initial access token", "", ok, 401, ""},
		{"wrong initial access token", "guess", ok, 401, "invalid_token"},
		{"not JSON", iat, "redirect_uris=x", 400, "invalid_client_metadata"},
		{"no redirect URIs", iat, `{}`, 400, "invalid_redirect_uri"},
		{"http on a public host", iat, `{"redirect_uris":["http://app.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"fragment", iat, `{"redirect_uris":["https://app.example/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"relative", iat, `{"redirect_uris":["/cb"]}`, 400, "invalid_redirect_uri"},
		{"javascript scheme", iat, `{"redirect_uris":["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"implicit grant", iat, `{"redirect_uris":["https://app.example/cb"],"grant_types":["implicit"]}`, 400, "invalid_client_metadata"},
		{"token response type", iat, `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"unknown scope", iat, `{"redirect_uris":["https://app.example/cb"],"scope":"admin"}`, 400, "invalid_client_metadata"},
		{"public client credentials", iat, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, 400, "invalid_client_metadata"},
		// A URI is visible ASCII (RFC 3986 §2.5); url.Parse would take
		// these, and PostgreSQL's text cannot hold a NUL.
		{"redirect URI beyond ASCII", iat, `{"redirect_uris":["https://app.example/caf\u00e9"]}`, 400, "invalid_redirect_uri"},
		{"redirect URI with a space", iat, `{"redirect_uris":["https://app.example/a b"]}`, 400, "invalid_redirect_uri"},
		{"post-logout URI beyond ASCII", iat, `{"redirect_uris":["https://app.example/cb"],"post_logout_redirect_uris":["https://app.example/\ufffd"]}`, 400, "invalid_client_metadata"},
		{"back-channel URI with a NUL", iat, bcMetadata(`https://app.example/bc?\u0000`), 400, "invalid_client_metadata"},
		{"back-channel URI beyond ASCII", iat, bcMetadata(`https://app.example/b\u00e9`), 400, "invalid_client_metadata"},
		{"redirect URIs of the wrong type", iat, `{"redirect_uris":"https://app.example/cb"}`, 400, "invalid_client_metadata"},
		// ImageHost itself posts to the back-channel logout URI: no
		// private, link-local or metadata address, however written.
		{"back-channel URI on a private address", iat, bcMetadata("https://10.0.0.1/backchannel-logout"), 400, "invalid_client_metadata"},
		{"back-channel URI on a LAN over http", iat, bcMetadata("http://192.168.1.23:3000/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI at the metadata service", iat, bcMetadata("https://169.254.169.254/latest/meta-data/"), 400, "invalid_client_metadata"},
		{"back-channel URI, IPv4-mapped private address", iat, bcMetadata("https://[::ffff:172.16.0.1]/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI, link-local IPv6", iat, bcMetadata("https://[fe80::1]/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI, an address as a number", iat, bcMetadata("https://167772161/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI, 0.0.0.0", iat, bcMetadata("https://0.0.0.0:8080/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI with a private-use scheme", iat, bcMetadata("com.example.app:/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI over http on a public host", iat, bcMetadata("http://app.example/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI on the SMTP port", iat, bcMetadata("https://app.example:25/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI on a port browsers refuse", iat, bcMetadata("https://app.example:6667/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI, SIIT of the metadata address", iat, bcMetadata("https://[::ffff:0:a9fe:a9fe]/bc"), 400, "invalid_client_metadata"},
		{"back-channel URI, site-local IPv6", iat, bcMetadata("https://[fec0::1]/bc"), 400, "invalid_client_metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out, h := register(t, ts, tc.token, tc.body)
			if status != tc.status || (tc.err != "" && out["error"] != tc.err) {
				t.Fatalf("got %d %v, want %d %q", status, out, tc.status, tc.err)
			}
			if status == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge")
			}
		})
	}
}

// bcMetadata is client metadata with a back-channel logout URI.
func bcMetadata(uri string) string {
	return `{"redirect_uris":["https://app.example/cb"],"backchannel_logout_uri":"` + uri + `"}`
}

// TestRegisterBackchannelURI: the demo's loopback back-channel URI and a
// public https one are fine while ImageHost itself runs on loopback.
func TestRegisterBackchannelURI(t *testing.T) {
	ts := newTestServer(t)
	for _, uri := range []string{"http://localhost:8080/backchannel-logout", "http://127.0.0.1:8080/bc", "https://app.example/bc"} {
		if status, out, _ := register(t, ts, iat, bcMetadata(uri)); status != 201 {
			t.Fatalf("%s: %d %v", uri, status, out)
		}
	}
}

func TestRegisterPublicClient(t *testing.T) {
	ts := newTestServer(t)
	status, out, _ := register(t, ts, iat, `{"client_name":"CLI","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none"}`)
	if status != 201 || out["client_secret"] != nil || out["token_endpoint_auth_method"] != "none" || out["client_name"] != "CLI" {
		t.Fatalf("public registration: %d %v", status, out)
	}
}

func TestRegistrationOffWithoutInitialAccessToken(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.InitialAccessToken = "" })
	status, _, _ := register(t, ts, "anything", `{"redirect_uris":["https://app.example/cb"]}`)
	if status != http.StatusNotFound {
		t.Fatalf("registration without a configured token: %d, want 404", status)
	}
	var md map[string]any
	getJSON(t, http.DefaultClient, ts.URL+"/.well-known/openid-configuration", &md)
	if _, ok := md["registration_endpoint"]; ok {
		t.Fatal("discovery advertises a registration endpoint that is off")
	}
}

// registerAt posts metadata to /register and returns the status; unlike
// register it may run in any goroutine.
func registerAt(ts *testServer, metadata string) (int, error) {
	req, _ := http.NewRequest("POST", ts.URL+"/register", strings.NewReader(metadata))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+iat)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestRegistrationCapUnderBurst: whoever holds the initial access token
// registers as fast as they can, all at once, as the review's attacker
// did to multiply their photo quota. No more clients than the cap are
// registered; the rest are refused with access_denied.
func TestRegistrationCapUnderBurst(t *testing.T) {
	const capacity, burst = 5, 24
	ts := newTestServer(t, func(c *Config) { c.MaxRegisteredClients = capacity })
	statuses := make(chan int, burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() {
			<-start
			status, err := registerAt(ts, fmt.Sprintf(`{"client_name":"bot %d","grant_types":["client_credentials"],"scope":"photos.write"}`, i))
			if err != nil {
				t.Error(err)
			}
			statuses <- status
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusForbidden:
		default:
			t.Fatalf("a registration answered %d", s)
		}
	}
	clients, _ := ts.store.ListClients(context.Background())
	registered := 0
	for _, c := range clients {
		if strings.HasPrefix(c.Registrant, "iat:") {
			registered++
		}
	}
	if created != capacity || registered != capacity {
		t.Fatalf("%d registrations succeeded and %d registered clients are stored, want %d and %d", created, registered, capacity, capacity)
	}
	if status, out, _ := register(t, ts, iat, `{"redirect_uris":["https://app.example/cb"]}`); status != http.StatusForbidden || out["error"] != "access_denied" {
		t.Fatalf("registration past the cap: %d %v", status, out)
	}
}

// TestClientCapInAll: registration and the developer console share one
// bound on how many clients there are; past it, both refuse.
func TestClientCapInAll(t *testing.T) {
	ts := newTestServer(t)
	clients, _ := ts.store.ListClients(context.Background())
	ts = newTestServer(t, func(c *Config) { c.MaxClients = len(clients) + 2 }) // the seeded clients, and two more
	if status, out, _ := register(t, ts, iat, `{"redirect_uris":["https://app.example/cb"]}`); status != http.StatusCreated {
		t.Fatalf("the first registration: %d %v", status, out)
	}
	alice := ts.browser()
	loginForm(t, alice, "alice", "wonderland").Body.Close()
	create := func() *http.Response {
		form := formValues(t, body(t, alice.get("/developer")))
		form.Set("name", "Attendee App")
		form.Set("redirect_uris", "http://localhost:3000/cb")
		return alice.post("/developer/clients", form)
	}
	if resp := create(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the console's first app: %d", resp.StatusCode)
	}
	if status, out, _ := register(t, ts, iat, `{"redirect_uris":["https://app.example/cb"]}`); status != http.StatusForbidden {
		t.Fatalf("a registration past the bound on all clients: %d %v", status, out)
	}
	resp := create()
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "as many apps as it can") {
		t.Fatalf("the console past the bound on all clients: %d\n%s", resp.StatusCode, page)
	}
}

// TestRegisteredClientExpires: a client registered at /register lives for
// the configured time. Then housekeeping deletes it as the operator would:
// it no longer authenticates, its access tokens stop opening the photos
// API, and the photos it uploaded for itself are gone.
func TestRegisteredClientExpires(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RegisteredClientTTL = 24 * time.Hour })
	status, out, _ := register(t, ts, iat, `{"client_name":"bot","grant_types":["client_credentials"],"scope":"photos.read photos.write"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	id, secret := out["client_id"].(string), out["client_secret"].(string)
	if issued, expires := out["client_id_issued_at"].(float64), out["client_secret_expires_at"].(float64); expires-issued != 24*3600 {
		t.Fatalf("client_secret_expires_at is %v s after client_id_issued_at, want the client's lifetime, 24h", expires-issued)
	}
	clientToken := func() *http.Response {
		return postBasic(t, ts.URL+"/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	resp := clientToken()
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("client credentials: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	if resp := upload(t, bearerClient(tok.AccessToken), ts.URL+"/api/photos", "dot.png", pngBytes(t), "mine"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", resp.Status)
	}

	housekeeping := func() {
		if err := ts.store.DeleteExpired(context.Background(), ts.clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	ts.clock.advance(23 * time.Hour)
	housekeeping()
	if status, _, _ := tokenError(t, clientToken()); status != http.StatusOK {
		t.Fatalf("before its expiry the client gets %d at the token endpoint", status)
	}
	ts.clock.advance(time.Hour + time.Second)
	housekeeping()
	if status, errCode, _ := tokenError(t, clientToken()); status != http.StatusUnauthorized || errCode != "invalid_client" {
		t.Fatalf("after its expiry the client gets %d %s at the token endpoint", status, errCode)
	}
	refusedWithin(t, ts, tok.AccessToken, time.Second)
	if n, err := ts.store.CountPhotos(context.Background(), id); err != nil || n != 0 {
		t.Fatalf("the expired client's photos: %d kept (%v)", n, err)
	}
}

// TestRemovedClientTakesItsPhotos: the operator removes a machine client;
// what it uploaded for itself goes with it, its owner's quota no longer
// holding anyone's disk.
func TestRemovedClientTakesItsPhotos(t *testing.T) {
	ts := newTestServer(t)
	robot := bearerClient(mintRobotToken(t, ts))
	for range 3 {
		if resp := upload(t, robot, ts.URL+"/api/photos", "dot.png", pngBytes(t), "robot's"); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %s", resp.Status)
		}
	}
	if out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", ts.dataDir), "", "clients", "remove", "-id", m2mID); err != nil {
		t.Fatalf("clients remove: %v\n%s", err, out)
	}
	if n, err := ts.store.CountPhotos(context.Background(), m2mID); err != nil || n != 0 {
		t.Fatalf("the removed client's photos: %d kept (%v)", n, err)
	}
}
