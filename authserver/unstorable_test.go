package main

// Text that PostgreSQL's text type cannot hold, a NUL byte or bytes that
// are not UTF-8, sent wherever an outside string reaches a query. SQLite
// would store and compare it; PostgreSQL refuses the query. Either way the
// answer must be the one an unknown value gets, never a 500.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
	"oauthdemo/e2e/harness"
)

// unstorable are strings PostgreSQL refuses in a text value: bytes that
// are not UTF-8, and a NUL, which is UTF-8 but no text value may contain.
var unstorable = map[string]string{"invalid UTF-8": "\xff", "NUL": "a\x00b"}

// unstorableCase sends one request carrying bad where an outside string
// goes, and returns the answer.
type unstorableCase struct {
	name string
	send func(t *testing.T, ts *testServer, bad string) *http.Response
}

// answer is what a request got, without what differs from run to run:
// the status, an OAuth error code, where a redirect goes, and a page's
// alert.
func answer(t *testing.T, resp *http.Response) string {
	t.Helper()
	page := body(t, resp)
	out := resp.Status
	if loc := resp.Header.Get("Location"); loc != "" {
		u, _ := url.Parse(loc)
		out += " -> " + u.Path + " error=" + u.Query().Get("error")
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(page), &e) == nil && e.Error != "" {
		out += " " + e.Error
	}
	if _, msg, ok := strings.Cut(page, `role="alert">`); ok {
		msg, _, _ = strings.Cut(msg, "<")
		out += " alert: " + strings.TrimSpace(msg)
	}
	if _, h1, ok := strings.Cut(page, "<h1>"); ok {
		h1, _, _ = strings.Cut(h1, "<")
		out += " page: " + strings.TrimSpace(h1)
	}
	return out
}

