package main

import (
	"bufio"
	"context"
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
)

// The demo's published values, as in demo.env.
var publishedDemo = map[string]string{
	"IMAGEHOST_DEMO":                      "true",
	"IMAGEHOST_DEMO_USERS":                "alice:wonderland,bob:builder",
	"IMAGEHOST_DEMO_APP_CLIENT_SECRET":    "demo-photoeditorapp-secret-not-for-production",
	"IMAGEHOST_DEMO_M2M_CLIENT_SECRET":    "demo-photo-sync-secret-not-for-production",
	"IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET": "demo-photoeditorapp-expiry-secret-not-for-production",
	"IMAGEHOST_INITIAL_ACCESS_TOKEN":      "demo-registration-token-not-for-production",
}

// serveDemo runs ImageHost through run on addr with the published demo
// values and dataDir, and extra variables (name, value, ...), until the test
// ends or stop is called. It returns the URL to reach it at and what it
// printed on start.
func serveDemo(t *testing.T, addr, dataDir string, extra ...string) (base, printed string, stop func()) {
	t.Helper()
	vars := map[string]string{"IMAGEHOST_ADDR": addr, "IMAGEHOST_DATA_DIR": dataDir, "IMAGEHOST_LOG_LEVEL": "warn"}
	for k, v := range publishedDemo {
		vars[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, func(k string) string { return vars[k] }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	var seen strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if m := regexp.MustCompile(`listening on http://\S+:(\d+)`).FindStringSubmatch(sc.Text()); m != nil {
			base = "http://127.0.0.1:" + m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	if base == "" {
		stop()
		t.Fatalf("ImageHost did not start:\n%s", seen.String())
	}
	return base, seen.String(), stop
}

// envFile reads KEY=VALUE lines.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out
}

// signInStatus posts the login form and returns the answer's status.
func signInStatus(t *testing.T, base, user, pw string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form := formValues(t, body(t, resp))
	form.Set("username", user)
	form.Set("password", pw)
	resp, err = c.PostForm(base+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func clientCredentialsStatus(t *testing.T, base, id, secret string) int {
	t.Helper()
	resp := postBasic(t, base+"/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	resp.Body.Close()
	return resp.StatusCode
}

func registerStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/register",
		strings.NewReader(`{"client_name":"Attendee","redirect_uris":["http://127.0.0.1:7000/cb"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDemoOnANetworkRefusesPublishedSecrets: the demo on loopback uses
// demo.env's published values; served on a network address, ImageHost
// refuses them, generates its own, prints them once and keeps them in its
// data directory for the next start.
func TestDemoOnANetworkRefusesPublishedSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	secretsFile := filepath.Join(dir, "demo-secrets")

	// On loopback first: the published values, as in every workshop.
	base, _, stop := serveDemo(t, "127.0.0.1:0", dir)
	if status := signInStatus(t, base, "alice", "wonderland"); status != http.StatusSeeOther {
		t.Fatalf("on loopback, alice's published password: %d", status)
	}
	stop()
	if _, err := os.Stat(secretsFile); err == nil {
		t.Fatal("on loopback the demo wrote generated secrets")
	}

	published := func(base string) {
		t.Helper()
		if status := signInStatus(t, base, "alice", "wonderland"); status != http.StatusUnauthorized {
			t.Errorf("on a network, alice's published password: %d, want 401", status)
		}
		if status := clientCredentialsStatus(t, base, demoM2MClientID, publishedDemo["IMAGEHOST_DEMO_M2M_CLIENT_SECRET"]); status != http.StatusUnauthorized {
			t.Errorf("on a network, the published machine client secret: %d, want 401", status)
		}
		if status := clientCredentialsStatus(t, base, demoExpiryClientID, publishedDemo["IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET"]); status != http.StatusUnauthorized {
			t.Errorf("on a network, the published expiry client secret: %d, want 401", status)
		}
		if status := clientCredentialsStatus(t, base, demoAppClientID, publishedDemo["IMAGEHOST_DEMO_APP_CLIENT_SECRET"]); status != http.StatusUnauthorized {
			t.Errorf("on a network, the published app client secret: %d, want 401", status)
		}
		if status := registerStatus(t, base, publishedDemo["IMAGEHOST_INITIAL_ACCESS_TOKEN"]); status != http.StatusUnauthorized {
			t.Errorf("on a network, the published initial access token: %d, want 401", status)
		}
	}
	var generated map[string]string
	generatedWork := func(base string) {
		t.Helper()
		for _, entry := range strings.Split(generated["IMAGEHOST_DEMO_USERS"], ",") {
			user, pw, _ := strings.Cut(entry, ":")
			if status := signInStatus(t, base, user, pw); status != http.StatusSeeOther {
				t.Errorf("on a network, %s's generated password: %d", user, status)
			}
		}
		if status := clientCredentialsStatus(t, base, demoM2MClientID, generated["IMAGEHOST_DEMO_M2M_CLIENT_SECRET"]); status != http.StatusOK {
			t.Errorf("on a network, the generated machine client secret: %d", status)
		}
		if status := clientCredentialsStatus(t, base, demoExpiryClientID, generated["IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET"]); status != http.StatusOK {
			t.Errorf("on a network, the generated expiry client secret: %d", status)
		}
		if status := registerStatus(t, base, generated["IMAGEHOST_INITIAL_ACCESS_TOKEN"]); status != http.StatusCreated {
			t.Errorf("on a network, the generated initial access token: %d", status)
		}
	}

	// On a network address: generated, printed, kept.
	base, printed, stop := serveDemo(t, "0.0.0.0:0", dir)
	info, err := os.Stat(secretsFile)
	if err != nil {
		t.Fatalf("on a network, no generated secrets: %v\n%s", err, printed)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", secretsFile, info.Mode().Perm())
	}
	generated = envFile(t, secretsFile)
	for _, v := range publishedDemo {
		if v != "true" && strings.Contains(printed, v) {
			t.Errorf("on a network, the output shows the published value %q:\n%s", v, printed)
		}
	}
	for _, k := range demoSecretsKeys {
		if generated[k] == "" {
			t.Fatalf("%s lacks %s", secretsFile, k)
		}
	}
	if generated["PHOTOEDITOR_CLIENT_SECRET"] != generated["IMAGEHOST_DEMO_APP_CLIENT_SECRET"] ||
		generated["PHOTOEDITOR_EXPIRY_CLIENT_SECRET"] != generated["IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET"] {
		t.Error("the app's client secrets in the file are not the ones ImageHost registered")
	}
	alicePassword := strings.TrimPrefix(strings.Split(generated["IMAGEHOST_DEMO_USERS"], ",")[0], "alice:")
	if !strings.Contains(printed, alicePassword) || !strings.Contains(printed, generated["IMAGEHOST_DEMO_APP_CLIENT_SECRET"]) {
		t.Errorf("the generated values are not printed:\n%s", printed)
	}
	published(base)
	generatedWork(base)
	stop()

	// Restarted on a network: the same generated values, not printed again.
	base, printed, _ = serveDemo(t, "0.0.0.0:0", dir)
	if strings.Contains(printed, alicePassword) || !strings.Contains(printed, secretsFile) {
		t.Errorf("on restart the output should point to %s, not print the secrets again:\n%s", secretsFile, printed)
	}
	if again := envFile(t, secretsFile); again["IMAGEHOST_DEMO_USERS"] != generated["IMAGEHOST_DEMO_USERS"] {
		t.Error("a restart changed the generated secrets")
	}
	published(base)
	generatedWork(base)
}
