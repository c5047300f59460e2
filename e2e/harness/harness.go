// Package harness runs the project's two servers as real processes, with
// the project's settings, for the tests and for tools such as loadtest: it
// builds the binaries, starts them on free ports with their own data
// directories, and stops them again. Callers then talk to them only over
// HTTP, as a browser or another company would; signin.go signs a user in
// at ImageHost that way.
//
// The functions that do the work return errors, so a tool can use them;
// the ones that take a testing.TB are thin wrappers for tests, which fail
// the test instead and stop the process when the test ends.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/e2e/cluster"
)

// Demo values the harness starts ImageHost with, and PhotoEditorApp with
// them.
const (
	AppClientID        = "photoeditorapp"
	AppClientSecret    = "harness-app-secret-0123456789abcdef"
	M2MClientID        = "photo-sync"
	M2MClientSecret    = "harness-m2m-secret-0123456789abcdef"
	ExpiryClientID     = "photoeditorapp-expiry"
	ExpiryClientSecret = "harness-expiry-secret-0123456789abcdef"
	InitialAccessToken = "harness-initial-access-token"
	DemoUsers          = "alice:wonderland,bob:builder"
)

// Timing of a start and a stop.
const (
	readyWithin = 30 * time.Second       // a process that is not answering by then failed to start
	readyPoll   = 5 * time.Millisecond   // how often /healthz is asked; fine enough to time a start
	stopWithin  = 10 * time.Second       // after Ctrl-C, before the process is killed
	pollTimeout = 500 * time.Millisecond // one /healthz request
)

// ImageHostSettings are the settings ImageHost runs with under the harness:
// on addr, with its database in dataDir, and the demo's seed (the users of
// DemoUsers, the PhotoEditorApp client for appURL, the machine client, the
// expired-token demonstration's client) with the harness's secrets. Settings appended after them win.
func ImageHostSettings(addr, dataDir, appURL string) []string {
	return []string{
		"IMAGEHOST_ADDR=" + addr,
		"IMAGEHOST_ISSUER=",
		"IMAGEHOST_DATA_DIR=" + dataDir,
		"IMAGEHOST_DEMO=true",
		"IMAGEHOST_DEMO_USERS=" + DemoUsers,
		"IMAGEHOST_DEMO_APP_URL=" + appURL,
		"IMAGEHOST_DEMO_APP_CLIENT_SECRET=" + AppClientSecret,
		"IMAGEHOST_DEMO_M2M_CLIENT_SECRET=" + M2MClientSecret,
		"IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET=" + ExpiryClientSecret,
		"IMAGEHOST_INITIAL_ACCESS_TOKEN=" + InitialAccessToken,
		"IMAGEHOST_LOG_LEVEL=warn",
	}
}

// The demo's Corporate SSO under the harness: its user, and ImageHost's
// client secret there.
const (
	CorporateUsers           = "carol:corporate"
	CorporateSSOClientSecret = "harness-corporate-sso-secret-0123456789"
)

// CorporateSSOSettings are the settings of the demo's Corporate SSO under
// the harness: another ImageHost, on port, named localhost so that a
// browser keeps its cookies apart from ImageHost's on 127.0.0.1, with
// CorporateUsers and one client, ImageHost, sent back to redirectURI.
func CorporateSSOSettings(port int, dataDir, redirectURI string) []string {
	return []string{
		fmt.Sprintf("IMAGEHOST_ADDR=127.0.0.1:%d", port),
		fmt.Sprintf("IMAGEHOST_ISSUER=http://localhost:%d", port),
		"IMAGEHOST_DATA_DIR=" + dataDir,
		"IMAGEHOST_DEMO=true",
		"IMAGEHOST_DEMO_USERS=" + CorporateUsers,
		"IMAGEHOST_DEMO_SSO_REDIRECT_URI=" + redirectURI,
		"IMAGEHOST_DEMO_SSO_CLIENT_SECRET=" + CorporateSSOClientSecret,
		"IMAGEHOST_UPSTREAMS=",
		"IMAGEHOST_LOG_LEVEL=warn",
	}
}

// UpstreamSettings are ImageHost's settings for signing in through the
// Corporate SSO at issuer, as demo.env has them.
func UpstreamSettings(issuer string) []string {
	return []string{
		"IMAGEHOST_UPSTREAMS=corporate",
		"IMAGEHOST_UPSTREAM_CORPORATE_ISSUER=" + issuer,
		"IMAGEHOST_UPSTREAM_CORPORATE_CLIENT_ID=imagehost",
		"IMAGEHOST_UPSTREAM_CORPORATE_CLIENT_SECRET=" + CorporateSSOClientSecret,
		"IMAGEHOST_UPSTREAM_CORPORATE_DISPLAY_NAME=Corporate SSO",
	}
}

