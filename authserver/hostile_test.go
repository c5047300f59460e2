package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestHostileInput sends every endpoint that takes input the things
// attackers send: a 10 MB body, invalid UTF-8, repeated parameters and
// SQL-looking values. Each gets a 4xx, and the server goes on serving.
func TestHostileInput(t *testing.T) {
	ts := newTestServer(t)
	robot := mintRobotToken(t, ts)
	huge := strings.Repeat("a", 10<<20)
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		method, path, contentType, body string
		auth                            bool
	}{
		{"POST", "/token", form, "grant_type=client_credentials&x=" + huge, true},
		{"POST", "/token", form, "grant_type=client_credentials&scope=\xff\xfe", true},
		{"POST", "/token", form, "grant_type=client_credentials&scope=photos.read&scope=photos.write", true},
		{"POST", "/token", form, "grant_type=authorization_code&code=' OR '1'='1&redirect_uri=x", false},
		{"POST", "/introspect", form, "token=" + huge, true},
		{"POST", "/introspect", form, "token=a&token=b", true},
		{"POST", "/revoke", form, "token=%ff%00", true},
		{"POST", "/revoke", form, "token=" + huge, true},
		{"POST", "/register", "application/json", `{"redirect_uris":["` + huge + `"]}`, false},
		{"POST", "/register", "application/json", "{\"client_name\":\"\xff\"}", false},
		{"POST", "/login", form, "username=alice'--&password=x&csrf_token=x", false},
		{"POST", "/login", form, "username=" + huge, false},
		{"POST", "/consent", form, "request=x&request=y", false},
		{"GET", "/authorize?client_id=app%27%20OR%201=1--&response_type=code", "", "", false},
		{"GET", "/authorize?client_id=%ff&redirect_uri=%ff", "", "", false},
		{"POST", "/api/photos", "multipart/form-data; boundary=x", huge, false},
		{"GET", "/api/photos/%27%20OR%201=1--", "", "", false},
		{"POST", "/userinfo", form, "access_token=" + huge, false},
	}
	for _, tc := range tests {
		name := tc.method + " " + tc.path
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, bytes.NewReader([]byte(tc.body)))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.auth {
				req.SetBasicAuth(m2mID, m2mSecret)
			}
			if strings.HasPrefix(tc.path, "/api/") {
				req.Header.Set("Authorization", "Bearer "+robot)
			}
			if tc.path == "/register" {
				req.Header.Set("Authorization", "Bearer "+iat)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.StatusCode == 401 && strings.HasPrefix(tc.path, "/api/") {
				t.Fatalf("status %d, want a 4xx from the handler itself", resp.StatusCode)
			}
		})
	}
	// Still serving.
	if tok := mintRobotToken(t, ts); tok == "" {
		t.Fatal("no token after the hostile requests")
	}
}
