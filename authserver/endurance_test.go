package main

// Endurance: 64 concurrent clients run every kind of request against one
// ImageHost for a fixed time. Nothing may answer 5xx or report "database is
// locked", every refresh token a client holds must be redeemable exactly
// once, and every revocation must hold.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oauthdemo/authserver/oauth"
)

// family is one grant as a client sees it: the tokens it was handed.
type family struct {
	mu      sync.Mutex
	refresh string // the newest refresh token; "" once the family was revoked on purpose
	access  string
	revoked bool
}

// ledger is what all the clients hold.
type ledger struct {
	mu       sync.Mutex
	families []*family
}

func (l *ledger) add(f *family) {
	l.mu.Lock()
	l.families = append(l.families, f)
	l.mu.Unlock()
}

func (l *ledger) pick(i int) *family {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.families) == 0 {
		return nil
	}
	return l.families[i%len(l.families)]
}

func TestMixedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("endurance test")
	}
	const clients = 64
	duration := 4 * time.Second

	ts := newTestServer(t)
	base := ts.URL

	// Two signed-in browsers that have consented: /authorize answers them
	// with a code at once.
	var browsers []*browser
	for _, u := range [][2]string{{"alice", "wonderland"}, {"bob", "builder"}} {
		b := ts.browser()
		b.authorize(ts.authURL(appID, appRedirect, "openid offline_access photos.read", "s", oauth.S256Challenge(strings.Repeat("v", 43))), u[0], u[1])
		browsers = append(browsers, b)
	}
	authURL := ts.authURL(appID, appRedirect, "openid offline_access photos.read", "s", oauth.S256Challenge(strings.Repeat("v", 43)))

	client := &http.Client{Timeout: 30 * time.Second}
	var status5xx, transportErrors, requests atomic.Int64
	post := func(path, body, id, secret string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := client.Do(req)
		requests.Add(1)
		if err != nil {
			transportErrors.Add(1)
			return 0, nil
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			status5xx.Add(1)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	redeemCode := func(b *browser) *family {
		resp, err := b.client.Get(authURL)
		requests.Add(1)
		if err != nil {
			transportErrors.Add(1)
			return nil
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			status5xx.Add(1)
			return nil
		}
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("code") == "" {
			t.Errorf("authorize answered %d without a code", resp.StatusCode)
			return nil
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {appRedirect}, "code_verifier": {strings.Repeat("v", 43)}}
		status, out := post("/token", form.Encode(), appID, appSecret)
		if status != 200 {
			t.Errorf("code redemption: %d %v", status, out)
			return nil
		}
		return &family{refresh: out["refresh_token"].(string), access: out["access_token"].(string)}
	}

	var book ledger
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			b := browsers[w%len(browsers)]
			for i := 0; time.Now().Before(deadline); i++ {
				switch (w + i) % 8 {
				case 0, 1: // a whole code flow
					if f := redeemCode(b); f != nil {
						book.add(f)
					}
				case 2, 3: // rotate a refresh token
					f := book.pick(w*31 + i)
					if f == nil {
						continue
					}
					f.mu.Lock()
					if !f.revoked {
						status, out := post("/token", "grant_type=refresh_token&refresh_token="+f.refresh, appID, appSecret)
						if status != 200 {
							t.Errorf("refresh of a live token: %d %v", status, out)
						} else {
							f.refresh, f.access = out["refresh_token"].(string), out["access_token"].(string)
						}
					}
					f.mu.Unlock()
				case 4: // two refreshes of one token at once: exactly one wins
					f := redeemCode(b)
					if f == nil {
						continue
					}
					var codes [2]int
					var pair sync.WaitGroup
					for k := range 2 {
						pair.Go(func() {
							codes[k], _ = post("/token", "grant_type=refresh_token&refresh_token="+f.refresh, appID, appSecret)
						})
					}
					pair.Wait()
					if !(codes[0] == 200 && codes[1] == 400 || codes[0] == 400 && codes[1] == 200) {
						t.Errorf("two refreshes of one token answered %v, want one 200 and one 400", codes)
					}
					// The loser's reuse revoked the family, on purpose.
					f.revoked = true
					book.add(f)
				case 5: // client credentials and the API
					status, out := post("/token", "grant_type=client_credentials", m2mID, m2mSecret)
					if status != 200 {
						t.Errorf("client credentials: %d %v", status, out)
						continue
					}
					req, _ := http.NewRequest("GET", base+"/api/photos", nil)
					req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
					resp, err := client.Do(req)
					requests.Add(1)
					if err != nil {
						transportErrors.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("photos API: %d", resp.StatusCode)
					}
				case 6: // introspection
					f := book.pick(w*17 + i)
					if f == nil {
						continue
					}
					f.mu.Lock()
					access, revoked := f.access, f.revoked
					f.mu.Unlock()
					status, out := post("/introspect", "token="+access, appID, appSecret)
					if status != 200 || (!revoked && out["active"] != true) {
						t.Errorf("introspection of a live token: %d %v", status, out)
					}
				case 7: // revocation, honoured at once
					f := redeemCode(b)
					if f == nil {
						continue
					}
					if status, _ := post("/revoke", "token="+f.refresh, appID, appSecret); status != 200 {
						t.Errorf("revoke: %d", status)
					}
					if status, _ := post("/token", "grant_type=refresh_token&refresh_token="+f.refresh, appID, appSecret); status != 400 {
						t.Errorf("refresh after revocation: %d, want 400", status)
					}
					f.revoked = true
					book.add(f)
				}
			}
		})
	}
	wg.Wait()

	if n := status5xx.Load(); n > 0 {
		t.Errorf("%d responses were 5xx", n)
	}
	if n := transportErrors.Load(); n > 0 {
		t.Errorf("%d requests failed in transport", n)
	}
	if strings.Contains(ts.logs.String(), "database is locked") {
		t.Error(`the log reports "database is locked"`)
	}
	// Every refresh token a client holds is redeemable exactly once; every
	// revoked family stays revoked.
	live, revoked := 0, 0
	for _, f := range book.families {
		status, _ := post("/token", "grant_type=refresh_token&refresh_token="+f.refresh, appID, appSecret)
		switch {
		case f.revoked && status != 400:
			t.Errorf("a revoked family's refresh token answered %d", status)
		case !f.revoked && status != 200:
			t.Errorf("a held refresh token answered %d, want 200", status)
		}
		if f.revoked {
			revoked++
			continue
		}
		live++
		if status, _ := post("/token", "grant_type=refresh_token&refresh_token="+f.refresh, appID, appSecret); status != 400 {
			t.Errorf("a refresh token was redeemed twice (second answer %d)", status)
		}
	}
	t.Logf("%d requests in %s; %d families checked (%d live, %d revoked on purpose)", requests.Load(), duration, live+revoked, live, revoked)
	if live == 0 || revoked == 0 {
		t.Fatal(fmt.Sprintf("the load did not exercise both live and revoked families (%d, %d)", live, revoked))
	}
}