// AppSettings are the settings PhotoEditorApp runs with under the harness:
// on port, as http://localhost:<port>, another host name than ImageHost's
// 127.0.0.1 so that a browser keeps the two parties' cookies apart, with
// issuer as its ImageHost and its data in dataDir.
func AppSettings(port int, issuer, dataDir string) []string {
	return []string{
		fmt.Sprintf("PHOTOEDITOR_ADDR=127.0.0.1:%d", port),
		fmt.Sprintf("PHOTOEDITOR_BASE_URL=http://localhost:%d", port),
		"PHOTOEDITOR_ISSUER=" + issuer,
		"PHOTOEDITOR_PHOTOS_API=",
		"PHOTOEDITOR_CLIENT_ID=" + AppClientID,
		"PHOTOEDITOR_CLIENT_SECRET=" + AppClientSecret,
		"PHOTOEDITOR_MACHINE_CLIENT_ID=" + M2MClientID,
		"PHOTOEDITOR_MACHINE_CLIENT_SECRET=" + M2MClientSecret,
		"PHOTOEDITOR_EXPIRY_CLIENT_ID=" + ExpiryClientID,
		"PHOTOEDITOR_EXPIRY_CLIENT_SECRET=" + ExpiryClientSecret,
		"PHOTOEDITOR_DATA_DIR=" + dataDir,
		"PHOTOEDITOR_LOG_LEVEL=warn",
	}
}

// Session cookie keys that the harness gives every instance of
// PhotoEditorApp on one database (SharedAppSettings): instances behind one
// load balancer must all read a browser's cookie.
const (
	AppSessionAuthKey       = "6861726e6573732073657373696f6e2061757468206b65792c20666f7220696e7374616e63657320746861742073686172652061206461746162617365212121"
	AppSessionEncryptionKey = "6861726e6573732073657373696f6e20656e6372797074696f6e206b65792121"
)

// SharedAppSettings are what an instance of PhotoEditorApp adds to
// AppSettings to run beside others, as behind a load balancer: the
// PostgreSQL database at databaseURL that they share, the same session
// keys, and the public URL baseURL that they all serve (the redirect URI
// hangs off it), whatever port each listens on.
func SharedAppSettings(databaseURL, baseURL string) []string {
	return []string{
		"PHOTOEDITOR_DATABASE_URL=" + databaseURL,
		"PHOTOEDITOR_BASE_URL=" + baseURL,
		"PHOTOEDITOR_SESSION_AUTH_KEY=" + AppSessionAuthKey,
		"PHOTOEDITOR_SESSION_ENCRYPTION_KEY=" + AppSessionEncryptionKey,
	}
}

// Process is a running server.
type Process struct {
	URL    string
	cmd    *exec.Cmd
	out    *LogBuffer
	exited chan struct{} // closed once the process has ended
	stop   sync.Once
}

// Start runs binary with env on top of this process's environment, and
// waits until url/healthz answers, for at most 30 seconds or until ctx is
// done. ctx bounds the wait only; the process runs until Stop or Kill.
func Start(ctx context.Context, binary, url string, env []string) (*Process, error) {
	p := &Process{URL: url, out: &LogBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s: %w", binary, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	for !p.ready(ctx) {
		select {
		case <-ctx.Done():
			p.Kill()
			return nil, fmt.Errorf("harness: %s did not become ready at %s:\n%s", filepath.Base(binary), url, p.Output())
		case <-p.exited:
			return nil, fmt.Errorf("harness: %s ended before it was ready:\n%s", filepath.Base(binary), p.Output())
		case <-time.After(readyPoll):
		}
	}
	return p, nil
}

// ready reports whether the process answers its health check.
func (p *Process) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartImageHost starts the ImageHost binary with ImageHostSettings;
// extraEnv may override any of them.
func StartImageHost(ctx context.Context, binary, addr, dataDir, appURL string, extraEnv ...string) (*Process, error) {
	return Start(ctx, binary, "http://"+addr, append(ImageHostSettings(addr, dataDir, appURL), extraEnv...))
}

// StartApp starts the PhotoEditorApp binary with AppSettings; extraEnv may
// override any of them.
func StartApp(ctx context.Context, binary string, port int, issuer, dataDir string, extraEnv ...string) (*Process, error) {
	return Start(ctx, binary, fmt.Sprintf("http://localhost:%d", port), append(AppSettings(port, issuer, dataDir), extraEnv...))
}

// Stop ends the process as Ctrl-C would, and waits for it; one that has
// not ended within 10 seconds is killed. Stopping twice is harmless.
func (p *Process) Stop() {
	p.stop.Do(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(stopWithin):
			p.Kill()
		}
	})
}

// Signal sends the process sig, such as the SIGTERM a service manager stops
// it with, and does not wait; Done says when it has ended.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process has ended.
func (p *Process) Done() <-chan struct{} { return p.exited }

// ExitCode is the process's exit code once it has ended (Done), -1 if a
// signal ended it.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Kill ends the process at once with SIGKILL, as a crash would, and waits.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// PeakRSS is the most resident memory the process has used so far, in
// bytes: VmHWM, the "high water mark" Linux keeps in /proc/<pid>/status.
func (p *Process) PeakRSS() (int64, error) { return PeakRSS(p.cmd.Process.Pid) }

