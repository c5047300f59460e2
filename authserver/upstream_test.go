package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
	"oauthdemo/authserver/upstream"
	"oauthdemo/e2e/harness"
)

const corporateSecret = "corporate-sso-secret-for-tests-0123"

// corporateSSO is an ImageHost whose users may sign in through another
// ImageHost, the Corporate SSO, where carol has an account. The SSO is
// named localhost, so that one browser keeps the two servers' cookies
// apart, as the demo does.
func corporateSSO(t *testing.T) (ts, sso *testServer) {
	t.Helper()
	sso = newTestServer(t, func(c *Config) { c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) })
	must(t, sso.store.CreateUser(context.Background(), store.User{ID: "sub-carol-at-sso", Username: "carol", Name: "Carol",
		Email: "carol@corporate.example", PasswordHash: password.Hash("corporate"), CreatedAt: sso.clock.now()}))
	ts = newTestServer(t, func(c *Config) {
		c.Upstreams = []upstream.Config{{Name: "corporate", DisplayName: "Corporate SSO", Issuer: sso.URL, ClientID: "imagehost", ClientSecret: corporateSecret}}
	})
	must(t, sso.store.CreateClient(context.Background(), store.Client{ID: "imagehost", SecretHash: oauth.HashToken(corporateSecret), Name: "ImageHost",
		RedirectURIs: []string{ts.URL + "/upstream/corporate/callback"}, GrantTypes: []string{"authorization_code"}, Scope: "openid profile email"}))
	return ts, sso
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// idTokenClaimsOf redeems code for the test app and returns its ID token's
// claims.
func idTokenClaimsOf(t *testing.T, ts *testServer, code, verifier string) map[string]any {
	t.Helper()
	resp := redeem(t, ts, code, verifier)
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("redeem: %s %v", resp.Status, err)
	}
	parts := strings.Split(tok.IDToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	must(t, json.Unmarshal(payload, &claims))
	return claims
}

// linkPage opens the page that asks which account a new identity stands
// for, and returns its form.
func (b *browser) linkPage() (url.Values, string) {
	b.t.Helper()
	resp := b.get("/upstream/link")
	page := body(b.t, resp)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("link page: %d\n%s", resp.StatusCode, page)
	}
	return formValues(b.t, page), page
}

// chooseNewAccount answers the link page with a new account.
func (b *browser) chooseNewAccount() *http.Response {
	b.t.Helper()
	form, _ := b.linkPage()
	form.Set("choice", "new")
	return b.post("/upstream/link", form)
}

