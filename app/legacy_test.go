package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"oauthdemo/e2e/harness"
)

// newLabApp is the app in lab mode, beside ImageHost in lab mode, whose
// demo seeds the lab's legacy client for it.
func newLabApp(t *testing.T) *testApp {
	t.Helper()
	return newTestAppWith(t, func(c *Config) { c.Lab = true }, "IMAGEHOST_LAB=true")
}

// implicitConnect presses the lab page's implicit connect and signs in at
// ImageHost; it returns where ImageHost sends the browser back, the answer
// in its fragment.
func (a *testApp) implicitConnect(u *user) *url.URL {
	a.t.Helper()
	_, lab := u.get(a.URL + "/lab")
	if !strings.Contains(lab, `id="legacy-implicit-connect"`) {
		a.t.Fatal("the lab page has no implicit connect")
	}
	resp, err := u.noFollow().PostForm(a.URL+implicitPath, url.Values{"_csrf": {hidden(lab).Get("_csrf")}})
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	authURL, err := resp.Location()
	if err != nil || authURL.Query().Get("response_type") != "token" || authURL.Query().Get("client_id") != "legacy-lab" {
		a.t.Fatalf("the implicit connect answered %s %v, not a redirect to /authorize with response_type=token", resp.Status, authURL)
	}
	landing := harness.MustSignIn(a.t, u.client, authURL.String(), "alice", "wonderland")
	if landing.Path != implicitPath || landing.RawQuery != "" {
		a.t.Fatalf("ImageHost sent the browser to %s, want the landing page with the answer in its fragment", landing.Redacted())
	}
	return landing
}

// landOn does what the landing page's scripts do: the analytics script's
// beacon (unless beacon is false), then the app's own script's form, with
// the fragment. It returns the page the form leads to.
func (a *testApp) landOn(u *user, landing *url.URL, beacon bool) string {
	a.t.Helper()
	_, page := u.get(a.URL + implicitPath)
	for _, script := range []string{`src="/lab/legacy/analytics.js"`, `src="/lab/legacy/implicit.js"`} {
		if !strings.Contains(page, script) {
			a.t.Fatalf("the landing page does not load %s", script)
		}
	}
	if beacon {
		a.analyticsBeacon(u, landing.String(), "same-origin")
	}
	_, next := u.post(a.URL+implicitPath+"/token", url.Values{"_csrf": {hidden(page).Get("_csrf")}, "fragment": {landing.EscapedFragment()}})
	return next
}

// analyticsBeacon sends the analytics script's beacon for page, from a page
// whose origin relates to the app as site says (Sec-Fetch-Site).
func (a *testApp) analyticsBeacon(u *user, page, site string) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.URL+analyticsPath+"?"+url.Values{"page": {page}}.Encode(), nil)
	req.Header.Set("Sec-Fetch-Site", site)
	resp, err := u.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	readBody(a.t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" {
		a.t.Fatalf("the analytics beacon: %s %s, want a GIF", resp.Status, resp.Header.Get("Content-Type"))
	}
}

