package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
)

func TestAuthorizeRefusesWithoutRedirecting(t *testing.T) {
	ts := newTestServer(t)
	challenge := oauth.S256Challenge(oauth2.GenerateVerifier())
	tests := []struct {
		name string
		url  string
	}{
		{"unknown client", ts.authURL("nobody", appRedirect, "openid", "s", challenge)},
		{"no client_id", ts.authURL("", appRedirect, "openid", "s", challenge)},
		{"no redirect_uri with openid", ts.authURL(appID, "", "openid", "s", challenge)},
		{"redirect_uri with a trailing slash", ts.authURL(appID, appRedirect+"/", "openid", "s", challenge)},
		{"redirect_uri one character off", ts.authURL(appID, "http://localhost:8080/callbacc", "openid", "s", challenge)},
		{"redirect_uri with another port", ts.authURL(appID, "http://localhost:8081/callback", "openid", "s", challenge)},
		{"redirect_uri with a query added", ts.authURL(appID, appRedirect+"?next=evil", "openid", "s", challenge)},
		{"redirect_uri with https", ts.authURL(appID, "https://localhost:8080/callback", "openid", "s", challenge)},
		{"redirect_uri in upper case", ts.authURL(appID, "http://LOCALHOST:8080/callback", "openid", "s", challenge)},
		{"redirect_uri of another client", ts.authURL(appID, spaRedirect, "openid", "s", challenge)},
		{"duplicated client_id", ts.authURL(appID, appRedirect, "openid", "s", challenge) + "&client_id=" + spaID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := ts.browser().get(tc.url)
			page := body(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q: must be an error page, never a redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "invalid_request") {
				t.Fatalf("want an HTML page naming the error; got %s", page)
			}
		})
	}
}

func TestAuthorizeErrorsGoBackToTheClient(t *testing.T) {
	ts := newTestServer(t)
	challenge := oauth.S256Challenge(oauth2.GenerateVerifier())
	tests := []struct {
		name  string
		url   string
		error string
	}{
		{"implicit grant", ts.authURL(appID, appRedirect, "openid", "s", challenge, "response_type", "token"), "unsupported_response_type"},
		{"hybrid flow", ts.authURL(appID, appRedirect, "openid", "s", challenge, "response_type", "code id_token"), "unsupported_response_type"},
		{"no response_type", ts.authURL(appID, appRedirect, "openid", "s", challenge, "response_type", ""), "invalid_request"},
		{"PKCE plain", ts.authURL(appID, appRedirect, "openid", "s", challenge, "code_challenge_method", "plain"), "invalid_request"},
		{"PKCE without method (means plain)", ts.authURL(appID, appRedirect, "openid", "s", challenge, "code_challenge_method", ""), "invalid_request"},
		{"malformed challenge", ts.authURL(appID, appRedirect, "openid", "s", "short"), "invalid_request"},
		{"public client without PKCE", ts.authURL(spaID, spaRedirect, "openid", "s", ""), "invalid_request"},
		{"unknown scope", ts.authURL(appID, appRedirect, "openid admin", "s", challenge), "invalid_scope"},
		{"scope the client may not ask for", ts.authURL(spaID, spaRedirect, "openid photos.write", "s", challenge), "invalid_scope"},
		{"no scope", ts.authURL(appID, appRedirect, "", "s", challenge), "invalid_scope"},
		{"request object", ts.authURL(appID, appRedirect, "openid", "s", challenge, "request", "eyJ..."), "request_not_supported"},
		{"prompt none with login", ts.authURL(appID, appRedirect, "openid", "s", challenge, "prompt", "none login"), "invalid_request"},
		{"negative max_age", ts.authURL(appID, appRedirect, "openid", "s", challenge, "max_age", "-1"), "invalid_request"},
		{"form_post response mode", ts.authURL(appID, appRedirect, "openid", "s", challenge, "response_mode", "form_post"), "invalid_request"},
		{"prompt none, not signed in", ts.authURL(appID, appRedirect, "openid", "s", challenge, "prompt", "none"), "login_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := location(t, ts.browser().get(tc.url))
			q := loc.Query()
			if !strings.HasPrefix(loc.String(), redirectOf(tc.url)) || q.Get("error") != tc.error {
				t.Fatalf("redirected to %s, want %s with error=%s", loc, redirectOf(tc.url), tc.error)
			}
			if q.Get("state") != "s" || q.Get("iss") != ts.URL {
				t.Fatalf("state %q iss %q: both must come back (RFC 6749 §4.1.2.1, RFC 9207)", q.Get("state"), q.Get("iss"))
			}
			if tc.error == "unsupported_response_type" && !strings.HasPrefix(q.Get("error_uri"), ts.URL+"/docs/dropped-grants") {
				t.Fatal("the implicit grant's refusal should point to the page that explains it")
			}
		})
	}
}