// TestUpstreamSignInThroughImageHost: PhotoEditorApp's request to ImageHost,
// signed in through another ImageHost as the upstream. The first time the
// user makes an account; the ID token ImageHost issues says how they signed
// in; the activity log records the upstream's answer under the app's flow
// reference; the next time they go straight through.
func TestUpstreamSignInThroughImageHost(t *testing.T) {
	ts, sso := corporateSSO(t)
	b := ts.browser()
	verifier := oauth2.GenerateVerifier()
	authURL := ts.authURL(appID, appRedirect, "openid profile", "app-state", oauth.S256Challenge(verifier), "nonce", "app-nonce")
	login := location(t, b.get(authURL))
	atSSO := b.upstreamStart(login.String(), "corporate")
	if !strings.HasPrefix(atSSO.String(), sso.URL+"/authorize?") {
		t.Fatalf("Continue with Corporate SSO went to %s", atSSO)
	}
	q := atSSO.Query()
	if q.Get("client_id") != "imagehost" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("nonce") == "" || len(q.Get("state")) < 43 || q.Get("redirect_uri") != ts.URL+"/upstream/corporate/callback" {
		t.Fatalf("ImageHost's request to the upstream: %s", q)
	}
	// At the Corporate SSO: carol signs in and allows ImageHost.
	callback := harness.MustSignIn(t, b.client, atSSO.String(), "carol", "corporate")
	if callback.Query().Get("iss") != sso.URL {
		t.Fatalf("the SSO's answer has no iss: %s", callback)
	}
	if next := location(t, b.get(callback.String())); next.Path != "/upstream/link" {
		t.Fatalf("a first sign-in went to %s, not to the page that links it", next)
	}
	_, page := b.linkPage()
	if !strings.Contains(page, "Welcome, Carol") || !strings.Contains(page, "<strong>carol</strong>") || !strings.Contains(page, "Test App") {
		t.Fatalf("the link page:\n%s", page)
	}
	// Whoever is asked for a password sees which identity gets the
	// account: over plain HTTP a same-site page can plant another's cookie.
	if !strings.Contains(page, "identity to link: <strong>Carol</strong> (<strong>carol</strong>) at <code>"+sso.URL+"</code>") {
		t.Fatalf("the link page does not say which identity it links:\n%s", page)
	}
	next := location(t, b.chooseNewAccount())
	if next.Path != "/consent" {
		t.Fatalf("after making the account: %s, want the consent page", next)
	}
	back := location(t, b.post("/consent", consentForm(t, b, next.Query().Get("request"))))
	if back.Query().Get("state") != "app-state" || back.Query().Get("code") == "" {
		t.Fatalf("back to the app: %s", back)
	}
	claims := idTokenClaimsOf(t, ts, back.Query().Get("code"), verifier)
	carol, err := ts.store.UserByUpstream(context.Background(), sso.URL, "sub-carol-at-sso")
	must(t, err)
	if claims["sub"] != carol.ID || claims["preferred_username"] != "carol" || claims["nonce"] != "app-nonce" || claims["idp"] != sso.URL ||
		!slices.Equal(toStrings(claims["amr"]), []string{"fed", "pwd"}) {
		t.Fatalf("ImageHost's ID token: %v (carol is %s)", claims, carol.ID)
	}
	if carol.PasswordHash != "" || carol.Username != "carol" || carol.Email != "" {
		t.Fatalf("the new account: %+v", carol)
	}

	// The activity log: the upstream exchange, under the app's flow
	// reference, naming the SSO's own flow reference, which the SSO's log has.
	ts.activity.sync(context.Background())
	entries, err := ts.store.ActivityForUser(context.Background(), carol.ID, 20)
	must(t, err)
	var signedIn store.Activity
	for _, e := range entries {
		if e.Event == "signed in through Corporate SSO" {
			signedIn = e
		}
	}
	if signedIn.FlowRef != flowRef("app-state") || !strings.Contains(signedIn.Reason, "PKCE") || !strings.Contains(signedIn.Reason, "new account") {
		t.Fatalf("activity: %+v", entries)
	}
	sso.activity.sync(context.Background())
	ssoEntries, err := sso.store.ActivityForUser(context.Background(), "sub-carol-at-sso", 20)
	must(t, err)
	if len(ssoEntries) == 0 || ssoEntries[0].FlowRef == "" || !strings.Contains(signedIn.Reason, "flow "+ssoEntries[0].FlowRef) {
		t.Fatalf("ImageHost's entry names no flow of the SSO's log: %q; SSO: %+v", signedIn.Reason, ssoEntries)
	}

	// The account page shows that login's entries when an app's inspector
	// links to its flow reference.
	if page := body(t, b.get("/account?flow="+flowRef("app-state"))); !strings.Contains(page, "signed in through Corporate SSO") ||
		!strings.Contains(page, "Only the entries of flow") {
		t.Fatalf("the account page for flow %s:\n%s", flowRef("app-state"), page)
	}
	if page := body(t, b.get("/account?flow="+flowRef("another-state"))); strings.Contains(page, "signed in through Corporate SSO") {
		t.Fatal("the account page shows another flow's entries")
	}

	// The next time: no link page, no consent (remembered), the same account.
	b2 := ts.browser()
	verifier2 := oauth2.GenerateVerifier()
	login = location(t, b2.get(ts.authURL(appID, appRedirect, "openid profile", "again", oauth.S256Challenge(verifier2))))
	callback = harness.MustSignIn(t, b2.client, b2.upstreamStart(login.String(), "corporate").String(), "carol", "corporate")
	back = location(t, b2.get(callback.String()))
	if back.Query().Get("state") != "again" || back.Query().Get("code") == "" {
		t.Fatalf("the second sign-in went to %s, want straight back to the app", back)
	}
	if claims := idTokenClaimsOf(t, ts, back.Query().Get("code"), verifier2); claims["sub"] != carol.ID {
		t.Fatalf("the second sign-in is %v, want carol %s", claims["sub"], carol.ID)
	}

	// The account has no password: the login form refuses every one, with
	// the usual answer, not an error.
	lb := ts.browser()
	form := formValues(t, body(t, lb.get("/login")))
	form.Set("username", "carol")
	form.Set("password", "")
	if resp := lb.post("/login", form); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a password for an account made through an upstream: %d, want 401", resp.StatusCode)
	}

	// Discovery says ID tokens may carry amr.
	var md struct {
		Claims []string `json:"claims_supported"`
	}
	resp := b.get("/.well-known/openid-configuration")
	must(t, json.NewDecoder(resp.Body).Decode(&md))
	resp.Body.Close()
	if !slices.Contains(md.Claims, "amr") || !slices.Contains(md.Claims, "idp") {
		t.Fatalf("claims_supported = %v", md.Claims)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// assertNobodySignedIn checks that a refused answer signed nobody in and
// made no account.
func assertNobodySignedIn(t *testing.T, ts *testServer, b *browser) {
	t.Helper()
	if who := signedInAs(t, b); who != "" {
		t.Fatalf("the browser is signed in as %s", who)
	}
	users, err := ts.store.ListUsers(context.Background())
	must(t, err)
	if len(users) != 2 {
		t.Fatalf("%d users, want alice and bob only", len(users))
	}
}

// TestUpstreamAnswersRefused: an upstream answer that breaks a rule signs
// nobody in, and says which rule.
func TestUpstreamAnswersRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    func(f *fakeUpstream)
		reason string
	}{
		{"wrong iss (mix-up)", func(f *fakeUpstream) { f.iss = func(string) string { return "https://attacker.example" } }, "mix-up"},
		{"no iss from an upstream that promises it", func(f *fakeUpstream) { f.iss = func(string) string { return "" } }, "had none"},
		{"a bad signature", func(f *fakeUpstream) { f.signForged = true }, "signature"},
		{"no nonce", func(f *fakeUpstream) { f.editClaims = func(c map[string]any, _ url.Values) { delete(c, "nonce") } }, "no nonce"},
		{"another sign-in's nonce", func(f *fakeUpstream) {
			f.editClaims = func(c map[string]any, _ url.Values) { c["nonce"] = "a-nonce-from-another-sign-in" }
		}, "another sign-in"},
		{"another audience", func(f *fakeUpstream) {
			f.editClaims = func(c map[string]any, _ url.Values) { c["aud"] = "someone-else" }
		}, "another client"},
		{"several audiences, azp another", func(f *fakeUpstream) {
			f.editClaims = func(c map[string]any, _ url.Values) {
				c["aud"] = []string{fakeClientID, "someone-else"}
				c["azp"] = "someone-else"
			}
		}, "issued to"},
		{"another issuer's ID token", func(f *fakeUpstream) {
			f.editClaims = func(c map[string]any, _ url.Values) { c["iss"] = "https://attacker.example" }
		}, "another issuer"},
		{"an expired ID token", func(f *fakeUpstream) {
			f.editClaims = func(c map[string]any, _ url.Values) { c["exp"] = time.Now().Add(-time.Hour).Unix() }
		}, "expired"},
		{"a sub too long", func(f *fakeUpstream) { f.claims["sub"] = strings.Repeat("s", 256) }, "usable sub"},
		{"the code refused", func(f *fakeUpstream) {
			f.token = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"invalid_grant"}`))
				return true
			}
		}, "invalid_grant"},
		{"no ID token", func(f *fakeUpstream) {
			f.token = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"x","token_type":"Bearer"}`))
				return true
			}
		}, "no ID token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, fake := fakeUpstreamServer(t)
			fake.set(tc.set)
			b := ts.browser()
			resp := b.throughFake("/login")
			page := body(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, tc.reason) {
				t.Fatalf("%d, want 400 saying %q:\n%s", resp.StatusCode, tc.reason, page)
			}
			assertNobodySignedIn(t, ts, b)
			if !strings.Contains(ts.logs.String(), "upstream sign-in refused") {
				t.Fatal("the refusal is not in the log")
			}
		})
	}
}

