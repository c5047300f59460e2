package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"oauthdemo/e2e/harness"
)

// TestSignInThroughCorporateSSO runs the demo's whole chain in Chromium:
// PhotoEditorApp sends the browser to ImageHost, ImageHost to the Corporate
// SSO (a second ImageHost, a process of its own), where carol signs in and
// allows ImageHost; back at ImageHost she makes her account, allows
// PhotoEditorApp, and sees her gallery. The ID token PhotoEditorApp holds
// says how she signed in, and its inspector links to ImageHost's record of
// the exchange with the Corporate SSO.
func TestSignInThroughCorporateSSO(t *testing.T) {
	sso, imageHost, app := harness.Trio(t)
	b := newBrowser(t)

	b.do("connect", chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#connect")),
		chromedp.Click(chromedp.CSS("#connect")), chromedp.WaitVisible(chromedp.CSS("button.upstream")))
	if loc := b.location(); !strings.HasPrefix(loc, imageHost.URL+"/login") {
		t.Fatalf("Connect led to %s, want ImageHost's login page", loc)
	}
	if label := b.text("button.upstream"); label != "Continue with Corporate SSO" {
		t.Fatalf("the login page offers %q", label)
	}
	b.screenshot("imagehost-login-upstream")

	// At the Corporate SSO: its own login page, then its consent for ImageHost.
	// The SSO is an ImageHost too: its login page is told from ImageHost's
	// by having no upstream of its own to offer.
	b.do("continue with Corporate SSO", chromedp.Click(chromedp.CSS("button.upstream")),
		chromedp.WaitNotPresent(chromedp.CSS("button.upstream")), chromedp.WaitVisible(chromedp.CSS("#username")))
	if loc := b.location(); !strings.HasPrefix(loc, sso.URL+"/login") {
		t.Fatalf("Continue with Corporate SSO led to %s, want the SSO's login page", loc)
	}
	b.signIn("carol", "corporate")
	b.do("the SSO's consent", chromedp.WaitVisible(chromedp.CSS("button[value=allow]")))
	if page := b.text("main"); !strings.Contains(page, "ImageHost") {
		t.Fatalf("the SSO's consent page:\n%s", page)
	}
	b.do("allow ImageHost", chromedp.Click(chromedp.CSS("button[value=allow]")), chromedp.WaitVisible(chromedp.CSS("#create-account")))

	// Back at ImageHost, the first time: a new account.
	if loc := b.location(); loc != imageHost.URL+"/upstream/link" {
		t.Fatalf("after the SSO: %s", loc)
	}
	if page := b.text("main"); !strings.Contains(page, "Welcome, Carol") || !strings.Contains(page, "PhotoEditorApp") {
		t.Fatalf("the link page:\n%s", page)
	}
	b.screenshot("imagehost-upstream-link")
	b.do("create the account", chromedp.Click(chromedp.CSS("#create-account")), chromedp.WaitVisible(chromedp.CSS("button[value=allow]")))
	if page := b.text("main"); !strings.Contains(page, "PhotoEditorApp") || !strings.Contains(page, "carol") {
		t.Fatalf("ImageHost's consent page:\n%s", page)
	}
	b.do("allow PhotoEditorApp", chromedp.Click(chromedp.CSS("button[value=allow]")), chromedp.WaitVisible(chromedp.CSS(".gallery")))
	if loc := b.location(); loc != app.URL+"/photos" {
		t.Fatalf("after consent: %s", loc)
	}
	if h := b.text("main h1"); h != "Your photos at ImageHost" {
		t.Fatalf("the gallery: %q", h)
	}
	b.assertNoTokensInPage("gallery")

	// The inspector: the ID token says how carol signed in.
	b.do("open the inspector", chromedp.Navigate(app.URL+"/flow?reveal=1"), chromedp.WaitVisible(chromedp.CSS(".diagram")))
	var id struct {
		User string   `json:"preferred_username"`
		AMR  []string `json:"amr"`
		IDP  string   `json:"idp"`
	}
	if err := json.Unmarshal([]byte(b.text("#token-ID\\ token .claims")), &id); err != nil {
		t.Fatal(err)
	}
	if id.User != "carol" || !slices.Equal(id.AMR, []string{"fed", "pwd"}) || id.IDP != sso.URL {
		t.Fatalf("the ID token: %+v, want carol, amr [fed pwd], idp %s", id, sso.URL)
	}
	// ... and links to ImageHost's log of this login, which has the
	// exchange with the Corporate SSO.
	link := get(b, "ImageHost's log of the login", chromedp.Evaluate[string](`document.querySelector('article[data-step="2"] a.imagehost-flow').href`))
	b.do("ImageHost's log of the login", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(".activity")))
	log := b.text(".activity")
	for _, want := range []string{"signed in through Corporate SSO", "PKCE verifier (S256)", "nonce matched", "iss named it (RFC 9207)", "consent given"} {
		if !strings.Contains(log, want) {
			t.Fatalf("ImageHost's log of the login lacks %q:\n%s", want, log)
		}
	}
	b.screenshot("imagehost-activity-upstream")
}