// TestNoLegacyGrantsOutsideLabMode: without lab mode the app has no legacy
// connect, no landing page, no scripts and no form.
func TestNoLegacyGrantsOutsideLabMode(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	for _, path := range []string{"/lab", implicitPath, "/lab/legacy/implicit.js", "/lab/legacy/analytics.js", analyticsPath, passwordPath} {
		if resp, _ := u.get(a.URL + path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s outside lab mode: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestLegacyImplicitInLabMode: the implicit connect, first with ImageHost's
// refusal on (refused, and the app says so), then with it off: the token
// arrives in the fragment, the analytics script's beacon carries it to its
// owner, who uses it, and the inspector shows each thing that went wrong,
// the token masked unless revealed. A beacon from another site's page
// records nothing.
func TestLegacyImplicitInLabMode(t *testing.T) {
	a := newLabApp(t)
	u := newUser(t)

	landing := a.implicitConnect(u)
	if f, _ := url.ParseQuery(landing.EscapedFragment()); f.Get("error") != "unsupported_response_type" || f.Has("access_token") {
		t.Fatalf("with ImageHost's refusal on, the fragment is %v", f)
	}
	if page := a.landOn(u, landing, false); !strings.Contains(page, "Implicit grant: ImageHost refused: unsupported_response_type") {
		t.Fatalf("the app does not show ImageHost's refusal:\n%s", page)
	}

	labFlip(t, u, a.imageHost.URL, "defence", "refuse-implicit", false)
	landing = a.implicitConnect(u)
	f, _ := url.ParseQuery(landing.EscapedFragment())
	token := f.Get("access_token")
	if token == "" || f.Has("refresh_token") {
		t.Fatalf("with ImageHost's refusal off, the fragment is %v: want an access token and no refresh token", f)
	}
	if page := a.landOn(u, landing, true); !strings.Contains(page, "Implicit grant: the token works: the photos API listed 3 photo(s).") {
		t.Fatalf("the app does not say the token worked:\n%s", page)
	}

	_, page := u.get(a.URL + "/flow")
	for _, want := range []string{`id="legacy-implicit"`, "RFC 9700 §2.1.2", "The access token is in the URL.", "It is in your browser&#39;s history.",
		"A script the page loaded read it.", "No refresh token.", "No client authentication.", "No way to detect injection.",
		"What the modern flow does instead", "ImageHost listed 3 photo(s)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the inspector lacks %q", want)
		}
	}
	if strings.Contains(page, token) {
		t.Error("the inspector shows the token unmasked without Reveal")
	}
	if _, revealed := u.get(a.URL + "/flow?reveal=1"); !strings.Contains(revealed, token) {
		t.Error("Reveal does not show the token the analytics script took")
	}

	// A state that is not this browser's: refused.
	forged, _ := url.Parse(landing.String())
	f.Set("state", "not-this-browsers")
	forged.RawFragment, forged.Fragment = f.Encode(), ""
	if page := a.landOn(u, forged, false); !strings.Contains(page, "state mismatch") {
		t.Fatalf("an answer with another state:\n%s", page)
	}

	// The beacon of another site's page, with this browser's cookie (a
	// same-site page on another port, say): nothing recorded, nothing called.
	before := strings.Count(bodyOf(u, a.URL+"/flow"), `class="exchange"`)
	a.analyticsBeacon(u, landing.String(), "cross-site")
	a.analyticsBeacon(u, landing.String(), "same-site")
	if after := strings.Count(bodyOf(u, a.URL+"/flow"), `class="exchange"`); after != before {
		t.Errorf("beacons from other sites' pages recorded %d exchanges", after-before)
	}
}

// bodyOf is the body of a GET.
func bodyOf(u *user, rawURL string) string {
	_, body := u.get(rawURL)
	return body
}

// TestLegacyPasswordInLabMode: the password form, first with ImageHost's
// refusal on, then off: the app gets a token for alice's password, and its
// own recording shows the password arriving and leaving again, masked in
// the inspector until Reveal and always in the exports.
func TestLegacyPasswordInLabMode(t *testing.T) {
	a := newLabApp(t)
	u := newUser(t)
	signIn := func() string {
		t.Helper()
		_, lab := u.get(a.URL + "/lab")
		if !strings.Contains(lab, `href="/lab/legacy/password"`) {
			t.Fatal("the lab page has no password connect")
		}
		_, form := u.get(a.URL + passwordPath)
		v := hidden(form)
		v.Set("username", "alice")
		v.Set("password", "wonderland")
		_, next := u.post(a.URL+passwordPath, v)
		return next
	}
	if next := signIn(); !strings.Contains(next, "Password grant: ImageHost answered 400 unsupported_grant_type") {
		t.Fatalf("with ImageHost's refusal on:\n%s", next)
	}
	labFlip(t, u, a.imageHost.URL, "defence", "refuse-password", false)
	if next := signIn(); !strings.Contains(next, "Password grant: the token works: the photos API listed 3 photo(s).") {
		t.Fatalf("with ImageHost's refusal off:\n%s", next)
	}

	inspector := bodyOf(u, a.URL+"/flow")
	for _, want := range []string{`id="legacy-password"`, "RFC 9700 §2.4", "Your password passed through the app&#39;s server.",
		"The app sent it on to ImageHost.", "No consent screen.", "No MFA possible.", "What the modern flow does instead"} {
		if !strings.Contains(inspector, want) {
			t.Errorf("the inspector lacks %q", want)
		}
	}
	if strings.Contains(inspector, "wonder") {
		t.Error("the inspector shows the password, or the start of it, without Reveal")
	}
	if !strings.Contains(bodyOf(u, a.URL+"/flow?reveal=1"), "wonderland") {
		t.Error("Reveal does not show the password the app's recording holds")
	}
	for _, export := range []string{"/flow/export.md", "/flow/export.har"} {
		if body := bodyOf(u, a.URL+export); !strings.Contains(body, "grant_type") || strings.Contains(body, "wonder") {
			t.Errorf("%s: want the password grant, with the password masked", export)
		}
	}
}

// TestLegacyInputsAreBounded: what the legacy demonstrations take from the
// browser has a bound; past it nothing is recorded and ImageHost is not
// asked: a fragment or a beaconed address over 8 KiB, a username over 64
// characters, a password over 1,024.
func TestLegacyInputsAreBounded(t *testing.T) {
	a := newLabApp(t)
	u := newUser(t)
	a.implicitConnect(u) // gives the browser a recording
	exchanges := func() int { return strings.Count(bodyOf(u, a.URL+"/flow"), `class="exchange"`) }
	before := exchanges()

	huge := "access_token=" + strings.Repeat("a", maxFragment)
	_, landing := u.get(a.URL + implicitPath)
	if _, next := u.post(a.URL+implicitPath+"/token", url.Values{"_csrf": {hidden(landing).Get("_csrf")}, "fragment": {huge}}); !strings.Contains(next, "too long") {
		t.Errorf("a fragment over %d bytes was taken", maxFragment)
	}
	a.analyticsBeacon(u, a.URL+implicitPath+"#"+huge, "same-origin")
	_, form := u.get(a.URL + passwordPath)
	for _, c := range []struct{ username, password string }{
		{strings.Repeat("a", maxLegacyUsername+1), "wonderland"},
		{"alice", strings.Repeat("p", maxLegacyPassword+1)},
	} {
		v := hidden(form)
		v.Set("username", c.username)
		v.Set("password", c.password)
		if _, next := u.post(a.URL+passwordPath, v); !strings.Contains(next, "Type an ImageHost username and password.") {
			t.Errorf("a username of %d and a password of %d characters were taken", len(c.username), len(c.password))
		}
	}
	if after := exchanges(); after != before {
		t.Errorf("inputs over their bounds recorded %d exchanges", after-before)
	}
}