// TestUpstreamAnswerAtAnotherUpstreamsCallback: with two upstreams, an
// answer brought to the other's redirect URI is refused (RFC 9700 §4.4.2).
func TestUpstreamAnswerAtAnotherUpstreamsCallback(t *testing.T) {
	clock := &testClock{}
	other := newFakeUpstream(t, clock.now)
	ts, _ := fakeUpstreamServerWith(t, func(c *Config) {
		c.Upstreams = append(c.Upstreams, upstream.Config{Name: "other", DisplayName: "Other SSO", Issuer: other.URL,
			ClientID: fakeClientID, ClientSecret: fakeClientSecret})
	})
	b := ts.browser()
	callback := location(t, b.get(b.upstreamStart("/login", "fake").String()))
	callback.Path = "/upstream/other/callback"
	resp := b.get(callback.String())
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "wrong address") {
		t.Fatalf("%d:\n%s", resp.StatusCode, page)
	}
	assertNobodySignedIn(t, ts, b)
}

// fakeUpstreamServerWith is fakeUpstreamServer with more configuration.
func fakeUpstreamServerWith(t *testing.T, configure func(*Config)) (*testServer, *fakeUpstream) {
	t.Helper()
	clock := &testClock{}
	f := newFakeUpstream(t, clock.now)
	ts := newTestServer(t, fakeConfig(f), configure)
	f.set(func(f *fakeUpstream) { f.now = ts.clock.now })
	return ts, f
}

// TestUpstreamStateIsBoundAndUsedOnce: the answer counts only in the
// browser that started the sign-in, and only once, even when it is sent
// many times at once.
func TestUpstreamStateIsBoundAndUsedOnce(t *testing.T) {
	ts, fake := fakeUpstreamServer(t)

	t.Run("in another browser", func(t *testing.T) {
		victim, attacker := ts.browser(), ts.browser()
		// The attacker's own answer, pushed into the victim's browser
		// (login CSRF): the victim has no sign-in under way ...
		callback := location(t, attacker.get(attacker.upstreamStart("/login", "fake").String()))
		resp := victim.get(callback.String())
		if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "not started in this browser") {
			t.Fatalf("%d:\n%s", resp.StatusCode, page)
		}
		// ... or one of their own, with another state.
		victim.get(victim.upstreamStart("/login", "fake").String()).Body.Close()
		resp = victim.get(callback.String())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("the attacker's answer with the victim's own sign-in under way: %d", resp.StatusCode)
		}
		resp.Body.Close()
		if who := signedInAs(t, victim); who != "" {
			t.Fatalf("the victim is signed in as %s", who)
		}
	})

	t.Run("replayed, all at once", func(t *testing.T) {
		b := ts.browser()
		callback := location(t, b.get(b.upstreamStart("/login", "fake").String()))
		cookies := b.client.Jar.Cookies(callback)
		fake.set(func(f *fakeUpstream) { f.tokenRequests = 0 })
		const n = 16
		start := make(chan struct{})
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				jar, _ := cookiejar.New(nil)
				jar.SetCookies(callback, cookies) // the same browser, n times
				c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				<-start
				resp, err := c.Get(callback.String())
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			})
		}
		close(start)
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		fake.mu.Lock()
		exchanged := fake.tokenRequests
		fake.mu.Unlock()
		if counts[http.StatusSeeOther] != 1 || counts[http.StatusBadRequest] != n-1 || exchanged != 1 {
			t.Fatalf("%d answers sent at once: %v, %d code exchanges; want one 303, the rest 400, one exchange", n, counts, exchanged)
		}
	})
}

// TestUpstreamEmailNeverTakesOverAnAccount: an upstream identity whose
// email claim is a local account's address, verified or not, does not sign
// in to that account: it is a new identity, for which the user makes an
// account or proves another's password.
func TestUpstreamEmailNeverTakesOverAnAccount(t *testing.T) {
	for _, verified := range []bool{false, true} {
		t.Run("email_verified="+map[bool]string{false: "false", true: "true"}[verified], func(t *testing.T) {
			ts, fake := fakeUpstreamServer(t)
			fake.set(func(f *fakeUpstream) {
				f.claims = map[string]any{"sub": "mallory-at-fake", "preferred_username": "alice", "name": "Mallory",
					"email": "alice@example.org", "email_verified": verified}
			})
			b := ts.browser()
			next := location(t, b.throughFake("/login"))
			if next.Path != "/upstream/link" {
				t.Fatalf("an unknown identity with alice's address went to %s", next)
			}
			if who := signedInAs(t, b); who != "" {
				t.Fatalf("signed in as %s before choosing an account", who)
			}
			if resp := b.chooseNewAccount(); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("new account: %d", resp.StatusCode)
			}
			mallory, err := ts.store.UserByUpstream(context.Background(), fake.URL, "mallory-at-fake")
			must(t, err)
			if mallory.ID == "sub-alice" || mallory.Username == "alice" {
				t.Fatalf("the identity with alice's address got alice's account: %+v", mallory)
			}
			if got := signedInAs(t, b); got == "Alice" {
				t.Fatal("signed in to alice's account")
			}
			wantEmail := map[bool]string{false: "", true: "alice@example.org"}[verified]
			if mallory.Email != wantEmail {
				t.Fatalf("the new account keeps the email %q, want %q", mallory.Email, wantEmail)
			}
			alice, err := ts.store.UserByUsername(context.Background(), "alice")
			must(t, err)
			if alice.ID != "sub-alice" {
				t.Fatalf("alice's account changed: %+v", alice)
			}
		})
	}
}

