package main

// Back-channel logout posts to a URL whoever registered the client chose:
// these tests aim it the way an attacker would.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

const bcRedirect = "http://localhost:8081/cb"

// listener is a loopback server that counts requests, and how many it
// serves at once at most.
type listener struct {
	srv                  *httptest.Server
	hits, inFlight, peak atomic.Int32
}

func newListener(t *testing.T, h http.HandlerFunc) *listener {
	l := &listener{}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hits.Add(1)
		n := l.inFlight.Add(1)
		defer l.inFlight.Add(-1)
		for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
		}
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// backchannelApp registers a client whose back-channel logout URI is uri.
func backchannelApp(t *testing.T, ts *testServer, id, uri string) {
	t.Helper()
	c := store.Client{ID: id, SecretHash: oauth.HashToken(appSecret), Name: "App " + id, RedirectURIs: []string{bcRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: "openid offline_access photos.read",
		BackchannelLogoutURI: uri, CreatedAt: ts.clock.now()}
	if err := ts.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// letIn has alice, in browser b, authorize the app: it then holds a grant.
func letIn(t *testing.T, ts *testServer, b *browser, id string) {
	t.Helper()
	newStandardClient(t, ts, id, appSecret, bcRedirect, "openid", "offline_access").login(t, b, "alice", "wonderland")
}

// signOut signs b out of ImageHost, confirming on the page.
func signOut(t *testing.T, b *browser) {
	t.Helper()
	form := formValues(t, body(t, b.get("/logout")))
	b.post("/logout", form).Body.Close()
}

func TestBackchannelLogoutFollowsNoRedirect(t *testing.T) {
	ts := newTestServer(t)
	second := newListener(t, nil)
	first := newListener(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.srv.URL+"/admin/shutdown", http.StatusFound)
	})
	backchannelApp(t, ts, "redirector", first.srv.URL+"/backchannel-logout")
	b := ts.browser()
	letIn(t, ts, b, "redirector")
	signOut(t, b)
	if first.hits.Load() != 1 || second.hits.Load() != 0 {
		t.Fatalf("the registered URL was hit %d times, the one it redirected to %d times; want 1 and never",
			first.hits.Load(), second.hits.Load())
	}
}

func TestAccountRevokeTellsOnlyAppsWithAGrant(t *testing.T) {
	ts := newTestServer(t)
	l := newListener(t, nil)
	backchannelApp(t, ts, "stranger", l.srv.URL+"/backchannel-logout")
	b := ts.browser()
	loginForm(t, b, "alice", "wonderland").Body.Close()
	revoke := func() {
		form := formValues(t, body(t, b.get("/account")))
		form.Set("client_id", "stranger")
		location(t, b.post("/account/revoke", form))
	}
	// Alice never let the app in: revoking it must not make ImageHost
	// post to its URL.
	revoke()
	if n := l.hits.Load(); n != 0 {
		t.Fatalf("revoking an app the user never authorized sent %d notifications", n)
	}
	// Once it holds a grant, revoking it tells it.
	letIn(t, ts, b, "stranger")
	revoke()
	if n := l.hits.Load(); n != 1 {
		t.Fatalf("revoking an authorized app sent %d notifications, want 1", n)
	}
}

// TestBackchannelLogoutConcurrencyCap signs a user out of many sessions at
// once, each telling three slow apps: a burst of outbound requests. No more
// than backchannelSlots are in flight at any time, and none is lost.
func TestBackchannelLogoutConcurrencyCap(t *testing.T) {
	ts := newTestServer(t)
	slow := newListener(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) })
	apps := []string{"slow-1", "slow-2", "slow-3"}
	for _, id := range apps {
		backchannelApp(t, ts, id, slow.srv.URL+"/backchannel-logout")
	}
	const sessions = 8
	browsers := make([]*browser, sessions)
	for i := range browsers {
		browsers[i] = ts.browser()
		loginForm(t, browsers[i], "alice", "wonderland").Body.Close()
	}
	for _, id := range apps { // offline_access: the grants outlive each sign-out
		letIn(t, ts, browsers[0], id)
	}
	forms := make([]url.Values, sessions)
	for i, b := range browsers {
		forms[i] = formValues(t, body(t, b.get("/logout")))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			<-start
			b.post("/logout", forms[i]).Body.Close()
		})
	}
	close(start)
	wg.Wait()
	if peak := slow.peak.Load(); peak > backchannelSlots {
		t.Fatalf("%d notifications were in flight at once, more than the cap of %d", peak, backchannelSlots)
	}
	if n := slow.hits.Load(); n != sessions*int32(len(apps)) {
		t.Fatalf("%d notifications arrived, want %d: none may be lost to the cap", n, sessions*len(apps))
	}
}

// TestBackchannelLogoutCutsOffSlowAndHugeAnswers: one app never answers,
// another answers with a body that never ends. The sign-out still returns
// within the time limit, and the endless answer is not read to its end.
func TestBackchannelLogoutCutsOffSlowAndHugeAnswers(t *testing.T) {
	ts := newTestServer(t)
	release := make(chan struct{})
	stalled := newListener(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	var written atomic.Int64
	streamEnded := make(chan struct{})
	endless := newListener(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(streamEnded)
		chunk := make([]byte, 32<<10)
		for {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the listeners close
	backchannelApp(t, ts, "stalled", stalled.srv.URL+"/backchannel-logout")
	backchannelApp(t, ts, "endless", endless.srv.URL+"/backchannel-logout")
	b := ts.browser()
	letIn(t, ts, b, "stalled")
	letIn(t, ts, b, "endless")

	began := time.Now()
	signOut(t, b)
	if took := time.Since(began); took > backchannelTimeLimit+2*time.Second {
		t.Fatalf("signing out took %v with a stalled app; the limit is %v", took, backchannelTimeLimit)
	}
	select {
	case <-streamEnded: // ImageHost hung up on it
	case <-time.After(10 * time.Second):
		t.Fatalf("ImageHost is still reading the endless answer (%d bytes so far)", written.Load())
	}
	if stalled.hits.Load() != 1 || endless.hits.Load() != 1 {
		t.Fatalf("hits: stalled %d, endless %d; want one each", stalled.hits.Load(), endless.hits.Load())
	}
}
