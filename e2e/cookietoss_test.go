package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"oauthdemo/e2e/harness"
)

// The cookie-tossing PoCs of the security review, in a real browser. The
// attacker's page runs on another port of the victim's server's host: same
// site, another origin. Cookies know no ports, so its script can set cookies
// the server reads, at a longer path than the server's own, and its form
// posts carry the victim's SameSite=Lax cookies. What the page plants is
// everything the attacker's own visit to the server gave them.

// attackerSite serves the attacker's pages: page(path) is the HTML at path.
// It listens on 127.0.0.1, ImageHost's host; the app's pages are opened
// as localhost, the app's.
type attackerSite struct {
	srv   *httptest.Server
	pages map[string]string
	hits  chan string // the URLs of requests to /cb, the attacker's redirect URI
}

func newAttackerSite(t *testing.T) *attackerSite {
	s := &attackerSite{pages: map[string]string{}, hits: make(chan string, 4)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			s.hits <- r.URL.String()
			io.WriteString(w, "thanks")
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, s.pages[r.URL.Path])
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// tossingPage plants cookies by script and posts form to action.
func tossingPage(cookies []*http.Cookie, path, action string, form url.Values) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `<!doctype html><form id="f" method="post" action="%s">`, html.EscapeString(action))
	for k, vs := range form {
		for _, v := range vs {
			fmt.Fprintf(&sb, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
	}
	sb.WriteString("</form><script>\n")
	for _, c := range cookies {
		fmt.Fprintf(&sb, "document.cookie = %q;\n", c.Name+"="+c.Value+"; path="+path)
	}
	// Posted once the page has loaded, so that the browser's navigation to
	// it has ended first.
	sb.WriteString(`addEventListener("load", () => setTimeout(() => document.getElementById("f").submit(), 50));</script>`)
	return sb.String()
}

// attackerVisit is what the attacker's own client gets from a page: the
// cookies the server set (but a login session) and the page's form.
func attackerVisit(t *testing.T, client *http.Client, page string) ([]*http.Cookie, url.Values) {
	t.Helper()
	form, err := harness.Form(context.Background(), client, page)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(page)
	var planted []*http.Cookie
	for _, c := range client.Jar.Cookies(u) {
		if !strings.Contains(c.Name, "session") {
			planted = append(planted, c)
		}
	}
	return planted, form
}

// waitLeaves waits until the browser has left the attacker's page (the
// form was posted and answered: by the server, or by a redirect to the
// attacker's /cb), and returns where it is.
func (b *browser) waitLeaves(site string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if loc := b.location(); !strings.HasPrefix(loc, site) || strings.HasPrefix(loc, site+"/cb") {
			b.do("the answer", chromedp.WaitReady(chromedp.CSS("body")))
			return b.location()
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatal("the attacker's form was never posted")
	return ""
}

func TestCookieTossingInABrowser(t *testing.T) {
	ih, app := harness.Pair(t)
	site := newAttackerSite(t)
	attackerBase := site.srv.URL // http://127.0.0.1:<port>, another port of ImageHost's host

	t.Run("login CSRF at ImageHost", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		cookies, form := attackerVisit(t, &http.Client{Jar: jar}, ih.URL+"/login")
		form.Set("username", "alice") // the attacker's own account
		form.Set("password", "wonderland")
		site.pages["/login-csrf"] = tossingPage(cookies, "/login", ih.URL+"/login", form)

		b := newBrowser(t)
		b.do("the victim has been to ImageHost", chromedp.Navigate(ih.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#username")))
		b.do("the victim opens the attacker's page", chromedp.Navigate(attackerBase+"/login-csrf"))
		at := b.waitLeaves(attackerBase)
		b.do("the victim's account page", chromedp.Navigate(ih.URL+"/account"), chromedp.WaitReady(chromedp.CSS("body")))
		if loc := b.location(); !strings.HasPrefix(loc, ih.URL+"/login") {
			t.Fatalf("after the attacker's page (which led to %s), ImageHost's /account shows %s: the victim's browser is signed in to the attacker's account", at, loc)
		}
	})

	t.Run("consent for the attacker's application", func(t *testing.T) {
		// The attacker registers an application whose redirect URI is
		// theirs, and starts an authorization request for it.
		req, _ := http.NewRequest(http.MethodPost, ih.URL+"/register", strings.NewReader(fmt.Sprintf(
			`{"client_name":"Totally Legit","redirect_uris":["%s/cb"],"grant_types":["authorization_code","refresh_token"]}`, attackerBase)))
		req.Header.Set("Authorization", "Bearer "+harness.InitialAccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var client struct {
			ID string `json:"client_id"`
		}
		json.NewDecoder(resp.Body).Decode(&client)
		resp.Body.Close()
		if client.ID == "" {
			t.Fatalf("register: %s", resp.Status)
		}
		jar, _ := cookiejar.New(nil)
		attacker := &http.Client{Jar: jar}
		conf := oauth2.Config{ClientID: client.ID, RedirectURL: attackerBase + "/cb", Scopes: []string{"openid", "photos.read", "photos.write", "offline_access"},
			Endpoint: oauth2.Endpoint{AuthURL: ih.URL + "/authorize"}}
		cookies, form := attackerVisit(t, attacker, conf.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if form.Get("request") == "" {
			t.Fatal("the attacker's authorization request has no pending request id")
		}
		allow := url.Values{"csrf_token": form["csrf_token"], "request": form["request"], "decision": {"allow"}}
		site.pages["/cute-cats"] = tossingPage(cookies, "/consent", ih.URL+"/consent", allow)

		b := newBrowser(t)
		b.do("bob opens ImageHost", chromedp.Navigate(ih.URL+"/login"))
		b.signIn("bob", "builder")
		b.do("bob is signed in", chromedp.WaitVisible(chromedp.CSS("p.muted strong")))
		if who := b.text("p.muted strong"); who != "bob" {
			t.Fatalf("signed in as %q", who)
		}
		b.do("bob opens the attacker's page", chromedp.Navigate(attackerBase+"/cute-cats"))
		at := b.waitLeaves(attackerBase)
		select {
		case hit := <-site.hits:
			t.Fatalf("the attacker's redirect URI was sent %s", regexp.MustCompile(`code=[^&]+`).ReplaceAllString(hit, "code=…"))
		case <-time.After(500 * time.Millisecond):
		}
		if !strings.HasPrefix(at, ih.URL) {
			t.Fatalf("bob's browser ended at %s", at)
		}
	})

	t.Run("a form of PhotoEditorApp", func(t *testing.T) {
		// The app's pages at localhost:<port>; the attacker's at
		// localhost:<another port>: same site.
		attackerApp := strings.Replace(attackerBase, "127.0.0.1", "localhost", 1)
		jar, _ := cookiejar.New(nil)
		cookies, _ := attackerVisit(t, &http.Client{Jar: jar}, app.URL+"/")
		site.pages["/app-toss"] = tossingPage(append(cookies, &http.Cookie{Name: "photoeditor_csrf", Value: "chosen-by-the-attacker"}),
			"/connect", app.URL+"/connect", url.Values{"_csrf": {"chosen-by-the-attacker"}})

		b := newBrowser(t)
		b.do("the victim opens the app", chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#connect")))
		b.do("the victim opens the attacker's page", chromedp.Navigate(attackerApp+"/app-toss"))
		at := b.waitLeaves(attackerApp)
		if !strings.HasPrefix(at, app.URL) {
			t.Fatalf("the attacker's post of Connect sent the victim's browser to %s", at)
		}
		if title := get(b, "title", chromedp.Title()); !strings.Contains(title, "another site") {
			t.Fatalf("the attacker's post of Connect was answered with %q", title)
		}
	})
}
