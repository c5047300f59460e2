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
