package e2e

// The demo served on a network address: ImageHost refuses the demo's
// configured (published) secrets and generates its own into its data
// directory; PhotoEditorApp, also on a network address, reads its client
// secret there, and the whole flow works with the generated values only.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"oauthdemo/e2e/harness"
)

var anyHiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

func TestNetworkDemo(t *testing.T) {
	ihPort, appPort := harness.FreePort(t), harness.FreePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", ihPort)
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	dataDir := t.TempDir()
	harness.ImageHostAt(t, fmt.Sprintf("0.0.0.0:%d", ihPort), dataDir, appURL, "IMAGEHOST_ISSUER="+issuer)
	secretsFile := filepath.Join(dataDir, "demo-secrets")
	data, err := os.ReadFile(secretsFile)
	if err != nil {
		t.Fatalf("ImageHost on a network address generated no secrets: %v", err)
	}
	var alicePassword string
	for _, line := range strings.Split(string(data), "\n") {
		if users, ok := strings.CutPrefix(line, "IMAGEHOST_DEMO_USERS="); ok {
			alicePassword = strings.TrimPrefix(strings.Split(users, ",")[0], "alice:")
		}
	}
	// The app is configured with the harness's demo secret, which ImageHost
	// now refuses: it must take the generated one from the file.
	harness.App(t, appPort, issuer, fmt.Sprintf("PHOTOEDITOR_ADDR=0.0.0.0:%d", appPort), "PHOTOEDITOR_DEMO_SECRETS="+secretsFile)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	page := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	hidden := func(html string) url.Values {
		v := url.Values{}
		for _, m := range anyHiddenField.FindAllStringSubmatch(html, -1) {
			if !v.Has(m[1]) {
				v.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
			}
		}
		return v
	}
	signIn := func(pw string) (*http.Response, string) {
		t.Helper()
		_, home := page(browser.Get(appURL + "/"))
		resp, login := page(browser.PostForm(appURL+"/connect", hidden(home)))
		if resp.Request.URL.Path != "/login" {
			t.Fatalf("Connect led to %s", resp.Request.URL)
		}
		form := hidden(login)
		form.Set("username", "alice")
		form.Set("password", pw)
		return page(browser.PostForm(issuer+"/login", form))
	}

	if resp, _ := signIn("wonderland"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("alice's published password on a network: %s, want 401", resp.Status)
	}
	resp, body := signIn(alicePassword)
	if resp.Request.URL.Path == "/consent" {
		form := hidden(body)
		form.Set("decision", "allow")
		resp, body = page(browser.PostForm(issuer+"/consent", form))
	}
	// The app redeemed the code with its client secret: the generated one.
	if resp.Request.URL.String() != appURL+"/photos" || resp.StatusCode != http.StatusOK || !strings.Contains(body, "Connected to ImageHost as Alice") {
		t.Fatalf("the flow ended at %s with %d:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
}
