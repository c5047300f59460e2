package main

// Back-channel logout posts to a URL whoever registered the client chose:
// these tests aim it the way an attacker would.

import (
	"context"
	"fmt"
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

// eventually polls cond until it holds, and fails the test with msg if
// that takes longer than limit.
func eventually(t *testing.T, limit time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBackchannelLogoutConcurrencyCap signs a user out of several sessions
// at once, each telling twelve slow apps: a burst of outbound requests. No
// more than backchannelSlots are in flight at any time, an app never has
// two, and none is lost.
func TestBackchannelLogoutConcurrencyCap(t *testing.T) {
	ts := newTestServer(t)
	var mu sync.Mutex
	inFlight, peak := map[string]int{}, map[string]int{}
	slow := newListener(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight[r.URL.Path]++
		peak[r.URL.Path] = max(peak[r.URL.Path], inFlight[r.URL.Path])
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		inFlight[r.URL.Path]--
		mu.Unlock()
	})
	const apps, sessions = 12, 4
	for i := range apps {
		id := fmt.Sprint("slow-", i)
		backchannelApp(t, ts, id, slow.srv.URL+"/"+id)
	}
	browsers := make([]*browser, sessions)
	for i := range browsers {
		browsers[i] = ts.browser()
		loginForm(t, browsers[i], "alice", "wonderland").Body.Close()
	}
	for i := range apps { // offline_access: the grants outlive each sign-out
		letIn(t, ts, browsers[0], fmt.Sprint("slow-", i))
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
	eventually(t, 20*time.Second, func() bool { return slow.hits.Load() == sessions*apps },
		"%d notifications arrived, want %d: none may be lost to the cap", slow.hits.Load(), sessions*apps)
	if p := slow.peak.Load(); p > backchannelSlots {
		t.Fatalf("%d notifications were in flight at once, more than the cap of %d", p, backchannelSlots)
	}
	mu.Lock()
	defer mu.Unlock()
	for app, p := range peak {
		if p > 1 {
			t.Fatalf("%s had %d notifications in flight at once; an app gets one at a time", app, p)
		}
	}
}

// TestBackchannelLogoutNotHeldUpBySlowRegistrant is the review's attack:
// someone with an account registers many clients whose back-channel URI
// never answers, lets them in, and revokes them all at once, so that their
// notifications fill every slot. Another user then signs out. Their
// sign-out answers at once, their app hears of it at once, and the
// attacker's clients never hold more than their share of the slots.
func TestBackchannelLogoutNotHeldUpBySlowRegistrant(t *testing.T) {
	ts := newTestServer(t)
	release := make(chan struct{})
	stalled := newListener(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server and the listener close
	victimApp := newListener(t, nil)
	backchannelApp(t, ts, "victims-app", victimApp.srv.URL+"/backchannel-logout")
	victim := ts.browser()
	letIn(t, ts, victim, "victims-app")

	// The attacker, bob, registers a dozen slow clients and lets them in.
	const slowClients = 12
	attacker := ts.browser()
	loginForm(t, attacker, "bob", "builder").Body.Close()
	ids := make([]string, slowClients)
	for i := range ids {
		status, out, _ := register(t, ts, iat, fmt.Sprintf(`{"client_name":"slow %d","redirect_uris":[%q],"backchannel_logout_uri":%q,"scope":"openid"}`,
			i, bcRedirect, stalled.srv.URL+"/bc"))
		if status != http.StatusCreated {
			t.Fatalf("register: %d %v", status, out)
		}
		ids[i] = out["client_id"].(string)
		newStandardClient(t, ts, ids[i], out["client_secret"].(string), bcRedirect, "openid").login(t, attacker, "bob", "builder")
	}
	form := formValues(t, body(t, attacker.get("/account")))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			<-start
			f := url.Values{"csrf_token": form["csrf_token"], "client_id": {id}}
			if resp, err := attacker.client.PostForm(ts.URL+"/account/revoke", f); err == nil {
				resp.Body.Close()
			}
		})
	}
	close(start)
	t.Cleanup(wg.Wait)
	eventually(t, 5*time.Second, func() bool { return stalled.inFlight.Load() >= backchannelSlotsPerRegistrant },
		"the attacker's notifications never reached their URL")

	began := time.Now()
	signOut(t, victim)
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the victim's sign-out took %v while the attacker's notifications stalled", took)
	}
	eventually(t, 2*time.Second, func() bool { return victimApp.hits.Load() == 1 },
		"the victim's app was not told within 2 s of the sign-out; the attacker's notifications held it up")
	if p := stalled.peak.Load(); p > backchannelSlotsPerRegistrant {
		t.Fatalf("the attacker's clients had %d notifications in flight at once, more than a registrant's %d", p, backchannelSlotsPerRegistrant)
	}
}

// TestBackchannelQueueIsBounded floods the queue, with its limits lowered:
// one registrant's notifications to apps that never answer, more than may
// wait. What does not fit is dropped, never more waits than the limits
// allow, and another registrant's notification still goes out.
func TestBackchannelQueueIsBounded(t *testing.T) {
	ts := newTestServer(t)
	release := make(chan struct{})
	stalled := newListener(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	other := newListener(t, nil)
	b := newBackchannel(ts.cfg, ts.keys, ts.store, ts.clock.now, discardLogger())
	b.limits = backchannelLimits{slots: 3, slotsPerRegistrant: 1, queue: 6, queuePerRegistrant: 4}
	t.Cleanup(b.stop)
	t.Cleanup(func() { close(release) }) // runs first
	var flood []store.Client
	for i := range 50 {
		flood = append(flood, store.Client{ID: fmt.Sprint("flood-", i), Registrant: "user:mallory", BackchannelLogoutURI: stalled.srv.URL + "/bc"})
	}
	var wg sync.WaitGroup
	for _, c := range flood {
		wg.Go(func() { b.notify(context.Background(), []store.Client{c}, "sub-alice", "") })
	}
	wg.Wait()
	b.mu.Lock()
	waiting, inFlight := len(b.waiting), b.inFlight
	b.mu.Unlock()
	if waiting != 4 || inFlight != 1 {
		t.Fatalf("after the flood %d notifications wait and %d are in flight, want the registrant's 4 and 1", waiting, inFlight)
	}
	b.notify(context.Background(), []store.Client{{ID: "honest", Registrant: "user:alice", BackchannelLogoutURI: other.srv.URL + "/bc"}}, "sub-alice", "")
	if other.hits.Load() != 1 {
		t.Fatal("another registrant's notification did not go out beside the flood")
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
	if took := time.Since(began); took >= backchannelTimeout {
		t.Fatalf("signing out took %v with a stalled app; it waits for the apps %v at most", took, backchannelWait)
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