// TestUpstreamLinkNeedsThePassword: an identity is linked to an existing
// account only with that account's password, counted like a sign-in; then
// the identity signs in to it directly.
func TestUpstreamLinkNeedsThePassword(t *testing.T) {
	ts, fake := fakeUpstreamServer(t)
	b := ts.browser()
	verifier := oauth2.GenerateVerifier()
	login := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "link-state", oauth.S256Challenge(verifier))))
	if next := location(t, b.throughFake(login.String())); next.Path != "/upstream/link" {
		t.Fatalf("went to %s", next)
	}
	link := func(user, pw string) *http.Response {
		form, _ := b.linkPage()
		form.Set("choice", "existing")
		form.Set("username", user)
		form.Set("password", pw)
		return b.post("/upstream/link", form)
	}
	if resp := link("alice", "not-her-password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d, want 401", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	if _, err := ts.store.UserByUpstream(context.Background(), fake.URL, "carol-at-fake"); err == nil {
		t.Fatal("linked without the password")
	}

	// A burst of guesses at alice's password: her account's limit holds.
	form, _ := b.linkPage()
	form.Set("choice", "existing")
	form.Set("username", "alice")
	form.Set("password", "guess")
	const n = 12
	start := make(chan struct{})
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/upstream/link", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			<-start
			resp, err := b.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	// One wrong password before, so 4 more are checked.
	if counts[http.StatusUnauthorized] != accountAttempts-1 || counts[http.StatusTooManyRequests] != n-(accountAttempts-1) {
		t.Fatalf("a burst of %d guesses: %v; want %d checked, the rest 429", n, counts, accountAttempts-1)
	}
	if want := fmt.Sprintf(`imagehost_throttled_total{limit=%q} %d`, limitSignIn, n-(accountAttempts-1)); !strings.Contains(scrape(t, ts), want) {
		t.Fatalf("/metrics lacks %s", want)
	}

	// With the password (the limit past): linked, signed in, bound to the request.
	ts.clock.advance(signInWindow)
	next := location(t, link("alice", "wonderland"))
	if next.Path != "/consent" {
		t.Fatalf("after linking: %s", next)
	}
	back := location(t, b.post("/consent", consentForm(t, b, next.Query().Get("request"))))
	claims := idTokenClaimsOf(t, ts, back.Query().Get("code"), verifier)
	if claims["sub"] != "sub-alice" || claims["idp"] != fake.URL || !slices.Equal(toStrings(claims["amr"]), []string{"fed", "pwd", "otp"}) {
		t.Fatalf("ID token after linking: %v", claims)
	}
	// From now on the identity is alice's, without the link page.
	b2 := ts.browser()
	if next := location(t, b2.throughFake("/login")); next.Path != "/account" {
		t.Fatalf("the linked identity's next sign-in went to %s", next)
	}
	if who := signedInAs(t, b2); who != "Alice" {
		t.Fatalf("signed in as %q", who)
	}
}

// TestUpstreamSignInOfADisabledUser: a disabled user signs in no way, and
// an upstream that still vouches for them is no way around it: neither an
// identity linked to the account before it was disabled, nor a new identity
// linked to it with its password, signs in or gets the application a code.
func TestUpstreamSignInOfADisabledUser(t *testing.T) {
	ctx := context.Background()
	ts, fake := fakeUpstreamServer(t)
	// carol's identity at the fake gets an account of its own, which an
	// admin then disables.
	b := ts.browser()
	if next := location(t, b.throughFake("/login")); next.Path != "/upstream/link" {
		t.Fatalf("a new identity went to %s", next)
	}
	if resp := b.chooseNewAccount(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new account: %d", resp.StatusCode)
	}
	carol, err := ts.store.UserByUpstream(ctx, fake.URL, "carol-at-fake")
	must(t, err)
	must(t, ts.store.SetUserDisabled(ctx, carol.ID, true, ts.clock.now()))
	must(t, ts.store.SetUserDisabled(ctx, "sub-alice", true, ts.clock.now()))

	// refused checks that an answer was a 403 that says why, and that the
	// browser is signed in as nobody.
	refused := func(t *testing.T, b *browser, resp *http.Response) {
		t.Helper()
		if page := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "disabled") {
			t.Fatalf("%d, want 403 saying the account is disabled; Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		if resp := b.get("/account"); resp.StatusCode == http.StatusOK {
			t.Fatal("the browser is signed in")
		} else {
			resp.Body.Close()
		}
	}

	t.Run("through the identity linked to the account", func(t *testing.T) {
		b := ts.browser()
		login := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "disabled-state", oauth.S256Challenge(oauth2.GenerateVerifier()))))
		refused(t, b, b.throughFake(login.String()))
	})

	t.Run("linking a new identity to the account with its password", func(t *testing.T) {
		fake.set(func(f *fakeUpstream) {
			f.claims = map[string]any{"sub": "alice-at-fake", "preferred_username": "alice"}
		})
		b := ts.browser()
		login := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "disabled-link-state", oauth.S256Challenge(oauth2.GenerateVerifier()))))
		if next := location(t, b.throughFake(login.String())); next.Path != "/upstream/link" {
			t.Fatalf("a new identity went to %s", next)
		}
		form, _ := b.linkPage()
		form.Set("choice", "existing")
		form.Set("username", "alice")
		form.Set("password", "wonderland")
		refused(t, b, b.post("/upstream/link", form))
		if _, err := ts.store.UserByUpstream(ctx, fake.URL, "alice-at-fake"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the identity was linked to the disabled account: %v", err)
		}
	})
}

// TestUpstreamFreshLogin: prompt=login and max_age reach the upstream, and
// an answer whose auth_time is older than they allow is refused.
func TestUpstreamFreshLogin(t *testing.T) {
	ts, fake := fakeUpstreamServer(t)
	var mu sync.Mutex
	var asked url.Values
	fake.set(func(f *fakeUpstream) {
		f.authorize = func(w http.ResponseWriter, r *http.Request, q url.Values) bool {
			mu.Lock()
			defer mu.Unlock()
			asked = q
			return false
		}
		f.editClaims = func(c map[string]any, _ url.Values) { c["auth_time"] = f.now().Add(-time.Hour).Unix() }
	})
	for _, tc := range []struct{ param, value, upstreamParam string }{
		{"prompt", "login", "prompt"},
		{"max_age", "60", "max_age"},
	} {
		t.Run(tc.param, func(t *testing.T) {
			b := ts.browser()
			login := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier()), tc.param, tc.value)))
			resp := b.throughFake(login.String())
			page := body(t, resp)
			mu.Lock()
			got := asked.Get(tc.upstreamParam)
			mu.Unlock()
			if got != tc.value {
				t.Fatalf("the upstream was asked %s=%q", tc.upstreamParam, got)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "did not sign you in again") {
				t.Fatalf("an hour-old upstream sign-in: %d\n%s", resp.StatusCode, page)
			}
		})
	}
	// A fresh one goes through.
	fake.set(func(f *fakeUpstream) { f.editClaims = nil })
	b := ts.browser()
	login := location(t, b.get(ts.authURL(appID, appRedirect, "openid", "s", oauth.S256Challenge(oauth2.GenerateVerifier()), "prompt", "login")))
	if next := location(t, b.throughFake(login.String())); next.Path != "/upstream/link" {
		t.Fatalf("a fresh sign-in went to %s", next)
	}
}

