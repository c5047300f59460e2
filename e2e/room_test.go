package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"oauthdemo/e2e/harness"
)

const roomCode = "e2e-room-code"

// roomImageHost starts ImageHost with joining open (roomCode) and a teacher,
// "teacher" / "blackboard", made an admin with the operator's command line.
func roomImageHost(t *testing.T, appURL string, extraEnv ...string) *harness.Process {
	t.Helper()
	dataDir := t.TempDir()
	ih := harness.ImageHostAt(t, fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)), dataDir, appURL,
		append([]string{"IMAGEHOST_JOIN_CODE=" + roomCode}, extraEnv...)...)
	cmd := exec.Command(filepath.Join(harness.Binaries(t), "authserver"), "users", "add", "-username", "teacher", "-admin")
	cmd.Env = append(os.Environ(), "IMAGEHOST_DATA_DIR="+dataDir)
	cmd.Stdin = strings.NewReader("blackboard\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users add -admin: %v\n%s", err, out)
	}
	return ih
}

// lines collects what a process prints, line by line, and tells when a
// line holding some text has come.
type lines struct {
	mu   sync.Mutex
	all  []string
	seen chan string
}

func (l *lines) read(sc *bufio.Scanner) {
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		l.mu.Unlock()
		select {
		case l.seen <- sc.Text():
		default:
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// waitFor waits until a line holding text has come, for at most limit.
func (l *lines) waitFor(t *testing.T, text string, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for !strings.Contains(l.String(), text) {
		select {
		case <-l.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q within %v; the output so far:\n%s", text, limit, l.String())
		}
	}
}

// goRun runs `go run file` with env, as an attendee would in their checkout,
// and stops it (the go command and the program it started, one process
// group) when the test ends.
func goRun(t *testing.T, file string, env ...string) *lines {
	t.Helper()
	cmd := exec.Command("go", "run", filepath.Base(file))
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &lines{seen: make(chan string, 1)}
	done := make(chan struct{})
	go func() { l.read(bufio.NewScanner(out)); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("go run %s:\n%s", filepath.Base(file), l)
		}
	})
	return l
}

