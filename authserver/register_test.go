package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