// TestUpstreamSignInWithoutARequest: from ImageHost's own login page the
// sign-in returns to the device page or the account page, never elsewhere.
func TestUpstreamSignInWithoutARequest(t *testing.T) {
	ts, fake := fakeUpstreamServer(t)
	must(t, ts.store.LinkUpstream(context.Background(), store.UpstreamLink{Issuer: fake.URL, Subject: "carol-at-fake", UserID: "sub-bob", Upstream: "fake"}))
	for next, want := range map[string]string{
		"/device?user_code=bcdf-ghjk":  "/device?user_code=BCDF-GHJK",
		"https://attacker.example/":    "/account",
		"//attacker.example/device":    "/account",
		"/device/../../attacker":       "/account",
		"":                             "/account",
		"/account?x=https://evil.test": "/account",
	} {
		b := ts.browser()
		got := location(t, b.throughFake("/login?next="+url.QueryEscape(next)))
		if got.Host != strings.TrimPrefix(ts.URL, "http://") || got.RequestURI() != want {
			t.Errorf("next=%q: went to %s, want %s", next, got, want)
		}
	}
}

// TestUpstreamStartsAreThrottled: a burst of sign-ins started from one
// address stops at its limit, and /metrics counts the refused.
func TestUpstreamStartsAreThrottled(t *testing.T) {
	ts, _ := fakeUpstreamServer(t)
	const n = upstreamStartsPerAddress + 10
	counts := upstreamStartBurst(t, ts.browser(), n, ts)
	if counts[http.StatusSeeOther] != upstreamStartsPerAddress || counts[http.StatusTooManyRequests] != n-upstreamStartsPerAddress {
		t.Fatalf("%d sign-ins started at once: %v, want %d sent on and the rest 429", n, counts, upstreamStartsPerAddress)
	}
	if want := fmt.Sprintf(`imagehost_throttled_total{limit=%q} %d`, limitUpstreamStart, n-upstreamStartsPerAddress); !strings.Contains(scrape(t, ts), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// TestUpstreamStartsCountOnlyWhenUnderWay: a start counts against its
// address only once its sign-in is under way. One refused because the
// sign-ins under way are at their cap, or because the upstream cannot be
// reached, is taken back: so the starts counted (in the store that
// instances share, whose attempts table all the limits share) are never
// more than the sign-ins under way, and a burst at capacity cannot fill
// that table with cheap attempts and push out the sign-in limits' older
// ones. Nor does it lock the address out once the upstream is back.
func TestUpstreamStartsCountOnlyWhenUnderWay(t *testing.T) {
	const n = upstreamStartsPerAddress + 10
	t.Run("at capacity", func(t *testing.T) {
		ts, _ := fakeUpstreamServer(t)
		now := ts.clock.now()
		for i := range maxPendingUpstreamLogins {
			must(t, ts.store.CreateUpstreamLogin(context.Background(), store.UpstreamLogin{IDHash: oauth.HashToken(fmt.Sprint("filler-", i)),
				Upstream: "fake", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, maxPendingUpstreamLogins))
		}
		// Of a burst, those that find the limit held by others still at the
		// store are refused with 429; none gets through.
		if counts := upstreamStartBurst(t, ts.browser(), n, ts); counts[http.StatusServiceUnavailable] == 0 ||
			counts[http.StatusServiceUnavailable]+counts[http.StatusTooManyRequests] != n {
			t.Fatalf("%d sign-ins started at once at capacity: %v, want 503 (or 429) for all", n, counts)
		}
		ts.clock.advance(time.Minute) // the others expire; the window of the refused starts has not passed
		if counts := upstreamStartBurst(t, ts.browser(), 1, ts); counts[http.StatusSeeOther] != 1 {
			t.Fatalf("a sign-in started with room again: %v, want 303", counts)
		}
	})
	t.Run("upstream unavailable", func(t *testing.T) {
		ts, fake := fakeUpstreamServer(t)
		fake.set(func(f *fakeUpstream) {
			f.discovery = func(md map[string]any) { md["issuer"] = "https://someone-else.example" }
		})
		if counts := upstreamStartBurst(t, ts.browser(), n, ts); counts[http.StatusBadGateway] == 0 ||
			counts[http.StatusBadGateway]+counts[http.StatusTooManyRequests] != n {
			t.Fatalf("%d sign-ins started at once through an upstream that fails: %v, want 502 (or 429) for all", n, counts)
		}
		fake.set(func(f *fakeUpstream) { f.discovery = nil })
		ts.clock.advance(upstream.RetryDiscoveryAfter)
		if counts := upstreamStartBurst(t, ts.browser(), 1, ts); counts[http.StatusSeeOther] != 1 {
			t.Fatalf("a sign-in started once the upstream is back: %v, want 303", counts)
		}
	})
}

// TestUpstreamStartsThrottleAcrossInstancesOnPostgres: a burst of sign-ins
// started from one address, released together and spread over two
// instances on one PostgreSQL database, as a load balancer without sticky
// sessions spreads them. Only upstreamStartsPerAddress of them are sent on
// in all: the instances count in the database, in the step that checks the
// limit. Counted in each instance's memory, each would have sent on the
// limit.
func TestUpstreamStartsThrottleAcrossInstancesOnPostgres(t *testing.T) {
	fake := newFakeUpstream(t, time.Now)
	first, second := twoInstances(t, fakeConfig(fake))
	fake.set(func(f *fakeUpstream) { f.now = first.clock.now })
	const n = 2 * upstreamStartsPerAddress
	counts := upstreamStartBurst(t, first.browser(), n, first, second)
	if counts[http.StatusSeeOther] != upstreamStartsPerAddress || counts[http.StatusTooManyRequests] != n-upstreamStartsPerAddress {
		t.Fatalf("%d sign-ins started at once over two instances: %v, want %d sent on in all and the rest 429", n, counts, upstreamStartsPerAddress)
	}
	// The limit holds at both instances, and ends at both.
	for _, ts := range []*testServer{first, second} {
		if counts := upstreamStartBurst(t, first.browser(), 1, ts); counts[http.StatusTooManyRequests] != 1 {
			t.Fatalf("a sign-in started at %s during the block: %v, want 429", ts.URL, counts)
		}
	}
	first.clock.advance(upstreamStartWindow) // the instances share this clock
	for _, ts := range []*testServer{first, second} {
		if counts := upstreamStartBurst(t, first.browser(), 1, ts); counts[http.StatusSeeOther] != 1 {
			t.Fatalf("a sign-in started at %s after the window: %v, want 303", ts.URL, counts)
		}
	}
}

// upstreamStartBurst presses "Continue with" the fake upstream n times at
// once in b, taking turns at targets, and counts the answers' statuses.
func upstreamStartBurst(t *testing.T, b *browser, n int, targets ...*testServer) map[int]int {
	t.Helper()
	b.ts = targets[0]
	form := formValues(t, body(t, b.get("/login")))
	start := make(chan struct{})
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		target := targets[i%len(targets)]
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, target.URL+"/upstream/fake/start", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			<-start
			resp, err := b.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	return counts
}

// TestUpstreamRequestsAreBounded: ImageHost follows no redirect of the
// upstream's, reads no more than a bounded answer, waits a bounded time,
// and sends a bounded number of requests at once.
func TestUpstreamRequestsAreBounded(t *testing.T) {
	t.Run("no redirect followed", func(t *testing.T) {
		var elsewhere sync.Mutex
		hits := 0
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			elsewhere.Lock()
			hits++
			elsewhere.Unlock()
		}))
		defer other.Close()
		ts, fake := fakeUpstreamServer(t)
		fake.set(func(f *fakeUpstream) {
			f.token = func(w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, other.URL+"/token", http.StatusTemporaryRedirect)
				return true
			}
		})
		b := ts.browser()
		resp := b.throughFake("/login")
		resp.Body.Close()
		elsewhere.Lock()
		defer elsewhere.Unlock()
		if resp.StatusCode != http.StatusBadGateway || hits != 0 {
			t.Fatalf("a token endpoint that redirects: %d, %d requests where it pointed; want 502 and none", resp.StatusCode, hits)
		}
		assertNobodySignedIn(t, ts, b)
	})

	t.Run("a huge answer", func(t *testing.T) {
		ts, fake := fakeUpstreamServer(t)
		fake.set(func(f *fakeUpstream) {
			f.token = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"`))
				chunk := strings.Repeat("a", 64<<10)
				for range (upstream.MaxAnswerBytes / len(chunk)) * 4 {
					if _, err := io.WriteString(w, chunk); err != nil {
						return true
					}
				}
				w.Write([]byte(`"}`))
				return true
			}
		})
		b := ts.browser()
		resp := b.throughFake("/login")
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("a 4 MiB token response: %d, want 502", resp.StatusCode)
		}
	})

	t.Run("a huge discovery document", func(t *testing.T) {
		// Valid, and 4 MiB: go-oidc reads it whole, so only the bound in
		// the transport stops it.
		ts, fake := fakeUpstreamServer(t)
		fake.set(func(f *fakeUpstream) {
			f.discovery = func(md map[string]any) { md["padding"] = strings.Repeat("a", 4*upstream.MaxAnswerBytes) }
		})
		b := ts.browser()
		form := formValues(t, body(t, b.get("/login")))
		resp := b.post("/upstream/fake/start", form)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("a 4 MiB discovery document: %d, want 502", resp.StatusCode)
		}
	})

	t.Run("a slow upstream", func(t *testing.T) {
		ts, fake := fakeUpstreamServer(t)
		fake.set(func(f *fakeUpstream) {
			f.token = func(w http.ResponseWriter, r *http.Request) bool {
				select {
				case <-r.Context().Done():
				case <-time.After(time.Minute):
				}
				return true
			}
		})
		b := ts.browser()
		began := time.Now()
		resp := b.throughFake("/login")
		resp.Body.Close()
		if took := time.Since(began); resp.StatusCode != http.StatusBadGateway || took > upstream.RequestTimeout+10*time.Second {
			t.Fatalf("a token endpoint that never answers: %d after %v; want 502 within %v", resp.StatusCode, took, upstream.RequestTimeout+10*time.Second)
		}
	})

	t.Run("at most MaxInFlight at once", func(t *testing.T) {
		ts, fake := fakeUpstreamServer(t)
		release := make(chan struct{})
		fake.set(func(f *fakeUpstream) {
			f.token = func(w http.ResponseWriter, r *http.Request) bool {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return false
			}
		})
		const extra = 4
		const n = upstream.MaxInFlight + extra
		callbacks := make([]*url.URL, n)
		browsers := make([]*browser, n)
		for i := range n {
			browsers[i] = ts.browser()
			callbacks[i] = location(t, browsers[i].get(browsers[i].upstreamStart("/login", "fake").String()))
		}
		start := make(chan struct{})
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				resp := browsers[i].get(callbacks[i].String())
				resp.Body.Close()
				statuses <- resp.StatusCode
			})
		}
		close(start)
		busy := 0
		for busy < extra {
			if s := <-statuses; s == http.StatusServiceUnavailable {
				busy++
			} else {
				t.Fatalf("an answer before the upstream was released: %d", s)
			}
		}
		close(release)
		wg.Wait()
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if fake.maxInFlight > upstream.MaxInFlight || fake.tokenRequests != upstream.MaxInFlight {
			t.Fatalf("%d at the upstream at once, %d in all; want at most %d, and %d busy", fake.maxInFlight, fake.tokenRequests, upstream.MaxInFlight, extra)
		}
	})
}

