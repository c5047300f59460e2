// Package harness runs the project's two servers as real processes for
// tests: it builds the binaries, starts them on free ports with their own
// data directories, and stops them at the end of the test. The tests then
// talk to them only over HTTP, as a browser or another company would.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Demo values the harness starts ImageHost with.
const (
	AppClientID        = "photoeditorapp"
	AppClientSecret    = "harness-app-secret-0123456789abcdef"
	M2MClientSecret    = "harness-m2m-secret-0123456789abcdef"
	InitialAccessToken = "harness-initial-access-token"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binaries builds ./authserver and ./app once per test process and returns
// the directory holding them.
func Binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "oauthdemo-bin-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"authserver", "app"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, pkg), "oauthdemo/"+pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildDir
}

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a running server.
type Process struct {
	URL    string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed once the process has ended
}

// Kill ends the process at once with SIGKILL, as a crash would, and waits.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// PeakRSS is the most resident memory the process has used so far, in
// bytes: VmHWM, the "high water mark" Linux keeps in /proc/<pid>/status.
func (p *Process) PeakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
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
	return 0, fmt.Errorf("peak RSS: no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs binary with env and waits until url/healthz answers.
func start(tb testing.TB, binary, url string, env []string) *Process {
	tb.Helper()
	p := &Process{URL: url, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	tb.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.Kill()
		}
		if tb.Failed() {
			tb.Logf("%s output:\n%s", filepath.Base(binary), p.Output())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s did not become ready at %s:\n%s", binary, url, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
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
	env := []string{
		"IMAGEHOST_ADDR=" + addr,
		"IMAGEHOST_ISSUER=",
		"IMAGEHOST_DATA_DIR=" + dataDir,
		"IMAGEHOST_DEMO=true",
		"IMAGEHOST_DEMO_USERS=alice:wonderland,bob:builder",
		"IMAGEHOST_DEMO_APP_URL=" + appURL,
		"IMAGEHOST_DEMO_APP_CLIENT_SECRET=" + AppClientSecret,
		"IMAGEHOST_DEMO_M2M_CLIENT_SECRET=" + M2MClientSecret,
		"IMAGEHOST_INITIAL_ACCESS_TOKEN=" + InitialAccessToken,
		"IMAGEHOST_LOG_LEVEL=warn",
	}
	return start(tb, filepath.Join(Binaries(tb), "authserver"), "http://"+addr, append(env, extraEnv...))
}

// App starts PhotoEditorApp on port, as http://localhost:<port>: another
// host name than ImageHost's 127.0.0.1, so the browser keeps the two
// parties' cookies apart.
func App(tb testing.TB, port int, issuer string, extraEnv ...string) *Process {
	tb.Helper()
	env := []string{
		fmt.Sprintf("PHOTOEDITOR_ADDR=127.0.0.1:%d", port),
		fmt.Sprintf("PHOTOEDITOR_BASE_URL=http://localhost:%d", port),
		"PHOTOEDITOR_ISSUER=" + issuer,
		"PHOTOEDITOR_PHOTOS_API=",
		"PHOTOEDITOR_CLIENT_ID=" + AppClientID,
		"PHOTOEDITOR_CLIENT_SECRET=" + AppClientSecret,
		"PHOTOEDITOR_MACHINE_CLIENT_ID=photo-sync",
		"PHOTOEDITOR_MACHINE_CLIENT_SECRET=" + M2MClientSecret,
		"PHOTOEDITOR_DATA_DIR=" + tb.TempDir(),
		"PHOTOEDITOR_LOG_LEVEL=warn",
	}
	return start(tb, filepath.Join(Binaries(tb), "app"), fmt.Sprintf("http://localhost:%d", port), append(env, extraEnv...))
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
