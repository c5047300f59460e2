package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"oauthdemo/e2e/harness"
)

// TestLegacyGrantsInABrowser runs both parties in lab mode and the legacy
// connects of PhotoEditorApp's lab page in Chromium. The implicit grant is
// refused until ImageHost's lab page turns its refusal off; then the token
// arrives in the landing page's fragment, the page's "third-party" script
// reads it and sends it home, the address stays in the browser's history,
// and the inspector shows the token the script took (in full only with
// Reveal). The password grant's form takes alice's password, and the
// inspector shows it in the app's own recording (in full only with Reveal).
func TestLegacyGrantsInABrowser(t *testing.T) {
	appPort := harness.FreePort(t)
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	imageHost := harness.ImageHost(t, appURL, "IMAGEHOST_LAB=true")
	app := harness.App(t, appPort, imageHost.URL, "PHOTOEDITOR_LAB=true")
	b := newBrowser(t)

	// waitFor asks js of the page until it is true. Navigation replaces the
	// page under the question, which then fails: ask again until the
	// deadline.
	waitFor := func(what, js string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("document.readyState === 'complete' && ("+js+")")); err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened; the page says:\n%s", what, b.text("body"))
			}
		}
	}
	// flash waits for the message a demonstration ends with.
	flash := func(want string) {
		t.Helper()
		waitFor(fmt.Sprintf("the message %q", want), fmt.Sprintf("[...document.querySelectorAll('.flash')].some(e => e.innerText.includes(%q))", want))
	}
	// implicitConnect presses the lab page's implicit connect, signs in
	// and allows at ImageHost if asked to, then waits on the landing page
	// until its scripts have run.
	implicitConnect := func(allow bool) {
		t.Helper()
		b.do("implicit connect", chromedp.Navigate(app.URL+"/lab"), chromedp.Click(chromedp.CSS("#legacy-implicit-connect")))
		if allow {
			b.signIn("alice", "wonderland")
			b.do("allow", chromedp.WaitVisible(chromedp.CSS("button[value=allow]")), chromedp.Click(chromedp.CSS("button[value=allow]")))
		}
		waitFor("the landing page's scripts", `document.getElementById('use-token')?.disabled === false && document.getElementById('analytics-beacon')?.complete === true`)
	}

	// ImageHost's refusal on: it answers at once, with an error in the
	// fragment.
	implicitConnect(false)
	b.do("hand the answer over", chromedp.Click(chromedp.CSS("#use-token")))
	flash("Implicit grant: ImageHost refused: unsupported_response_type")

	for _, d := range []string{"refuse-implicit", "refuse-password"} {
		b.do("turn off "+d, chromedp.Navigate(imageHost.URL+"/lab"), chromedp.Click(chromedp.CSS("#off-"+d)),
			chromedp.WaitVisible(chromedp.CSS("#on-"+d)))
	}

	// The implicit grant: the token in the fragment.
	implicitConnect(true)
	fragment, _ := url.ParseQuery(strings.TrimPrefix(get(b, "location.hash", chromedp.Evaluate[string]("location.hash")), "#"))
	token := fragment.Get("access_token")
	if token == "" || fragment.Has("refresh_token") || fragment.Has("code") {
		t.Fatalf("the landing page's fragment holds %v: want an access token, and no refresh token or code", fragment)
	}
	if shown := b.text("#fragment-params"); !strings.Contains(shown, "access_token") || !strings.Contains(shown, token[:12]) {
		t.Fatalf("the page's script shows %q, not the token it read", shown)
	}
	b.do("hand the token over", chromedp.Click(chromedp.CSS("#use-token")))
	flash("Implicit grant: the token works: the photos API listed 3 photo(s).")
	section := b.text("#legacy-implicit")
	for _, want := range []string{"A script the page loaded read it.", "It is in your browser's history.", "No refresh token.",
		"No client authentication.", "No way to detect injection.", "RFC 9700 §2.1.2", "What the modern flow does instead"} {
		if !strings.Contains(section, want) {
			t.Errorf("the inspector's implicit section lacks %q:\n%s", want, section)
		}
	}
	if strings.Contains(section, token) {
		t.Error("the inspector shows the token without Reveal")
	}
	if !strings.Contains(get(b, "analytics exchange", chromedp.Evaluate[string](
		`[...document.querySelectorAll('article[data-step="I"] .note')].map(n => n.innerText).join("\n")`)), "ImageHost listed 3 photo(s)") {
		t.Error("the inspector does not show the analytics script's owner using the token")
	}
	b.do("reveal", chromedp.Navigate(app.URL+"/flow?reveal=1"), chromedp.WaitVisible(chromedp.CSS("#legacy-implicit")))
	if !strings.Contains(b.text("#legacy-implicit"), token) {
		t.Error("Reveal does not show the token the analytics script took")
	}

	// The browser's history holds the address, token and all: going back
	// to it brings the token back into a page.
	history := get(b, "history", chromedp.NavigationEntries())
	var landing int64 = -1
	for _, e := range history.Entries {
		if strings.Contains(e.URL, "/lab/legacy/implicit#") && strings.Contains(e.URL, token) {
			landing = e.ID
		}
	}
	if landing < 0 {
		t.Fatal("the token's address is not in the browser's history")
	}
	b.do("back to the landing page", chromedp.NavigateToHistoryEntry(landing))
	if hash := get(b, "location.hash", chromedp.Evaluate[string]("location.hash")); !strings.Contains(hash, token) {
		t.Fatalf("back in the history, the address's fragment is %q", hash)
	}

	// The password grant: the app's own form takes alice's password.
	b.do("password connect", chromedp.Navigate(app.URL+"/lab"), chromedp.Click(chromedp.CSS("#legacy-password-connect")),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), "wonderland"),
		chromedp.Click(chromedp.CSS("#legacy-password-submit")))
	flash("Password grant: the token works: the photos API listed 3 photo(s).")
	section = b.text("#legacy-password")
	for _, want := range []string{"Your password passed through the app's server.", "The app sent it on to ImageHost.",
		"No consent screen.", "No MFA possible.", "RFC 9700 §2.4"} {
		if !strings.Contains(section, want) {
			t.Errorf("the inspector's password section lacks %q:\n%s", want, section)
		}
	}
	if strings.Contains(section, "wonder") {
		t.Error("the inspector shows the password, or the start of it, without Reveal")
	}
	b.do("reveal", chromedp.Navigate(app.URL+"/flow?reveal=1"), chromedp.WaitVisible(chromedp.CSS("#legacy-password")))
	if !strings.Contains(b.text("#legacy-password"), "wonderland") {
		t.Error("Reveal does not show the password in the app's recording")
	}
}