// TestUpstreamConfig: the upstreams come from IMAGEHOST_UPSTREAMS and a
// variable per setting, or from -upstream flags, which win.
func TestUpstreamConfig(t *testing.T) {
	env := map[string]string{
		"IMAGEHOST_UPSTREAMS":                          "corporate, partner-sso",
		"IMAGEHOST_UPSTREAM_CORPORATE_ISSUER":          "http://localhost:9091",
		"IMAGEHOST_UPSTREAM_CORPORATE_CLIENT_ID":       "imagehost",
		"IMAGEHOST_UPSTREAM_CORPORATE_CLIENT_SECRET":   "a-secret-of-sixteen-or-more",
		"IMAGEHOST_UPSTREAM_CORPORATE_DISPLAY_NAME":    "Corporate SSO",
		"IMAGEHOST_UPSTREAM_PARTNER_SSO_ISSUER":        "https://sso.partner.example",
		"IMAGEHOST_UPSTREAM_PARTNER_SSO_CLIENT_ID":     "ih",
		"IMAGEHOST_UPSTREAM_PARTNER_SSO_CLIENT_SECRET": "another-secret-0123456789",
	}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig([]string{"-upstream", "partner-sso.display_name=Partner", "-upstream", "corporate.client_id=flagged"}, getenv, io.Discard)
	must(t, err)
	want := []upstream.Config{
		{Name: "corporate", DisplayName: "Corporate SSO", Issuer: "http://localhost:9091", ClientID: "flagged", ClientSecret: "a-secret-of-sixteen-or-more"},
		{Name: "partner-sso", DisplayName: "Partner", Issuer: "https://sso.partner.example", ClientID: "ih", ClientSecret: "another-secret-0123456789"},
	}
	if !slices.Equal(c.Upstreams, want) {
		t.Fatalf("upstreams = %+v", c.Upstreams)
	}
	c.Issuer = "http://127.0.0.1:9090"
	must(t, c.Validate())

	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"http beyond loopback":   {env: map[string]string{"IMAGEHOST_UPSTREAMS": "x", "IMAGEHOST_UPSTREAM_X_ISSUER": "http://sso.example", "IMAGEHOST_UPSTREAM_X_CLIENT_ID": "c", "IMAGEHOST_UPSTREAM_X_CLIENT_SECRET": "0123456789abcdef"}},
		"no client secret":       {env: map[string]string{"IMAGEHOST_UPSTREAMS": "x", "IMAGEHOST_UPSTREAM_X_ISSUER": "https://sso.example", "IMAGEHOST_UPSTREAM_X_CLIENT_ID": "c"}},
		"no issuer":              {args: []string{"-upstream", "x.client_id=c"}},
		"an issuer with a query": {args: []string{"-upstream", "x.issuer=https://sso.example?a=b", "-upstream", "x.client_id=c", "-upstream", "x.client_secret=0123456789abcdef"}},
		"a name with a slash":    {env: map[string]string{"IMAGEHOST_UPSTREAMS": "a/b"}},
		"ImageHost itself":       {args: []string{"-upstream", "x.issuer=http://127.0.0.1:9090", "-upstream", "x.client_id=c", "-upstream", "x.client_secret=0123456789abcdef"}},
	} {
		c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil {
			c.Issuer = "http://127.0.0.1:9090"
			err = c.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parseConfig([]string{"-upstream", "x.colour=blue"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("an unknown setting was accepted")
	}
	// An upstream on this machine, for an ImageHost the network reaches.
	c.Addr, c.Issuer = "0.0.0.0:9090", "http://192.0.2.10:9090"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "corporate") {
		t.Errorf("a loopback upstream for an ImageHost on the network: %v", err)
	}
}

// TestDemoCorporateSSO: an ImageHost told to play the demo's Corporate SSO
// seeds its users and one client, ImageHost, and nothing of
// PhotoEditorApp's; it runs on loopback only, and its published client
// secret is good for local requests only.
func TestDemoCorporateSSO(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "imagehost.db"))
	must(t, err)
	defer st.Close()
	cfg, err := parseConfig([]string{"-demo", "-demo-users", "carol:corporate", "-demo-sso-redirect-uri", "http://127.0.0.1:9090/upstream/corporate/callback",
		"-demo-sso-client-secret", "demo-corporate-sso-secret-not-for-production", "-addr", "127.0.0.1:9091"}, func(string) string { return "" }, io.Discard)
	must(t, err)
	must(t, cfg.Validate())
	cfg, secrets, err := withDemoSecrets(cfg)
	must(t, err)
	var out strings.Builder
	must(t, seedDemo(ctx, cfg, st, secrets, &out))
	sso, err := st.ClientByID(ctx, demoSSOClientID)
	must(t, err)
	if !slices.Equal(sso.RedirectURIs, []string{"http://127.0.0.1:9090/upstream/corporate/callback"}) || sso.Public() || sso.Scope != "openid profile email" {
		t.Fatalf("ImageHost's client at the SSO: %+v", sso)
	}
	if _, err := st.ClientByID(ctx, demoAppClientID); err == nil {
		t.Fatal("the Corporate SSO seeded PhotoEditorApp's client")
	}
	if _, err := st.UserByUsername(ctx, "carol"); err != nil {
		t.Fatalf("carol: %v", err)
	}
	if p := publishedSecretsOf(cfg); p.clientSecrets[demoSSOClientID] != "demo-corporate-sso-secret-not-for-production" {
		t.Fatal("the SSO's published client secret is not refused beyond this machine")
	}
	cfg.Addr = "0.0.0.0:9091"
	if err := cfg.Validate(); err == nil {
		t.Fatal("the Corporate SSO started beyond loopback")
	}
}

