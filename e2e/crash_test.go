package e2e

// Crash: kill -9 ImageHost in the middle of a load, start it again on the
// same database, and check that nothing a client was told got lost, and that
// nothing was left half-written.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"oauthdemo/e2e/harness"
)

const (
	crashAppURL   = "http://localhost:8080" // registered redirect URI; never called
	crashVerifier = "crash-test-pkce-verifier-0123456789abcdefghijk"
)

// grant is what a client holds of one grant.
type grant struct {
	mu      sync.Mutex
	refresh string
	access  string
	inDoubt bool // a refresh was sent and its answer never came: its fate is unknown
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	dataDir := t.TempDir()
	ih := harness.ImageHostAt(t, addr, dataDir, crashAppURL)
	// alice signs in and allows once; from then on /authorize answers
	// her browser with a code at once.
	browser := harness.NewBrowser()
	authURL := harness.AuthorizeURL(ih.URL, crashAppURL+"/callback", "openid offline_access photos.read", "s", crashVerifier)
	if _, err := harness.Code(harness.MustSignIn(t, browser, authURL, "alice", "wonderland")); err != nil {
		t.Fatal(err)
	}

	post := func(form url.Values) (int, map[string]string, error) {
		req, _ := http.NewRequest("POST", ih.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(harness.AppClientID, harness.AppClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, nil
	}

	var mu sync.Mutex
	var held []*grant
	var completed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			var mine []*grant
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%3 == 0 || len(mine) == 0 { // a code flow
					callback, err := harness.SignIn(t.Context(), browser, authURL, "alice", "wonderland")
					if err != nil {
						return // the server died under this request
					}
					code, err := harness.Code(callback)
					if err != nil {
						t.Errorf("authorization: %v", err)
						return
					}
					status, out, err := post(url.Values{"grant_type": {"authorization_code"}, "code": {code},
						"redirect_uri": {crashAppURL + "/callback"}, "code_verifier": {crashVerifier}})
					if err != nil {
						return // the server died under this request
					}
					if status != 200 {
						t.Errorf("code redemption: %d %v", status, out)
						return
					}
					g := &grant{refresh: out["refresh_token"], access: out["access_token"]}
					mine = append(mine, g)
					mu.Lock()
					held = append(held, g)
					mu.Unlock()
				} else { // rotate one of ours
					g := mine[(w+i)%len(mine)]
					g.mu.Lock()
					g.inDoubt = true
					status, out, err := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}})
					if err == nil && status == 200 {
						g.refresh, g.access, g.inDoubt = out["refresh_token"], out["access_token"], false
					} else if err == nil {
						t.Errorf("refresh: %d %v", status, out)
					}
					g.mu.Unlock()
					if err != nil {
						return
					}
				}
				completed.Add(1)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	ih.Kill() // in the middle of the load
	close(stop)
	wg.Wait()
	if completed.Load() < 100 {
		t.Fatalf("only %d requests completed before the crash: no load to speak of", completed.Load())
	}

	// The database file, with the server dead: sound, and no grant without
	// its refresh token.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "imagehost.db"))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check after kill -9: %q %v", check, err)
	}
	var halfWritten int
	if err := db.QueryRow(`SELECT count(*) FROM grants g WHERE g.scope LIKE '%offline_access%'
		AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id)`).Scan(&halfWritten); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if halfWritten != 0 {
		t.Fatalf("%d grants lack their refresh token", halfWritten)
	}

	// Back up on the same database and address: every token a client was
	// given still works.
	ih = harness.ImageHostAt(t, addr, dataDir, crashAppURL)
	checked, doubtful := 0, 0
	for _, g := range held {
		if g.inDoubt {
			doubtful++
			continue
		}
		req, _ := http.NewRequest("GET", ih.URL+"/api/photos", nil)
		req.Header.Set("Authorization", "Bearer "+g.access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("an access token issued before the crash: %d", resp.StatusCode)
		}
		status, out, err := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}})
		if err != nil || status != 200 {
			t.Errorf("a refresh token issued before the crash: %d %v %v", status, out, err)
		}
		checked++
	}
	t.Logf("%d requests before the crash; %d grants checked after it, %d left out as in flight at the crash", completed.Load(), checked, doubtful)
	if checked == 0 {
		t.Fatal("no grant to check")
	}
}