// postBack posts form to path as client id with HTTP Basic, or with
// client_id in the body when secret is "".
func postBack(t *testing.T, ts *testServer, path, id, secret string, form url.Values) *http.Response {
	t.Helper()
	if secret == "" && id != "" {
		form.Set("client_id", id)
	}
	req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// bearer sends a request to the photos API with the robot's token.
func bearer(t *testing.T, ts *testServer, method, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+mintRobotToken(t, ts))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// signedInForm is a browser signed in as alice and the hidden fields of
// the page at path.
func signedInForm(t *testing.T, ts *testServer, path string) (*browser, url.Values) {
	t.Helper()
	b := signedInBrowser(t, ts, "alice", "wonderland")
	return b, harness.HiddenFields(body(t, b.get(path)))
}

// pkceVerifier is RFC 7636 Appendix B's code verifier.
const pkceVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

var pkceChallenge = oauth.S256Challenge(pkceVerifier)

var unstorableCases = []unstorableCase{
	{"authorize client_id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return ts.browser().get(ts.authURL(bad, appRedirect, "openid", "s", pkceChallenge))
	}},
	{"authorize state", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return ts.browser().get(ts.authURL(appID, appRedirect, "openid", bad, pkceChallenge))
	}},
	{"authorize nonce", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return ts.browser().get(ts.authURL(appID, appRedirect, "openid", "s", pkceChallenge, "nonce", bad))
	}},
	{"login page request", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return ts.browser().get("/login?request=" + url.QueryEscape(bad))
	}},
	{"login username", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return loginForm(t, ts.browser(), bad, "wonderland")
	}},
	{"login request", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b := ts.browser()
		form := formValues(t, body(t, b.get("/login")))
		form.Set("request", bad)
		form.Set("username", "alice")
		form.Set("password", "wonderland")
		return b.post("/login", form)
	}},
	{"consent page request", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b := signedInBrowser(t, ts, "alice", "wonderland")
		return b.get("/consent?request=" + url.QueryEscape(bad))
	}},
	{"consent request", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b, form := signedInForm(t, ts, "/account")
		form.Set("request", bad)
		form.Set("decision", "allow")
		return b.post("/consent", form)
	}},
	{"token code", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/token", appID, appSecret, url.Values{"grant_type": {"authorization_code"}, "code": {bad},
			"redirect_uri": {appRedirect}, "code_verifier": {pkceVerifier}})
	}},
	{"token refresh_token", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/token", appID, appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bad}})
	}},
	{"token device_code", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/token", cliID, "", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {bad}})
	}},
	{"token client_id (Basic)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/token", bad, "secret", url.Values{"grant_type": {"client_credentials"}})
	}},
	{"token client_id (Basic, URL-encoded)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/token", url.QueryEscape(bad), "secret", url.Values{"grant_type": {"client_credentials"}})
	}},
	{"token client_id (form)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/token", bad, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}})
	}},
	{"revoke token", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/revoke", appID, appSecret, url.Values{"token": {bad}})
	}},
	{"revoke client_id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/revoke", bad, "secret", url.Values{"token": {"x"}})
	}},
	{"introspect token", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/introspect", appID, appSecret, url.Values{"token": {bad}})
	}},
	{"introspect client_id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/introspect", bad, "secret", url.Values{"token": {"x"}})
	}},
	{"device_authorization client_id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/device_authorization", bad, "", url.Values{"scope": {"photos.read"}})
	}},
	{"device_authorization client_id (Basic)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postBack(t, ts, "/device_authorization", bad, "secret", url.Values{"scope": {"photos.read"}})
	}},
	{"device page user_code", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return signedInBrowser(t, ts, "alice", "wonderland").get("/device?user_code=" + url.QueryEscape(bad))
	}},
	{"device user_code", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b, form := signedInForm(t, ts, "/device")
		form.Set("user_code", bad)
		return b.post("/device", form)
	}},
	{"register metadata", func(t *testing.T, ts *testServer, bad string) *http.Response {
		// encoding/json writes bytes that are not UTF-8 as U+FFFD and a
		// NUL as \u0000, which decodes to a NUL again.
		doc, _ := json.Marshal(map[string]any{"client_name": bad, "redirect_uris": []string{"http://127.0.0.1/cb"},
			"token_endpoint_auth_method": "none"})
		return postJSON(t, ts, "/register", doc)
	}},
	{"register metadata (raw bytes)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		doc := []byte(`{"client_name":"` + bad + `","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
		return postJSON(t, ts, "/register", doc)
	}},
	{"register redirect_uris", func(t *testing.T, ts *testServer, bad string) *http.Response {
		doc, _ := json.Marshal(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb" + bad}, "token_endpoint_auth_method": "none"})
		return postJSON(t, ts, "/register", doc)
	}},
	{"register redirect_uris (raw bytes)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return postJSON(t, ts, "/register", []byte(`{"redirect_uris":["http://127.0.0.1/cb`+bad+`"],"token_endpoint_auth_method":"none"}`))
	}},
	{"register post_logout_redirect_uris", func(t *testing.T, ts *testServer, bad string) *http.Response {
		doc, _ := json.Marshal(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"},
			"post_logout_redirect_uris": []string{"http://127.0.0.1/bye" + bad}, "token_endpoint_auth_method": "none"})
		return postJSON(t, ts, "/register", doc)
	}},
	{"register backchannel_logout_uri", func(t *testing.T, ts *testServer, bad string) *http.Response {
		doc, _ := json.Marshal(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"},
			"backchannel_logout_uri": "http://127.0.0.1:8080/bc" + bad, "token_endpoint_auth_method": "none"})
		return postJSON(t, ts, "/register", doc)
	}},
	{"photo id (GET)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return bearer(t, ts, "GET", "/api/photos/"+url.PathEscape(bad))
	}},
	{"photo id (PUT)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return bearer(t, ts, "PUT", "/api/photos/"+url.PathEscape(bad))
	}},
	{"photo id (DELETE)", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return bearer(t, ts, "DELETE", "/api/photos/"+url.PathEscape(bad))
	}},
	{"photo title", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return upload(t, bearerClient(mintRobotToken(t, ts)), ts.URL+"/api/photos", "a.png", pngBytes(t), bad)
	}},
	{"join username", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return joinAt(t, ts.browser(), "/join", testJoinCode, "ab"+bad, "a-long-enough-password")
	}},
	{"join request", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b := ts.browser()
		form := formValues(t, body(t, b.get("/join")))
		form.Set("request", bad)
		return b.post("/join", form)
	}},
	{"logout client_id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return ts.browser().get("/logout?client_id=" + url.QueryEscape(bad) + "&post_logout_redirect_uri=" + url.QueryEscape(appLoggedOut))
	}},
	{"account revoke client_id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b, form := signedInForm(t, ts, "/account")
		form.Set("client_id", bad)
		return b.post("/account/revoke", form)
	}},
	{"account revoked", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return signedInBrowser(t, ts, "alice", "wonderland").get("/account?revoked=" + url.QueryEscape(bad))
	}},
	{"developer client id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b, form := signedInForm(t, ts, "/developer")
		return b.post("/developer/clients/"+url.PathEscape(bad)+"/delete", form)
	}},
	{"developer starter client id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		return signedInBrowser(t, ts, "alice", "wonderland").get("/developer/clients/" + url.PathEscape(bad) + "/starter.go")
	}},
	{"developer client name", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b, form := signedInForm(t, ts, "/developer")
		form.Set("name", bad)
		form.Set("redirect_uris", "http://127.0.0.1/cb")
		return b.post("/developer/clients", form)
	}},
	{"developer redirect URI", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b, form := signedInForm(t, ts, "/developer")
		form.Set("name", "My app")
		form.Set("redirect_uris", "http://127.0.0.1/cb"+bad)
		return b.post("/developer/clients", form)
	}},
	{"attendee id", func(t *testing.T, ts *testServer, bad string) *http.Response {
		b := ts.teacher(t)
		form := harness.HiddenFields(body(t, b.get("/class/attendees")))
		return b.post("/class/attendees/"+url.PathEscape(bad)+"/disable", form)
	}},
}

