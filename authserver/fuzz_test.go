package main

// Fuzz tests for everything that parses what a stranger sends: the
// authorization request, token request (with Basic credentials), client
// registration JSON and photo uploads. Whatever comes in, the answer is a
// 2xx, 3xx or 4xx, never a 5xx or a crash.
//
//	go test ./authserver -run '^$' -fuzz FuzzTokenRequest -fuzztime 1m

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzHandler is a fresh test server's handler, for in-process calls.
func fuzzHandler(f *testing.F) http.Handler {
	return serverHandler(f, newTestServer(f))
}

// serverHandler builds ts's handler again, for in-process calls that skip
// the network: fuzzing makes many thousands of requests.
func serverHandler(f *testing.F, ts *testServer) http.Handler {
	apiTokens, err := newAPITokenVerifier(f.Context(), ts.cfg, ts.store, ts.keys, ts.revoked, ts.clock.now)
	if err != nil {
		f.Fatal(err)
	}
	return newServer(ts.cfg, ts.store, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, discardLogger())
}

func serveFuzz(t *testing.T, h http.Handler, req *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d\n%s", req.Method, req.URL, rec.Code, rec.Body.String())
	}
}

func FuzzAuthorizeRequest(f *testing.F) {
	h := fuzzHandler(f)
	for _, seed := range []string{
		"response_type=code&client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"response_type=token&client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback",
		"client_id=app&client_id=spa", "scope=%ff%fe", "max_age=99999999999999999999&prompt=none+login",
		"client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback&scope=openid&response_type=code&nonce=" + strings.Repeat("n", 600),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/authorize", nil)
		req.URL.RawQuery = query
		serveFuzz(t, h, req)
	})
}

func FuzzTokenRequest(f *testing.F) {
	h := fuzzHandler(f)
	basic := base64.StdEncoding.EncodeToString([]byte(m2mID + ":" + m2mSecret))
	f.Add("grant_type=client_credentials&scope=photos.read", "Basic "+basic)
	f.Add("grant_type=authorization_code&code=x&redirect_uri=y&code_verifier=z", "Basic "+basic)
	f.Add("grant_type=refresh_token&refresh_token=abc&client_id=spa", "")
	f.Add("grant_type=password&username=alice&password=wonderland", "Basic Ym9ndXM=")
	f.Add("grant_type=client_credentials", "Basic "+base64.StdEncoding.EncodeToString([]byte("%zz:%zz")))
	f.Add("grant_type=client_credentials&grant_type=x", "Bearer abc")
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=x&client_id=spa", "")
	f.Fuzz(func(t *testing.T, form, authorization string) {
		req := httptest.NewRequest("POST", "/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		serveFuzz(t, h, req)
	})
}

func FuzzRegistration(f *testing.F) {
	h := fuzzHandler(f)
	f.Add(`{"redirect_uris":["https://app.example/cb"],"client_name":"x"}`)
	f.Add(`{"redirect_uris":[1,2],"grant_types":null}`)
	f.Add(`{"redirect_uris":["http://[::1]:80/cb"],"token_endpoint_auth_method":"none","scope":"openid openid"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+iat)
		serveFuzz(t, h, req)
	})
}

func FuzzUpload(f *testing.F) {
	ts := newTestServer(f)
	h := serverHandler(f, ts)
	token := mintRobotToken(f, ts)
	f.Add([]byte("\x89PNG\r\n\x1a\n"), "image.png", "title")
	f.Add([]byte("GIF89a\x01\x00\x01\x00"), "a.gif", "")
	f.Add([]byte("\xff\xd8\xff\xe0"), "a.jpg", strings.Repeat("t", 300))
	f.Fuzz(func(t *testing.T, data []byte, filename, title string) {
		var buf bytes.Buffer
		ct := newMultipart(&buf, "file", filename, data)
		req := httptest.NewRequest("POST", "/api/photos", &buf)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		if title != "" {
			req.URL.RawQuery = "title=" + title
		}
		serveFuzz(t, h, req)
	})
}