// TestUpstreamDiscoveryIsNotHammered: while the provider's discovery fails,
// sign-ins fail at once for upstream.RetryDiscoveryAfter, without asking it
// again each time.
func TestUpstreamDiscoveryIsNotHammered(t *testing.T) {
	ts, fake := fakeUpstreamServer(t)
	var mu sync.Mutex
	asked := 0
	fake.set(func(f *fakeUpstream) {
		f.discovery = func(md map[string]any) {
			mu.Lock()
			asked++
			mu.Unlock()
			md["issuer"] = "https://someone-else.example" // refused by go-oidc
		}
	})
	b := ts.browser()
	form := formValues(t, body(t, b.get("/login")))
	start := func() int {
		resp := b.post("/upstream/fake/start", form)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 5 {
		if s := start(); s != http.StatusBadGateway {
			t.Fatalf("a provider whose discovery fails: %d, want 502", s)
		}
	}
	mu.Lock()
	if asked != 1 {
		t.Fatalf("5 sign-ins within %v asked the provider %d times, want once", upstream.RetryDiscoveryAfter, asked)
	}
	mu.Unlock()
	ts.clock.advance(upstream.RetryDiscoveryAfter)
	start()
	mu.Lock()
	defer mu.Unlock()
	if asked != 2 {
		t.Fatalf("after %v the provider was asked %d times in all, want twice", upstream.RetryDiscoveryAfter, asked)
	}
}

// TestUsernamesFromAnUpstream: a new account's username is made of the
// provider's suggestion in plain ASCII, and never a taken one.
func TestUsernamesFromAnUpstream(t *testing.T) {
	for _, tc := range []struct {
		suggested []string
		want      string
	}{
		{[]string{"carol"}, "carol"},
		{[]string{"Carol.Smith"}, "carol.smith"},
		{[]string{"carol@corp.example"}, "carol.corp.example"},
		{[]string{"Carol Smith"}, "carol.smith"},
		{[]string{"аlice"}, "lice"}, // a Cyrillic а is dropped, never kept as a look-alike
		{[]string{"<script>", "Dave"}, "script"},
		{[]string{"...", "  "}, "user"},
		{[]string{"", "Eve"}, "eve"},
		{[]string{strings.Repeat("x", 100)}, strings.Repeat("x", 32)},
	} {
		if got := usernameFrom(tc.suggested...); got != tc.want {
			t.Errorf("usernameFrom(%q) = %q, want %q", tc.suggested, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for try := range maxUsernameTries {
		name := usernameCandidate("carol", try)
		if seen[name] || !strings.HasPrefix(name, "carol") || len(name) > maxUsernameLength {
			t.Fatalf("candidate %d: %q", try, name)
		}
		seen[name] = true
	}
}

// TestUpstreamSignInForADevice: a user who signs in through an upstream on
// the device page answers for the device, and the device's ID token says
// how they signed in.
func TestUpstreamSignInForADevice(t *testing.T) {
	ts, fake := fakeUpstreamServer(t)
	addDeviceClients(t, ts)
	must(t, ts.store.LinkUpstream(context.Background(), store.UpstreamLink{Issuer: fake.URL, Subject: "carol-at-fake", UserID: "sub-bob", Upstream: "fake"}))
	da := startDevice(t, ts, cliID, "", "openid photos.read")
	b := ts.browser()
	form := formValues(t, body(t, b.get("/device")))
	form.Set("user_code", da.UserCode)
	login := location(t, b.post("/device", form))
	if back := location(t, b.throughFake(login.String())); back.Path != "/device" {
		t.Fatalf("after the upstream sign-in: %s, want the device page", back)
	}
	form = formValues(t, body(t, b.get("/device")))
	form.Set("user_code", da.UserCode)
	page := body(t, b.post("/device", form))
	form = formValues(t, page)
	form.Set("user_code", da.UserCode)
	form.Set("decision", "allow")
	if resp := b.post("/device/decision", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("allow: %d", resp.StatusCode)
	}
	ts.clock.advance(time.Duration(da.Interval) * time.Second)
	tr := pollTokens(t, ts, cliID, "", da.DeviceCode)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tr.IDToken, ".")[1])
	must(t, err)
	var claims struct {
		Sub string   `json:"sub"`
		AMR []string `json:"amr"`
		IDP string   `json:"idp"`
	}
	must(t, json.Unmarshal(payload, &claims))
	if claims.Sub != "sub-bob" || claims.IDP != fake.URL || !slices.Equal(claims.AMR, []string{"fed", "pwd", "otp"}) {
		t.Fatalf("the device's ID token: %+v", claims)
	}
}

// TestUpstreamClaimsThatAreNotTextOnPostgres: an upstream's ID token may
// carry, in the claims ImageHost keeps, anything a JSON string can: a NUL
// (\u0000), which PostgreSQL's text cannot hold, or other control
// characters. Kept as they came, every sign-in of that user would fail
// with a 500 at the callback. Cleaned, the user makes an account, signs in
// again, and the names keep their text; a verified address that is not
// text is no address, and is not kept.
func TestUpstreamClaimsThatAreNotTextOnPostgres(t *testing.T) {
	for _, tc := range []struct {
		name            string
		claims          map[string]any
		wantName, email string
	}{
		{"a NUL in name", map[string]any{"name": "Carol\x00Fake"}, "CarolFake", ""},
		{"a NUL in preferred_username", map[string]any{"preferred_username": "ca\x00rol", "name": ""}, "carol", ""},
		{"control characters in name", map[string]any{"name": "Carol\x1b[31m\u0085 Fake"}, "Carol[31m Fake", ""},
		{"a NUL in a verified email", map[string]any{"email": "c\x00@x.org", "email_verified": true}, "Carol", ""},
		{"a verified email that is text", map[string]any{"email": "carol@x.org", "email_verified": true}, "Carol", "carol@x.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeUpstream(t, time.Now)
			dbURL := newPostgresDatabase(t)
			ts := newTestServerOn(t, openPostgres(t, dbURL, nil), fakeConfig(fake), func(c *Config) { c.DatabaseURL = dbURL })
			claims := map[string]any{"sub": "carol-at-fake", "preferred_username": "carol", "name": "Carol"}
			maps.Copy(claims, tc.claims)
			fake.set(func(f *fakeUpstream) { f.now = ts.clock.now; f.claims = claims })

			b := ts.browser()
			resp := b.throughFake("/login")
			if resp.StatusCode != http.StatusSeeOther || location(t, resp).Path != "/upstream/link" {
				t.Fatalf("callback: %s, want 303 to /upstream/link", resp.Status)
			}
			if resp := b.chooseNewAccount(); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("new account: %s", resp.Status)
			}
			u, err := ts.store.UserByUpstream(context.Background(), fake.URL, "carol-at-fake")
			must(t, err)
			if u.Name != tc.wantName || u.Email != tc.email || !store.Text(u.Username) || strings.ContainsRune(u.Username, 0) {
				t.Fatalf("the account: name %q email %q username %q, want name %q email %q", u.Name, u.Email, u.Username, tc.wantName, tc.email)
			}
			// The next sign-in goes straight through.
			b = ts.browser()
			if resp := b.throughFake("/login"); resp.StatusCode != http.StatusSeeOther || location(t, resp).Path == "/upstream/link" {
				t.Fatalf("the next sign-in: %s to %s", resp.Status, resp.Header.Get("Location"))
			}
			if logs := ts.logs.String(); strings.Contains(logs, "level=ERROR") {
				t.Errorf("errors in the log:\n%s", logs)
			}
		})
	}
}
