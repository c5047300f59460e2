package e2e

// The photos command line (cmd/photos) end to end: the built binary, run as
// a user runs it, against a real ImageHost process, while headless
// Chromium does the user's part in the browser: open /device, type the
// code, sign in, allow; or, with -loopback, sign in and allow on the
// consent page the command's link opens.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"oauthdemo/e2e/harness"
)

// photosCLI runs the photos binary for one user: their own home and
// configuration directory, and ImageHost's issuer.
type photosCLI struct {
	t      *testing.T
	bin    string
	env    []string
	config string // the user's configuration directory
}

func newPhotosCLI(t *testing.T, issuer string) *photosCLI {
	home := t.TempDir()
	config := filepath.Join(home, "config")
	return &photosCLI{t: t, bin: filepath.Join(harness.Binaries(t), "photos"), config: config,
		env: append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+config, "PHOTOS_ISSUER="+issuer)}
}

// run runs one command to its end and returns its output; it fails the
// test if the command fails, unless fail is false.
func (p *photosCLI) run(wantOK bool, args ...string) (stdout, stderr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = p.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if wantOK && err != nil {
		p.t.Fatalf("photos %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	if !wantOK && err == nil {
		p.t.Fatalf("photos %s succeeded, want it to fail:\n%s", strings.Join(args, " "), out.String())
	}
	return out.String(), errOut.String()
}

// running is a command that runs while the test does the user's part.
type running struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	lines  chan string
	stderr bytes.Buffer
	done   chan error
}

// start starts a command whose output the test reads as it comes.
func (p *photosCLI) start(args ...string) *running {
	p.t.Helper()
	r := &running{cmd: exec.Command(p.bin, args...), lines: make(chan string, 100), done: make(chan error, 1)}
	r.cmd.Env = p.env
	r.cmd.Stderr = &r.stderr
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { r.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		r.done <- r.cmd.Wait()
	}()
	return r
}

// expect waits for a line of output that re matches, and returns its
// submatches.
func (r *running) expect(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-r.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %s in:\n%s", re, r.output())
		}
	}
}

func (r *running) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// wait waits for the command to end.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end:\n%s\n%s", r.output(), r.stderr.String())
		return nil
	}
}

// storedCredentials reads what the command keeps in the configuration
// directory.
type storedCredentials struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry"`
}

func (p *photosCLI) credentialsFile() string {
	return filepath.Join(p.config, "imagehost-photos", "credentials.json")
}

func (p *photosCLI) credentials() storedCredentials {
	p.t.Helper()
	data, err := os.ReadFile(p.credentialsFile())
	if err != nil {
		p.t.Fatal(err)
	}
	var c storedCredentials
	if err := json.Unmarshal(data, &c); err != nil {
		p.t.Fatal(err)
	}
	return c
}

var (
	verifyAt = regexp.MustCompile(`^To sign in, open  (\S+)$`)
	codeIs   = regexp.MustCompile(`^and enter the code  ([A-Z]{4}-[A-Z]{4})$`)
)