// TestStarterProgram: an attendee joins the teacher's ImageHost, registers
// an app in the developer console, downloads its starter program, runs it
// with `go run` and signs in through it in Chromium: the program verifies
// the ID token, lists the photos, refreshes the access token when it
// expires. Meanwhile the teacher's class view, open in another browser,
// fills in the attendee's row by itself.
func TestStarterProgram(t *testing.T) {
	ih := roomImageHost(t, "http://localhost:8080")

	teacher := newBrowser(t)
	teacher.do("teacher signs in", chromedp.Navigate(ih.URL+"/login"))
	teacher.signIn("teacher", "blackboard")
	teacher.do("the class view", chromedp.WaitVisible(chromedp.CSS(".activity")), chromedp.Navigate(ih.URL+"/class"),
		chromedp.WaitVisible(chromedp.CSS("table.class")))
	teacher.do("the class view's script runs", chromedp.WaitVisible(chromedp.CSS(`#class-status`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("class-status").textContent.startsWith("Updated")`, chromedp.WithPollingTimeout(10*time.Second)))

	// The attendee joins, from ImageHost's login page.
	b := newBrowser(t)
	b.do("the login page", chromedp.Navigate(ih.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#create-account")))
	b.do("create an account", chromedp.Click(chromedp.CSS("#create-account")), chromedp.WaitVisible(chromedp.CSS("#join_code")),
		chromedp.SendKeys(chromedp.CSS("#join_code"), strings.ToUpper(roomCode)),
		chromedp.SendKeys(chromedp.CSS("#username"), "ann"),
		chromedp.SendKeys(chromedp.CSS("#password"), "ann-password"))
	b.screenshot("imagehost-join")
	b.do("join", chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#name")))
	if loc := b.location(); loc != ih.URL+"/developer" {
		t.Fatalf("after joining: %s", loc)
	}

	// Her app: a loopback redirect URI on a port of this test's, the
	// starter's own ticked as it comes, access tokens of 5 s, so that
	// x/oauth2 (which refreshes 10 s early) refreshes at every use.
	port := harness.FreePort(t)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
	b.do("register an app", chromedp.SendKeys(chromedp.CSS("#name"), "Ann's starter"),
		chromedp.SendKeys(chromedp.CSS("#redirect_uris"), redirect),
		chromedp.SendKeys(chromedp.CSS("#access_token_ttl"), "5"),
		chromedp.Click(chromedp.CSS("form[action='/developer/clients'] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#client-secret")))
	clientID, secret := b.text("#new-client-id"), b.text("#client-secret")
	if page := b.text("main"); !strings.Contains(page, redirect) || !strings.Contains(page, "http://127.0.0.1:8976/callback") {
		t.Fatalf("the app's redirect URIs are not the typed one and the starter's:\n%s", page)
	}
	b.screenshot("imagehost-developer-starter")
	// Downloaded by a click on the console's link, into a checkout of the
	// repository (this one, in a directory the go tool's ./... skips), as
	// the page says.
	dir, err := os.MkdirTemp(".", "_starter-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	abs, _ := filepath.Abs(dir)
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior,
		cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: abs}); err != nil {
		t.Fatal(err)
	}
	b.do("download starter.go", chromedp.Click(chromedp.CSS("a.starter")))
	file := filepath.Join(dir, "starter.go")
	var program []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if program, err = os.ReadFile(file); err == nil && len(program) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no starter.go downloaded into %s: %v", dir, err)
		}
	}
	if src := string(program); !strings.Contains(src, "package main") || !strings.Contains(src, clientID) || !strings.Contains(src, redirect) {
		t.Fatalf("the downloaded program:\n%.500s", src)
	}
	if strings.Contains(string(program), secret) {
		t.Fatal("the starter program holds the app's secret")
	}
	out := goRun(t, file, "IMAGEHOST_CLIENT_SECRET="+secret)
	out.waitFor(t, fmt.Sprintf("Open http://127.0.0.1:%d/", port), 2*time.Minute)

	// The browser part: the program's page, ImageHost's consent (she is
	// signed in there already), back to the program with her photos.
	b.do("the starter's page", chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/", port)), chromedp.WaitVisible(chromedp.CSS("#sign-in")))
	b.do("sign in with ImageHost", chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("button[value=allow]")))
	if page := b.text("main"); !strings.Contains(page, "Ann's starter") {
		t.Fatalf("the consent page does not name the app:\n%s", page)
	}
	b.do("allow", chromedp.Click(chromedp.CSS("button[value=allow]")), chromedp.WaitVisible(chromedp.CSS("#photos")))
	if user := b.text("#user"); !strings.Contains(user, "ann") {
		t.Fatalf("the starter says: %q", user)
	}
	if photos := b.text("#photos"); !strings.Contains(photos, "Sunset over the sea") {
		t.Fatalf("the starter lists: %q", photos)
	}
	if note := b.text("#note"); !strings.Contains(note, "ID token verified") || !strings.Contains(note, "refreshed") {
		t.Fatalf("the starter's note: %q", note)
	}
	b.screenshot("starter")
	b.do("list them again", chromedp.Click(chromedp.CSS("#again")), chromedp.WaitVisible(chromedp.CSS("#photos")))
	if note := b.text("#note"); !strings.Contains(note, "refreshed") {
		t.Fatalf("the second listing's note: %q", note)
	}
	for _, want := range []string{"signed in as ann", "3 photos listed", "access token refreshed"} {
		out.waitFor(t, want, 5*time.Second)
	}

	// The teacher's class view drew ann's row by itself: she joined after
	// it was loaded.
	start := time.Now()
	for _, m := range []string{"signed_in", "authorized", "code_redeemed", "api_called", "refreshed"} {
		teacher.do("ann's "+m+" in the class view", chromedp.Poll[chromedp.Void](fmt.Sprintf(
			`[...document.querySelectorAll("#class-rows tr")].some(r => r.querySelector("th").textContent.includes("ann") && r.querySelector('td[data-milestone="%s"].done'))`, m),
			chromedp.WithPollingTimeout(5*time.Second)))
	}
	t.Logf("the class view showed ann's last milestone %v after the starter's last listing", time.Since(start).Round(time.Millisecond))
	teacher.screenshot("imagehost-class")
}

// TestAppWithAnAttendeesClient: PhotoEditorApp on an attendee's laptop,
// pointed at the teacher's ImageHost with PHOTOEDITOR_ISSUER and the app the
// attendee registered in the console: connecting, signing in as themselves
// and seeing their photos works, even with demo secrets lying around from an
// earlier demo on that laptop.
func TestAppWithAnAttendeesClient(t *testing.T) {
	ctx := t.Context()
	appPort := harness.FreePort(t)
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	ih := roomImageHost(t, "http://localhost:8080") // the teacher's own demo app is elsewhere

	attendee := harness.NewBrowser()
	if err := harness.Join(ctx, attendee, ih.URL, roomCode, "ann", "ann-password"); err != nil {
		t.Fatal(err)
	}
	clientID, secret, err := harness.RegisterApp(ctx, attendee, ih.URL, harness.ConsoleApp{Name: "Ann's PhotoEditorApp", RedirectURIs: []string{appURL + "/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(t.TempDir(), "demo-secrets")
	os.WriteFile(stale, []byte("PHOTOEDITOR_CLIENT_SECRET=a-secret-of-another-demo\n"), 0o600)
	app := harness.App(t, appPort, ih.URL, "PHOTOEDITOR_CLIENT_ID="+clientID, "PHOTOEDITOR_CLIENT_SECRET="+secret,
		"PHOTOEDITOR_MACHINE_CLIENT_ID=", "PHOTOEDITOR_EXPIRY_CLIENT_ID=", "PHOTOEDITOR_DEMO_SECRETS="+stale)

	gallery, err := connect(ctx, harness.NewBrowser(), app.URL, "ann", "ann-password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gallery, "Sunset over the sea") {
		t.Fatalf("ann's gallery:\n%.2000s", gallery)
	}
	teacher := harness.NewBrowser()
	if err := harness.Login(ctx, teacher, ih.URL, "teacher", "blackboard"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		class, err := harness.ReadClass(ctx, teacher, ih.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := class.Reached("ann", "api_called"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the class view does not show ann's app calling the photos API: %+v", class)
		}
	}
}