// postJSON posts doc to path with the initial access token.
func postJSON(t *testing.T, ts *testServer, path string, doc []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+path, bytes.NewReader(doc))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+iat)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// unstorableServer is a room server (roomServer) with the device clients,
// on st.
func unstorableServer(t *testing.T, st store.Store, configure ...func(*Config)) *testServer {
	t.Helper()
	configure = append([]func(*Config){func(c *Config) { c.JoinCode = testJoinCode }}, configure...)
	ts := newTestServerOn(t, st, configure...)
	addDeviceClients(t, ts)
	ctx := context.Background()
	if err := setUpJoining(ctx, ts.cfg, ts.store, ts.clock.now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	teacher := store.User{ID: "sub-teacher", Username: "teacher", PasswordHash: password.Hash("blackboard"), Name: "Teacher",
		Admin: true, CreatedAt: ts.clock.now()}
	if err := ts.store.CreateUser(ctx, teacher); err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestUnstorableTextOnPostgres sends NUL and invalid UTF-8 in every outside
// string that reaches a query, to ImageHost on SQLite and on PostgreSQL:
// never a 5xx, and the same answer from both.
func TestUnstorableTextOnPostgres(t *testing.T) {
	sqliteStore, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "imagehost.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqliteStore.Close() })
	lite := unstorableServer(t, sqliteStore)
	dbURL := newPostgresDatabase(t)
	pgs := unstorableServer(t, openPostgres(t, dbURL, nil), func(c *Config) { c.DatabaseURL = dbURL })
	for _, tc := range unstorableCases {
		for what, bad := range unstorable {
			t.Run(tc.name+"/"+what, func(t *testing.T) {
				want := answer(t, tc.send(t, lite, bad))
				got := answer(t, tc.send(t, pgs, bad))
				t.Logf("SQLite: %s | PostgreSQL: %s", want, got)
				if strings.HasPrefix(want, "5") || strings.HasPrefix(got, "5") {
					t.Errorf("a 5xx: SQLite %q, PostgreSQL %q", want, got)
				}
				if got != want {
					t.Errorf("PostgreSQL answered %q, SQLite %q", got, want)
				}
			})
		}
	}
	// What is written later, the activity log among it, is written too.
	for _, ts := range []*testServer{lite, pgs} {
		ts.activity.sync(context.Background())
		if logs := ts.logs.String(); strings.Contains(logs, "level=ERROR") {
			t.Errorf("errors in the log:\n%s", logs)
		}
	}
}
