package e2e

// Stopping PhotoEditorApp the way a service manager or an orchestrator
// does, with SIGTERM: what it is doing, it finishes (up to 10 s); what
// comes after, it refuses, so a load balancer sends it elsewhere.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"oauthdemo/e2e/harness"
)

// TestGracefulShutdown: SIGTERM while a request waits on ImageHost. New
// connections are refused at once; the request still gets its answer once
// ImageHost gives one; then the process exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	// An ImageHost that answers discovery when the test says so.
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var issuer string
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
			"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	}))
	defer slow.Close()
	answer := sync.OnceFunc(func() { close(release) })
	defer answer() // before slow.Close, which waits for its handlers
	issuer = slow.URL
	port := harness.FreePort(t)
	app := harness.App(t, port, issuer)
	browser := harness.NewBrowser()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	form, err := harness.Form(t.Context(), browser, app.URL+"/")
	if err != nil {
		t.Fatal(err)
	}

	// Connect: the app asks ImageHost's discovery first, and waits.
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := browser.PostForm(app.URL+"/connect", form)
		if err != nil {
			t.Errorf("the request under way when SIGTERM came failed: %v", err)
			close(answered)
			return
		}
		resp.Body.Close()
		answered <- resp
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("Connect never asked ImageHost")
	}

	if err := app.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused (the listener closes at once; give the
	// signal a moment to arrive).
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("after SIGTERM the app still accepts connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-app.Done():
		t.Fatal("the app exited with a request under way")
	default:
	}

	// ImageHost answers; the request under way completes.
	answer()
	select {
	case resp, ok := <-answered:
		if !ok {
			t.FailNow()
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || len(loc) < len(issuer) || loc[:len(issuer)] != issuer {
			t.Fatalf("the request under way was answered %s, Location %q; want the redirect to ImageHost", resp.Status, loc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request under way was never answered")
	}
	select {
	case <-app.Done():
		if code := app.ExitCode(); code != 0 {
			t.Fatalf("the app exited with %d after SIGTERM, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app did not exit after its last request")
	}
}

// TestShutdownDelay: with a shutdown delay, SIGTERM first takes an
// instance out of a load balancer's rotation: /readyz answers 503 at once
// while every other request is still served; only after the delay does the
// listener close, and the process exits cleanly. Both parties.
func TestShutdownDelay(t *testing.T) {
	const delay = 3 * time.Second
	appPort := harness.FreePort(t)
	imageHost := harness.ImageHost(t, fmt.Sprintf("http://localhost:%d", appPort), "IMAGEHOST_SHUTDOWN_DELAY="+delay.String())
	app := harness.App(t, appPort, imageHost.URL, "PHOTOEDITOR_SHUTDOWN_DELAY="+delay.String())
	for _, tc := range []struct {
		name string
		p    *harness.Process
		page string // a request that must still be served while draining
	}{
		{"ImageHost", imageHost, "/.well-known/openid-configuration"},
		{"PhotoEditorApp", app, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := func(path string) (int, error) {
				resp, err := http.Get(tc.p.URL + path)
				if err != nil {
					return 0, err
				}
				resp.Body.Close()
				return resp.StatusCode, nil
			}
			if code, err := status("/readyz"); err != nil || code != http.StatusOK {
				t.Fatalf("/readyz before SIGTERM: %d %v", code, err)
			}
			signalled := time.Now()
			if err := tc.p.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			// Not ready at once (give the signal a moment to arrive), and
			// still serving.
			for {
				code, err := status("/readyz")
				if err != nil {
					t.Fatalf("/readyz after SIGTERM: %v (the listener closed without a drain)", err)
				}
				if code == http.StatusServiceUnavailable {
					break
				}
				if time.Since(signalled) > time.Second {
					t.Fatalf("/readyz still answers %d a second after SIGTERM", code)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if code, err := status(tc.page); err != nil || code != http.StatusOK {
				t.Fatalf("%s while draining: %d %v", tc.page, code, err)
			}
			if time.Since(signalled) >= delay {
				t.Skip("the machine was too slow to look inside the delay")
			}
			// Then the listener closes and the process ends, with 0.
			select {
			case <-tc.p.Done():
				if code := tc.p.ExitCode(); code != 0 {
					t.Fatalf("exited with %d after SIGTERM, want 0", code)
				}
			case <-time.After(delay + 10*time.Second):
				t.Fatal("did not exit after the delay")
			}
			if elapsed := time.Since(signalled); elapsed < delay {
				t.Fatalf("exited %v after SIGTERM, before the %v delay was over", elapsed, delay)
			}
		})
	}
}