func redirectOf(authURL string) string {
	u, _ := url.Parse(authURL)
	return u.Query().Get("redirect_uri")
}

func TestConsentDenied(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	next := location(t, b.get(ts.authURL(appID, appRedirect, "openid photos.read", "xyz", oauth.S256Challenge(oauth2.GenerateVerifier()))))
	next = location(t, loginAt(t, b, next.String(), "alice", "wonderland"))
	page := body(t, b.get(next.String()))
	if !strings.Contains(page, "Test App") || !strings.Contains(page, "See your photos") {
		t.Fatalf("consent page must name the app and describe the scopes:\n%s", page)
	}
	form := formValues(t, page)
	form.Set("decision", "deny")
	back := location(t, b.post("/consent", form))
	if q := back.Query(); q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Get("iss") != ts.URL || q.Get("code") != "" {
		t.Fatalf("deny redirected to %s", back)
	}
}

func TestConsentFormNeedsCSRFToken(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	next := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier()))))
	next = location(t, loginAt(t, b, next.String(), "alice", "wonderland"))
	form := formValues(t, body(t, b.get(next.String())))
	form.Set("decision", "allow")
	form.Del("csrf_token")
	resp := b.post("/consent", form)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
		t.Fatalf("consent without CSRF token: %s", resp.Status)
	}
}

func TestPendingRequestIsBoundToItsBrowser(t *testing.T) {
	ts := newTestServer(t)
	attacker := ts.browser()
	next := location(t, attacker.get(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier()))))
	// The victim opens the attacker's pending login link.
	victim := ts.browser()
	resp := victim.get(next.String())
	page := body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "another browser") {
		t.Fatalf("foreign pending request: %d", resp.StatusCode)
	}
}

func TestPromptAndMaxAge(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	challenge := oauth.S256Challenge(oauth2.GenerateVerifier())
	b.authorize(ts.authURL(appID, appRedirect, "openid", "s", challenge), "alice", "wonderland")

	// Signed in and consented: prompt=none answers with a code.
	loc := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", challenge, "prompt", "none")))
	if loc.Query().Get("code") == "" {
		t.Fatalf("prompt=none with session and consent: %s", loc)
	}
	// prompt=none for a scope not yet granted: consent_required.
	loc = location(t, b.get(ts.authURL(appID, appRedirect, "openid photos.write", "s", challenge, "prompt", "none")))
	if loc.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none, new scope: %s", loc)
	}
	// prompt=login forces a new login, prompt=consent a new consent.
	if loc = location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", challenge, "prompt", "login"))); loc.Path != "/login" {
		t.Fatalf("prompt=login went to %s", loc)
	}
	if loc = location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", challenge, "prompt", "consent"))); loc.Path != "/consent" {
		t.Fatalf("prompt=consent went to %s", loc)
	}
	// max_age: the login is older than 60 s, so log in again.
	ts.clock.advance(2 * time.Minute)
	if loc = location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", challenge, "max_age", "60"))); loc.Path != "/login" {
		t.Fatalf("max_age=60 after 2 minutes went to %s", loc)
	}
	// ... and after that fresh login, the code comes without another loop.
	back := b.authorize(ts.authURL(appID, appRedirect, "openid", "s", challenge, "max_age", "60"), "alice", "wonderland")
	if back.Query().Get("code") == "" {
		t.Fatalf("after re-login: %s", back)
	}
}

