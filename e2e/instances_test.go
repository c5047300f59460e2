package e2e

// PhotoEditorApp as several instances behind a load balancer with no sticky
// sessions: two processes on one PostgreSQL database, and a browser whose
// requests go to either.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"oauthdemo/authserver/store/postgres/pgtest"
	"oauthdemo/e2e/harness"
)

// pg is this test binary's PostgreSQL server, started by the first test
// that needs one.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// TestRefreshOnceAcrossInstances: 20 requests of one browser at once, half
// to each instance, all finding the access token expired. ImageHost sees
// exactly one refresh: had two instances refreshed, the second would have
// presented a spent refresh token, and ImageHost would have revoked the
// whole grant (RFC 9700 §4.14.2) and the browser been sent to connect
// again. Every request is answered with the gallery, twice over (a
// revoked family would fail the second round).
func TestRefreshOnceAcrossInstances(t *testing.T) {
	ctx := t.Context()
	databaseURL := pg.Database(t)
	portA, portB := harness.FreePort(t), harness.FreePort(t)
	publicURL := fmt.Sprintf("http://localhost:%d", portA)
	ih := harness.ImageHost(t, publicURL, "IMAGEHOST_LOG_LEVEL=info") // info: it logs each rotation
	// Both start at once on an empty database: their migrations take turns.
	bin := filepath.Join(harness.Binaries(t), "app")
	instances := make([]*harness.Process, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, port := range []int{portA, portB} {
		wg.Go(func() {
			instances[i], errs[i] = harness.StartApp(ctx, bin, port, ih.URL, t.TempDir(), harness.SharedAppSettings(databaseURL, publicURL)...)
		})
	}
	wg.Wait()
	for i, p := range instances {
		if p != nil {
			t.Cleanup(func() {
				p.Stop()
				if t.Failed() {
					t.Logf("app %d output:\n%s", i, p.Output())
				}
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	a, b := instances[0], instances[1]

	browser := harness.NewBrowser()
	if _, err := connect(ctx, browser, a.URL, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	// The other instance knows the session, and shows the flow recorded at
	// the first.
	_, inspector := getPage(t, browser, b.URL+"/flow")
	for _, step := range []string{`data-step="1"`, `data-step="2"`, `data-step="4-5"`, `data-step="6-7"`} {
		if !strings.Contains(inspector, step) {
			t.Errorf("the other instance's inspector lacks the step %s", step)
		}
	}
	// The session's tokens are bound to its DPoP key, which the first
	// instance made: the other opens it from the database, sealed with the
	// session keys they share, and signs its own proofs with it (each
	// request below is answered with the gallery by ImageHost's photos API).
	if !strings.Contains(inspector, "DPoP proof, decoded") || !strings.Contains(inspector, `id="token-dpop-key"`) {
		t.Error("the other instance's inspector shows no DPoP proof or key")
	}

	for round := 1; round <= 2; round++ {
		// The workshop's button: the app treats its access token as expired
		// (in the database, for both instances).
		form, err := harness.Form(ctx, browser, b.URL+"/flow")
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := browser.PostForm(b.URL+"/flow/expire", form); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("expire: %v", err)
		} else {
			resp.Body.Close()
		}

		const n = 20
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			instance := a
			if i%2 == 1 {
				instance = b
			}
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-start
				resp, err := browser.Get(instance.URL + "/photos")
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/photos" {
					t.Errorf("round %d: a request to %s ended at %s with %s", round, instance.URL, resp.Request.URL.Path, resp.Status)
				}
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()

		if got := strings.Count(ih.Output(), "refresh token rotated"); got != round {
			t.Errorf("round %d: ImageHost rotated the refresh token %d times in all, want %d", round, got, round)
		}
		if strings.Contains(ih.Output(), "refresh token reuse") {
			t.Fatalf("round %d: ImageHost saw a refresh token reused and revoked the grant", round)
		}
	}
}

// getPage loads a page in browser.
func getPage(t *testing.T, browser *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := browser.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	if _, err := io.Copy(&sb, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, sb.String()
}