// TestPhotosCLI: photos login with the device grant while Chromium does the
// user's part, then list, upload, get (after the access token has expired:
// refreshed), and logout, after which ImageHost refuses both tokens.
func TestPhotosCLI(t *testing.T) {
	ih := harness.ImageHost(t, "http://localhost:8080", "IMAGEHOST_DEVICE_POLL_INTERVAL=1s")
	cli := newPhotosCLI(t, ih.URL)
	login := cli.start("login")
	verify := login.expect(t, verifyAt)[1]
	code := login.expect(t, codeIs)[1]
	if verify != ih.URL+"/device" {
		t.Fatalf("verification URI %s", verify)
	}

	b := newBrowser(t)
	b.do("open /device", chromedp.Navigate(verify), chromedp.WaitVisible(chromedp.CSS("#user_code")))
	b.screenshot("imagehost-device")
	// Typed as a person might: lower case, without the hyphen.
	b.do("type the code", chromedp.SendKeys(chromedp.CSS("#user_code"), strings.ToLower(strings.ReplaceAll(code, "-", ""))),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	b.signIn("alice", "wonderland")
	b.do("back at /device, filled in", chromedp.WaitVisible(chromedp.CSS("#user_code")))
	if v := get(b, "the code field", chromedp.Evaluate[string](`document.querySelector('#user_code').value`)); v != code {
		t.Fatalf("after signing in the form holds %q, want %s", v, code)
	}
	b.do("continue", chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("button[value=allow]")))
	page := b.text("main")
	for _, want := range []string{"Photos command line", "photos-cli", code, "See your photos", "Upload, change and delete your photos",
		"Keep access while you are away"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the confirmation page lacks %q:\n%s", want, page)
		}
	}
	b.screenshot("imagehost-device-confirm")
	b.do("allow", chromedp.Click(chromedp.CSS("button[value=allow]")), chromedp.WaitNotPresent(chromedp.CSS("button[value=allow]")))
	if h := b.text("h1"); h != "Device connected" {
		t.Fatalf("after allowing: %q", h)
	}

	if err := login.wait(t); err != nil {
		t.Fatalf("photos login: %v\n%s\n%s", err, login.output(), login.stderr.String())
	}
	if out := login.output(); !strings.Contains(out, "Signed in to "+ih.URL+" as alice") {
		t.Fatalf("photos login said:\n%s", out)
	}
	if !strings.Contains(login.stderr.String(), "Waiting for your answer at ImageHost") {
		t.Fatalf("no progress line while polling:\n%s", login.stderr.String())
	}
	// The tokens are the user's alone, and bound to a key of the
	// command's (DPoP), which is theirs alone too.
	keyFile := filepath.Join(filepath.Dir(cli.credentialsFile()), "dpop-key.pem")
	for path, want := range map[string]os.FileMode{filepath.Dir(cli.credentialsFile()): 0o700, cli.credentialsFile(): 0o600, keyFile: 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Fatalf("%s has mode %04o, want %04o", path, info.Mode().Perm(), want)
		}
	}

	creds := cli.credentials()
	if creds.TokenType != "DPoP" {
		t.Fatalf("the tokens of photos login: token_type %q, want DPoP", creds.TokenType)
	}
	// A copy of the credentials without the key is worth nothing: the
	// access token as a bearer token, the refresh token without a proof
	// of the key (RFC 9449 §5, §7.2), the credentials file elsewhere.
	stolen, _ := http.NewRequest("GET", ih.URL+"/api/photos", nil)
	stolen.Header.Set("Authorization", "Bearer "+creds.AccessToken)
	waitStatus(t, stolen, http.StatusUnauthorized)
	resp, err := http.PostForm(ih.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {creds.RefreshToken},
		"client_id": {"photos-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the refresh token without a proof of its key: %s, want 400 invalid_grant", resp.Status)
	}
	// Nor can the copy sign the user out: revoking a bound token takes a
	// proof of its key too (the commands below still work).
	for _, token := range []string{creds.RefreshToken, creds.AccessToken} {
		resp, err = http.PostForm(ih.URL+"/revoke", url.Values{"token": {token}, "client_id": {"photos-cli"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("revoking a bound token without a proof of its key: %s, want 400 invalid_dpop_proof", resp.Status)
		}
	}
	thief := newPhotosCLI(t, ih.URL)
	os.MkdirAll(filepath.Dir(thief.credentialsFile()), 0o700)
	data, _ := os.ReadFile(cli.credentialsFile())
	os.WriteFile(thief.credentialsFile(), data, 0o600)
	if _, errOut := thief.run(false, "list"); !strings.Contains(errOut, "bound to a DPoP key") {
		t.Fatalf("photos list with stolen credentials and no key: %q", errOut)
	}

	// list, with the transcript: every secret in it is masked, and the
	// proofs are shown decoded, without their signature.
	out, transcript := cli.run(true, "-v", "list")
	for _, title := range []string{"Sunset over the sea", "Garden maze", "Tea party"} {
		if !strings.Contains(out, title) {
			t.Fatalf("photos list lacks %q:\n%s", title, out)
		}
	}
	if strings.Contains(transcript, creds.AccessToken) || !strings.Contains(transcript, "Authorization: DPoP "+creds.AccessToken[:6]+"…") {
		t.Fatalf("the transcript shows the access token, or no masked one:\n%s", transcript)
	}
	for _, want := range []string{`"typ":"dpop+jwt"`, `"htm":"GET"`, "(signature not shown)", "DPoP-Nonce:", "use_dpop_nonce"} {
		if !strings.Contains(transcript, want) {
			t.Fatalf("the transcript lacks %q:\n%s", want, transcript)
		}
	}

	// upload, then get it back after the access token has expired: the
	// command refreshes it, and keeps the rotated refresh token.
	file := filepath.Join(t.TempDir(), "square.png")
	writePNG(t, file)
	out, _ = cli.run(true, "upload", "-title", "A red square", file)
	m := regexp.MustCompile(`^Uploaded (\S+): "A red square"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("photos upload said %q", out)
	}
	expired := cli.credentials()
	expired.Expiry = time.Now().Add(-time.Minute)
	rewriteCredentials(t, cli.credentialsFile(), func(raw map[string]any) { raw["expiry"] = expired.Expiry })
	got := filepath.Join(t.TempDir(), "got.png")
	cli.run(true, "get", "-o", got, "--", m[1]) // an id may begin with "-"
	sent, _ := os.ReadFile(file)
	if back, _ := os.ReadFile(got); !bytes.Equal(back, sent) {
		t.Fatal("the photo got back is not the one uploaded")
	}
	refreshed := cli.credentials()
	if refreshed.AccessToken == expired.AccessToken || refreshed.RefreshToken == expired.RefreshToken || !refreshed.Expiry.After(time.Now()) {
		t.Fatal("after its access token expired, the command did not refresh it and keep the rotated refresh token")
	}

	// logout revokes both tokens at ImageHost, with proofs of the key, and
	// forgets them, with the key. Whoever kept a copy of the key and the
	// tokens has nothing either.
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = cli.run(true, "logout")
	if !strings.Contains(out, "Signed out") {
		t.Fatalf("photos logout said %q", out)
	}
	if _, err := os.Stat(cli.credentialsFile()); !os.IsNotExist(err) {
		t.Fatalf("the credentials file is still there: %v", err)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatalf("the DPoP key is still there: %v", err)
	}
	withKey := signerFromPEM(t, keyPEM)
	deadline := time.Now().Add(time.Second)
	for {
		resp := withKey.do(t, "GET", ih.URL+"/api/photos", refreshed.AccessToken, nil)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access token, with a proof of its key, after logout: %s, want 401", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp = withKey.do(t, "POST", ih.URL+"/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken},
		"client_id": {"photos-cli"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the refresh token, with a proof of its key, after logout: %s, want 400 invalid_grant", resp.Status)
	}
	if _, errOut := cli.run(false, "list"); !strings.Contains(errOut, "not signed in") {
		t.Fatalf("photos list after logout: %q", errOut)
	}
}

// TestPhotosCLIDenied: the user denies at /device; photos login says so,
// and stores nothing.
func TestPhotosCLIDenied(t *testing.T) {
	ih := harness.ImageHost(t, "http://localhost:8080", "IMAGEHOST_DEVICE_POLL_INTERVAL=1s")
	cli := newPhotosCLI(t, ih.URL)
	login := cli.start("login")
	login.expect(t, verifyAt)
	code := login.expect(t, codeIs)[1]
	b := newBrowser(t)
	// The QR code's link: the form comes filled in.
	b.do("open the complete link", chromedp.Navigate(ih.URL+"/device?user_code="+code), chromedp.WaitVisible(chromedp.CSS("#user_code")),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	b.signIn("bob", "builder")
	b.do("continue", chromedp.WaitVisible(chromedp.CSS("#user_code")), chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("button[value=deny]")))
	b.do("deny", chromedp.Click(chromedp.CSS("button[value=deny]")), chromedp.WaitNotPresent(chromedp.CSS("button[value=deny]")))
	if err := login.wait(t); err == nil {
		t.Fatal("photos login succeeded after the user denied")
	}
	if !strings.Contains(login.stderr.String(), "you denied the request") {
		t.Fatalf("photos login said:\n%s", login.stderr.String())
	}
	if _, err := os.Stat(cli.credentialsFile()); !os.IsNotExist(err) {
		t.Fatal("a credentials file after a denial")
	}
}

// TestPhotosCLILoopback: photos login -loopback, the native-app flow of
// RFC 8252: the command's link opens ImageHost's authorization endpoint
// with PKCE, state and nonce and a redirect to the command's own loopback
// port; Chromium signs in and allows; the command takes the code there.
func TestPhotosCLILoopback(t *testing.T) {
	ih := harness.ImageHost(t, "http://localhost:8080")
	cli := newPhotosCLI(t, ih.URL)
	login := cli.start("login", "-loopback", "-no-browser")
	link := login.expect(t, regexp.MustCompile(`^\s+(http://\S+/authorize\?\S+)$`))[1]
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
		redirect.Hostname() != "127.0.0.1" || redirect.Port() == "" || redirect.Path != "/callback" {
		t.Fatalf("the sign-in link %s: want PKCE S256, state, nonce and a loopback redirect on a port of its own", link)
	}
	b := newBrowser(t)
	b.do("open the link", chromedp.Navigate(link))
	b.signIn("alice", "wonderland")
	b.do("consent", chromedp.WaitVisible(chromedp.CSS("button[value=allow]")), chromedp.Click(chromedp.CSS("button[value=allow]")),
		chromedp.WaitNotPresent(chromedp.CSS("button[value=allow]")))
	if h := b.text("h1"); h != "Signed in" {
		t.Fatalf("the command's page says %q", h)
	}
	if err := login.wait(t); err != nil {
		t.Fatalf("photos login -loopback: %v\n%s\n%s", err, login.output(), login.stderr.String())
	}
	if out, _ := cli.run(true, "list"); !strings.Contains(out, "Tea party") {
		t.Fatalf("photos list after a loopback sign-in:\n%s", out)
	}

	// Signing in again, in a browser that is signed in and has allowed
	// before, asks again: the command is a public client, which any
	// program could pretend to be (RFC 8252 §8.6), and the page names the
	// port the answer goes to. Allowed, it goes back to the command; the
	// sign-in it replaces is revoked at ImageHost.
	first := cli.credentials()
	again := cli.start("login", "-loopback", "-no-browser")
	link = again.expect(t, regexp.MustCompile(`^\s+(http://\S+/authorize\?\S+)$`))[1]
	u, _ = url.Parse(link)
	redirect, _ = url.Parse(u.Query().Get("redirect_uri"))
	b.do("open the link again", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("button[value=allow]")))
	if p := b.text("p.muted"); !strings.Contains(p, "a program on this computer, at port "+redirect.Port()) {
		t.Fatalf("the consent page says %q, want the command's port %s", p, redirect.Port())
	}
	b.do("allow again", chromedp.Click(chromedp.CSS("button[value=allow]")), chromedp.WaitNotPresent(chromedp.CSS("button[value=allow]")))
	if err := again.wait(t); err != nil {
		t.Fatalf("the second photos login -loopback: %v\n%s\n%s", err, again.output(), again.stderr.String())
	}
	if cli.credentials().RefreshToken == first.RefreshToken {
		t.Fatal("the second sign-in kept the first one's refresh token")
	}
	resp, err := http.PostForm(ih.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
		"client_id": {"photos-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the replaced sign-in's refresh token: %s, want 400 invalid_grant", resp.Status)
	}
}

// rewriteCredentials changes the stored credentials as change says,
// keeping the file's mode.
func rewriteCredentials(t *testing.T, path string, change func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(data, &raw)
	change(raw)
	data, _ = json.Marshal(raw)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitStatus sends req until it is answered with status, for at most a
// second: a revocation reaches the photos API within one.
func waitStatus(t *testing.T, req *http.Request, status int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %s, want %d", req.Method, req.URL, resp.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writePNG(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for y := range 32 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{200, 30, 30, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