func TestAuthorizeByPOST(t *testing.T) {
	ts := newTestServer(t)
	u, _ := url.Parse(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier())))
	resp := ts.browser().post("/authorize", u.Query())
	if loc := location(t, resp); loc.Path != "/login" {
		t.Fatalf("POST /authorize went to %s", loc)
	}
}

// TestUserRegisteredClientsRedirectNoErrorBeforeSignIn: anyone can register
// a client with any https redirect URI, in the developer console or at
// /register. Were ImageHost to send an error to that URI before anyone
// signed in, a link to its /authorize would be an open redirect through
// ImageHost's name (RFC 9700 §4.11.2). So for such clients an error before
// sign-in is shown on ImageHost's page; once the user has signed in, and
// for the operator's clients always, it goes back to the client.
func TestUserRegisteredClientsRedirectNoErrorBeforeSignIn(t *testing.T) {
	ts := newTestServer(t)
	const evil = "https://evil.example/landing"
	alice := ts.browser()
	loginForm(t, alice, "alice", "wonderland").Body.Close()
	form := formValues(t, body(t, alice.get("/developer")))
	form.Set("name", "Totally Legit")
	form.Set("redirect_uris", evil)
	m := newClientIDRE.FindStringSubmatch(body(t, alice.post("/developer/clients", form)))
	if m == nil {
		t.Fatal("the console registered no client")
	}
	consoleClient := m[1]
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/register",
		strings.NewReader(`{"client_name":"Also Legit","redirect_uris":["`+evil+`"],"grant_types":["authorization_code"]}`))
	req.Header.Set("Authorization", "Bearer "+iat)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var registered struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&registered); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %s %v", resp.Status, err)
	}
	resp.Body.Close()

	challenge := oauth.S256Challenge(oauth2.GenerateVerifier())
	for name, clientID := range map[string]string{"a console client": consoleClient, "a dynamically registered client": registered.ClientID} {
		for _, tc := range []struct{ name, url string }{
			{"a bad response_type", ts.authURL(clientID, evil, "openid", "s", challenge, "response_type", "x")},
			{"an unknown scope", ts.authURL(clientID, evil, "openid admin", "s", challenge)},
			{"prompt=none", ts.authURL(clientID, evil, "openid", "s", challenge, "prompt", "none")},
		} {
			t.Run(name+", "+tc.name+", signed out", func(t *testing.T) {
				resp := ts.browser().get(tc.url)
				page := body(t, resp)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("%s, Location %q: want ImageHost's error page, no redirect", resp.Status, resp.Header.Get("Location"))
				}
				if !strings.Contains(page, "evil.example") {
					t.Errorf("the page should name where the application wanted to send the browser:\n%s", page)
				}
			})
		}
		t.Run(name+", signed in", func(t *testing.T) {
			bob := ts.browser()
			loginForm(t, bob, "bob", "builder").Body.Close()
			loc := location(t, bob.get(ts.authURL(clientID, evil, "openid", "s", challenge, "response_type", "x")))
			if !strings.HasPrefix(loc.String(), evil) || loc.Query().Get("error") != "unsupported_response_type" {
				t.Fatalf("signed in: went to %s, want the error at the client", loc)
			}
		})
	}
	// The operator's clients get their errors back, signed in or not.
	loc := location(t, ts.browser().get(ts.authURL(appID, appRedirect, "openid", "s", challenge, "response_type", "x")))
	if !strings.HasPrefix(loc.String(), appRedirect) || loc.Query().Get("error") != "unsupported_response_type" {
		t.Fatalf("the operator's client: went to %s", loc)
	}
}
