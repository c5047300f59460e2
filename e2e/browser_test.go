// Package e2e runs both parties as real processes and drives them through
// headless Chromium, as a person would.
//
// Screenshots of the main pages are written to the directory named by
// E2E_SCREENSHOTS (go tool task screenshots), for the README.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"oauthdemo/e2e/harness"
)

// browser is a headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exec := harness.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// This machine has no network but loopback: keep Chromium from
		// trying to phone home.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

// do runs steps, failing the test on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the page when E2E_SCREENSHOTS names a directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) location() string { return get(b, "location", chromedp.Location()) }

// signIn fills ImageHost's login form.
func (b *browser) signIn(user, pw string) {
	b.t.Helper()
	b.do("sign in at ImageHost",
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
	)
	b.screenshot("imagehost-login")
	b.do("submit login", chromedp.Click(chromedp.CSS("button[type=submit]")))
}

var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.`)

// assertNoTokensInPage checks what page JavaScript could reach: no readable
// cookie, nothing JWT-like in the DOM, nothing in web storage.
func (b *browser) assertNoTokensInPage(where string) {
	b.t.Helper()
	if c := get(b, "document.cookie", chromedp.Evaluate[string]("document.cookie")); c != "" {
		b.t.Fatalf("%s: page JavaScript can read cookies: %q", where, c)
	}
	html := get(b, "page HTML", chromedp.Evaluate[string]("document.documentElement.outerHTML"))
	if m := jwtLike.FindString(html); m != "" {
		b.t.Fatalf("%s: a JWT-like string is in the DOM: %q", where, m)
	}
	if n := get(b, "web storage", chromedp.Evaluate[int]("localStorage.length + sessionStorage.length")); n != 0 {
		b.t.Fatalf("%s: %d items in web storage", where, n)
	}
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range cookies.Cookies {
		if !c.HTTPOnly {
			b.t.Fatalf("%s: cookie %s of %s is not HttpOnly", where, c.Name, c.Domain)
		}
	}
}

func TestBrowserFlow(t *testing.T) {
	const ttl = 6 * time.Second // short, so the test can wait out an access token
	imageHost, app := harness.Pair(t, "IMAGEHOST_ACCESS_TOKEN_TTL="+ttl.String())
	browserFlow(t, imageHost.URL, app.URL, ttl)
}

// browserFlow is the whole story in Chromium, at the ImageHost of issuer,
// whose access tokens live ttl, and the PhotoEditorApp at appURL, each one
// process or several behind a load balancer: connect, sign in, consent,
// the gallery, the inspector, an edit, the token's expiry and its refresh,
// and disconnect.
func browserFlow(t *testing.T, issuer, appURL string, ttl time.Duration) {
	b := newBrowser(t)

	// 1. The home page offers to connect.
	b.do("open the app", chromedp.Navigate(appURL+"/"), chromedp.WaitVisible(chromedp.CSS("#connect")))
	b.screenshot("home")

	// 2-3. Connect: to ImageHost, sign in as alice, allow.
	b.do("connect", chromedp.Click(chromedp.CSS("#connect")), chromedp.WaitVisible(chromedp.CSS("#username")))
	if loc := b.location(); !strings.HasPrefix(loc, issuer+"/login") {
		t.Fatalf("Connect led to %s, want ImageHost's login page", loc)
	}
	b.signIn("alice", "wonderland")
	b.do("consent page", chromedp.WaitVisible(chromedp.CSS("button[value=allow]")))
	if page := b.text("main"); !strings.Contains(page, "PhotoEditorApp") || !strings.Contains(page, "See your photos") {
		t.Fatalf("consent page:\n%s", page)
	}
	b.screenshot("imagehost-consent")
	b.do("allow", chromedp.Click(chromedp.CSS("button[value=allow]")))

	// 4-9. Back at the app: alice's photos, and none of bob's.
	b.do("gallery", chromedp.WaitVisible(chromedp.CSS(".gallery .photo")))
	if loc := b.location(); loc != appURL+"/photos" {
		t.Fatalf("after consent: %s", loc)
	}
	titles := b.text(".gallery")
	for _, want := range []string{"Sunset over the sea", "Garden maze", "Tea party"} {
		if !strings.Contains(titles, want) {
			t.Fatalf("alice's gallery lacks %q:\n%s", want, titles)
		}
	}
	for _, bobs := range []string{"Blueprint", "Brick wall"} {
		if strings.Contains(titles, bobs) {
			t.Fatalf("alice sees bob's photo %q", bobs)
		}
	}
	b.screenshot("photos")
	b.assertNoTokensInPage("gallery")

	// Workshop mode: the inspector shows steps 1-9 with the real values.
	b.do("open the inspector", chromedp.Navigate(appURL+"/flow?reveal=1"), chromedp.WaitVisible(chromedp.CSS(".diagram")))
	for _, step := range []string{"1", "2", "4-5", "6-7", "8-9"} {
		if n := get(b, "step "+step, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('article[data-step="%s"]').length`, step))); n == 0 {
			t.Fatalf("the inspector shows no exchange for step %s", step)
		}
	}
	paramOf := func(step, name string) string {
		return get(b, name+" of step "+step, chromedp.Evaluate[string](fmt.Sprintf(
			`(document.querySelector('article[data-step="%s"] td[data-name="%s"]') || {}).textContent || ""`, step, name)))
	}
	if code := paramOf("4-5", "code"); code == "" || code != paramOf("6-7", "code") {
		t.Fatalf("the code of step 5 (%q) is not the code redeemed in step 6 (%q)", code, paramOf("6-7", "code"))
	}
	if paramOf("2", "code_challenge_method") != "S256" || paramOf("6-7", "code_verifier") == "" {
		t.Fatal("the inspector does not show PKCE in steps 2 and 6")
	}
	idClaims := b.text("#token-ID\\ token .claims")
	atClaims := b.text("#token-access\\ token .claims")
	var idc, atc struct {
		Sub  string `json:"sub"`
		User string `json:"preferred_username"`
	}
	json.Unmarshal([]byte(idClaims), &idc)
	json.Unmarshal([]byte(atClaims), &atc)
	if idc.User != "alice" || idc.Sub == "" || idc.Sub != atc.Sub {
		t.Fatalf("ID token claims %+v, access token sub %q: want alice's sub in both", idc, atc.Sub)
	}
	if v := b.text("#token-ID\\ token p.muted"); !strings.Contains(v, "Signature verified (RS256)") {
		t.Fatalf("ID token verification: %q", v)
	}
	// ImageHost's side: the token request's entry in its activity log, and
	// the flow reference of the authorization request. The token request
	// that got the tokens is the last of step 6-7: the first asked for
	// ImageHost's DPoP nonce.
	link := get(b, "ImageHost link", chromedp.Evaluate[string](`[...document.querySelectorAll('article[data-step="6-7"] a.imagehost-log')].pop().href`))
	ref := get(b, "flow ref", chromedp.Evaluate[string](`document.querySelector('article[data-step="2"] p.small code').textContent`))
	b.screenshot("inspector")
	b.do("ImageHost's activity log", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(".activity")))
	anchor := link[strings.Index(link, "#")+1:]
	if entry := b.text("#" + anchor); !strings.Contains(entry, "tokens issued for a code") || !strings.Contains(entry, ref) {
		t.Fatalf("ImageHost's entry for the token request: %q (want it to name flow %s)", entry, ref)
	}
	b.screenshot("imagehost-activity")
	b.do("back to the inspector", chromedp.Navigate(appURL+"/flow"), chromedp.WaitVisible(chromedp.CSS(".diagram")))
	b.do("presenter view", chromedp.Navigate(appURL+"/flow?view=presenter"), chromedp.WaitVisible(chromedp.CSS(".presenter .diagram")))
	b.screenshot("inspector-presenter")
	b.assertNoTokensInPage("inspector (masked)")

	// Edit: grayscale the sunset, saved back to ImageHost.
	b.do("back to the gallery", chromedp.Navigate(appURL+"/photos"), chromedp.WaitVisible(chromedp.CSS(".gallery .photo")))
	id := get(b, "photo id", chromedp.Evaluate[string](
		`[...document.querySelectorAll('.photo')].find(e => e.textContent.includes('Sunset over the sea')).dataset.photoId`))
	b.do("open the editor", chromedp.Navigate(appURL+"/photos/"+id+"/edit"), chromedp.WaitVisible(chromedp.CSS("#op-grayscale")))
	b.do("grayscale", chromedp.Click(chromedp.CSS("#op-grayscale")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if flash := b.text(".flash"); !strings.Contains(flash, "Grayscale: saved to ImageHost") {
		t.Fatalf("after grayscale: %q", flash)
	}
	b.screenshot("edit")
	b.assertNoTokensInPage("editor")

	// The change is at ImageHost, seen through its own API by another client.
	img := photoAtImageHost(t, b, issuer, id)
	for _, p := range []image.Point{{10, 10}, {160, 100}, {300, 230}} {
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		if r != g || g != bl {
			t.Fatalf("pixel %v of the edited photo at ImageHost is not gray: %d %d %d", p, r, g, bl)
		}
	}

	// Expiry: wait out the access token, and the app refreshes it unnoticed.
	time.Sleep(ttl + time.Second)
	b.do("gallery after expiry", chromedp.Navigate(appURL+"/photos"), chromedp.WaitVisible(chromedp.CSS(".gallery .photo")))
	if ind := b.text("#token-refreshed"); !strings.Contains(ind, "refreshed") {
		t.Fatalf("no refresh indicator: %q", ind)
	}
	b.screenshot("photos-refreshed")
	b.do("inspector after refresh", chromedp.Navigate(appURL+"/flow"), chromedp.WaitVisible(chromedp.CSS(".diagram")))
	if n := get(b, "step R", chromedp.Evaluate[int](`document.querySelectorAll('article[data-step="R"]').length`)); n == 0 {
		t.Fatal("the inspector shows no refresh (step R)")
	}
	if family := b.text(".family"); !strings.Contains(family, "issued with the code") || !strings.Contains(family, "rotated") {
		t.Fatalf("the refresh token family view: %q", family)
	}

	// Disconnect: the app forgets the tokens and revokes them at ImageHost.
	b.do("disconnect", chromedp.Click(chromedp.CSS("#disconnect")), chromedp.WaitVisible(chromedp.CSS("#connect")))
	if flash := b.text(".flash"); !strings.Contains(flash, "Disconnected") {
		t.Fatalf("after disconnect: %q", flash)
	}
	b.do("photos after disconnect", chromedp.Navigate(appURL+"/photos"), chromedp.WaitVisible(chromedp.CSS("#connect")))
	if loc := b.location(); loc != appURL+"/" {
		t.Fatalf("/photos after disconnect went to %s", loc)
	}
}

// photoAtImageHost reads a photo through ImageHost's API as a different
// client: it registers one (RFC 7591), runs a code flow in the browser,
// where alice is still signed in at ImageHost, and calls the API.
func photoAtImageHost(t *testing.T, b *browser, issuer, id string) image.Image {
	t.Helper()
	codes := make(chan url.Values, 1)
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query()
		fmt.Fprint(w, "ok")
	}))
	defer catcher.Close()
	redirect := catcher.URL + "/cb"

	md, _ := json.Marshal(map[string]any{"client_name": "E2E checker", "redirect_uris": []string{redirect}, "scope": "openid photos.read"})
	req, _ := http.NewRequest("POST", issuer+"/register", bytes.NewReader(md))
	req.Header.Set("Authorization", "Bearer "+harness.InitialAccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %s", resp.Status)
	}
	var reg struct{ ClientID, ClientSecret string }
	json.NewDecoder(resp.Body).Decode(&struct {
		ID     *string `json:"client_id"`
		Secret *string `json:"client_secret"`
	}{&reg.ClientID, &reg.ClientSecret})
	resp.Body.Close()

	conf := oauth2.Config{ClientID: reg.ClientID, ClientSecret: reg.ClientSecret, RedirectURL: redirect,
		Scopes: []string{"openid", "photos.read"}, Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/token"}}
	verifier := oauth2.GenerateVerifier()
	b.do("authorize the checker", chromedp.Navigate(conf.AuthCodeURL("check", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(chromedp.CSS("button[value=allow]")), chromedp.Click(chromedp.CSS("button[value=allow]")))
	var q url.Values
	select {
	case q = <-codes:
	case <-time.After(30 * time.Second):
		t.Fatal("the checker's callback never came")
	}
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("checker exchange: %v", err)
	}
	// A static source: x/oauth2 treats a token as expired 10 s early, and
	// this test's tokens live only 6 s.
	api := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken}))
	resp, err = api.Get(issuer + "/api/photos/" + id)
	if err != nil {
		t.Fatalf("GET photo at ImageHost: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET photo at ImageHost: %s", resp.Status)
	}
	defer resp.Body.Close()
	img, _, err := image.Decode(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestAttacksFail presses each attack button of the inspector and checks
// that ImageHost's real refusal is shown, on the default demo: its access
// tokens live 5 minutes, and the expired-token button still shows one
// refused at once (the expiry client's, which lives a second).
func TestAttacksFail(t *testing.T) {
	_, app := harness.Pair(t)
	attacksFail(t, app.URL)
}

// attacksFail presses each attack button of the inspector of the
// PhotoEditorApp at appURL, connected first, and checks that ImageHost's
// real refusal is shown.
func attacksFail(t *testing.T, appURL string) {
	b := newBrowser(t)
	b.do("connect", chromedp.Navigate(appURL+"/"), chromedp.WaitVisible(chromedp.CSS("#connect")),
		chromedp.Click(chromedp.CSS("#connect")), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.signIn("alice", "wonderland")
	b.do("allow", chromedp.WaitVisible(chromedp.CSS("button[value=allow]")), chromedp.Click(chromedp.CSS("button[value=allow]")),
		chromedp.WaitVisible(chromedp.CSS(".gallery .photo")))

	// press clicks an attack's button and waits until want is on the page
	// it leads to (through redirects to ImageHost and back, for some).
	press := func(name, want string) {
		t.Helper()
		// A navigation may be refused while the last one settles: retry.
		for try := 0; ; try++ {
			err := chromedp.Do(b.ctx, chromedp.Navigate(appURL+"/flow"), chromedp.WaitVisible(chromedp.CSS("#attack-"+name)))
			if err == nil {
				break
			}
			if try == 3 {
				t.Fatalf("open the inspector for %s: %v", name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.do("attack "+name, chromedp.Click(chromedp.CSS("#attack-"+name)))
		js, _ := json.Marshal(want)
		// Only the answer's own message counts (a flash on the inspector, or
		// the app's error page): earlier attacks' notes on the inspector
		// may say the same words.
		check := chromedp.Evaluate[bool](fmt.Sprintf(
			"document.readyState === 'complete' && [...document.querySelectorAll('.flash, .error')].some(e => e.innerText.includes(%s))", js))
		// Navigation replaces the page under the check, which then fails:
		// ask again until the deadline.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if found, err := chromedp.Run(b.ctx, check); err == nil && found {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("attack %s: %q never appeared; the page says:\n%s", name, want, b.text("body"))
			}
		}
	}
	// The demonstrations that make ImageHost revoke a grant come first:
	// each runs on a grant of its own, so every one after them still shows
	// its own refusal.
	tests := []struct{ attack, want string }{
		{"replay-code", "ImageHost answered 400 invalid_grant"},
		{"reuse-refresh", "ImageHost answered 400 invalid_grant"},
		{"forged-state", "state mismatch"},
		{"mix-up", "wrong issuer"},
		{"code-injection", "no code_challenge"},
		{"wrong-verifier", "invalid_grant"},
		{"redirect-uri", "ImageHost answered 400 invalid_request"},
		{"altered-signature", "ImageHost answered 401 invalid_token"},
		{"expired-token", "ImageHost answered 401 invalid_token (the token has expired); WWW-Authenticate: Bearer"},
		{"read-token-write", "ImageHost answered 403 insufficient_scope"},
		// The app's tokens are bound to its DPoP key: a stolen one is refused.
		{"dpop-no-proof", "ImageHost answered 401 invalid_token (the access token is bound to a DPoP key"},
		{"dpop-other-key", "ImageHost answered 401 invalid_token (the DPoP proof was made with another key"},
		{"dpop-replayed-proof", "the same token and proof once more: ImageHost answered 401 invalid_dpop_proof"},
	}
	for _, tc := range tests {
		press(tc.attack, tc.want)
		if tc.attack != "forged-state" && tc.attack != "mix-up" && tc.attack != "code-injection" {
			if n := get(b, "attack exchanges", chromedp.Evaluate[int](`document.querySelectorAll('article[data-step="!"]').length`)); n == 0 {
				t.Fatalf("attack %s left no exchange in the inspector", tc.attack)
			}
		}
	}
	b.screenshot("attacks")
	// And the gallery still works.
	b.do("gallery after the attacks", chromedp.Navigate(appURL+"/photos"), chromedp.WaitVisible(chromedp.CSS(".gallery .photo")))
}