// PeakRSS is the most resident memory the process pid has used so far.
func PeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kB int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kB); err != nil {
				return 0, fmt.Errorf("peak RSS: %q: %w", line, err)
			}
			return kB << 10, nil
		}
	}
	return 0, fmt.Errorf("peak RSS: no VmHWM in /proc/%d/status", pid)
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// LogBuffer collects what a server writes, from any number of goroutines:
// a process's output, or the log of a server running in a test.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Port returns a TCP port that was free a moment ago on 127.0.0.1, picked
// as the cluster's are (cluster.Port): at random below the kernel's range of
// ephemeral ports. A port the kernel gave for 127.0.0.1:0 and took back was
// soon given again, to the next test asking, or to the local end of an
// outgoing connection, before the process it was meant for listened on it.
func Port() (int, error) {
	return cluster.Port()
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Build builds ./authserver, ./app and ./cmd/photos once per process and
// returns the directory holding them: authserver, app and photos.
func Build() (string, error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "oauthdemo-bin-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"authserver", "app", "cmd/photos"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, filepath.Base(pkg)), "oauthdemo/"+pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	return buildDir, buildErr
}

// The wrappers for tests.

// Binaries is Build for a test.
func Binaries(tb testing.TB) string {
	tb.Helper()
	dir, err := Build()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// FreePort is Port for a test.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := Port()
	if err != nil {
		tb.Fatal(err)
	}
	return port
}

// stopAtCleanup stops p when the test ends, and shows its output if the
// test failed.
func stopAtCleanup(tb testing.TB, p *Process, name string) {
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, p.Output())
		}
	})
}

// ImageHost starts the authorization server with the demo's seed data
// (alice and bob, the PhotoEditorApp client for appURL) in a fresh data
// directory. extraEnv may override any setting.
func ImageHost(tb testing.TB, appURL string, extraEnv ...string) *Process {
	tb.Helper()
	return ImageHostAt(tb, fmt.Sprintf("127.0.0.1:%d", FreePort(tb)), tb.TempDir(), appURL, extraEnv...)
}

// ImageHostAt starts ImageHost on addr with its database in dataDir: the
// same two again after a crash bring the same server back.
func ImageHostAt(tb testing.TB, addr, dataDir, appURL string, extraEnv ...string) *Process {
	tb.Helper()
	p, err := StartImageHost(tb.Context(), filepath.Join(Binaries(tb), "authserver"), addr, dataDir, appURL, extraEnv...)
	if err != nil {
		tb.Fatal(err)
	}
	stopAtCleanup(tb, p, "authserver")
	return p
}

// App starts PhotoEditorApp on port, as http://localhost:<port>, with
// issuer as its ImageHost.
func App(tb testing.TB, port int, issuer string, extraEnv ...string) *Process {
	tb.Helper()
	p, err := StartApp(tb.Context(), filepath.Join(Binaries(tb), "app"), port, issuer, tb.TempDir(), extraEnv...)
	if err != nil {
		tb.Fatal(err)
	}
	stopAtCleanup(tb, p, "app")
	return p
}

// Pair starts ImageHost and PhotoEditorApp configured for each other.
func Pair(tb testing.TB, imageHostEnv ...string) (imageHost, app *Process) {
	tb.Helper()
	appPort := FreePort(tb)
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	imageHost = ImageHost(tb, appURL, imageHostEnv...)
	app = App(tb, appPort, imageHost.URL)
	return imageHost, app
}

// Trio starts the demo's three parties configured for one another: the
// Corporate SSO, ImageHost, whose users may sign in through it, and
// PhotoEditorApp.
func Trio(tb testing.TB) (sso, imageHost, app *Process) {
	tb.Helper()
	ssoPort, imageHostPort, appPort := FreePort(tb), FreePort(tb), FreePort(tb)
	imageHostAddr := fmt.Sprintf("127.0.0.1:%d", imageHostPort)
	sso, err := Start(tb.Context(), filepath.Join(Binaries(tb), "authserver"), fmt.Sprintf("http://localhost:%d", ssoPort),
		CorporateSSOSettings(ssoPort, tb.TempDir(), "http://"+imageHostAddr+"/upstream/corporate/callback"))
	if err != nil {
		tb.Fatal(err)
	}
	stopAtCleanup(tb, sso, "Corporate SSO")
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	imageHost = ImageHostAt(tb, imageHostAddr, tb.TempDir(), appURL, UpstreamSettings(sso.URL)...)
	app = App(tb, appPort, imageHost.URL)
	return sso, imageHost, app
}

// Chromium finds the browser for browser tests. Outside CI a missing browser
// skips the test; under CI=true it fails it, since CI installs it.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if strings.EqualFold(os.Getenv("CI"), "true") {
		tb.Fatal("chromium is not installed, and CI must run the browser tests (.ci/run installs it)")
	}
	tb.Skip("chromium is not installed: install it (Debian: apt-get install chromium) to run the browser tests")
	return ""
}
