package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"oauthdemo/authserver/store"
)

var (
	newClientIDRE = regexp.MustCompile(`id="new-client-id">([^<]+)<`)
	newSecretRE   = regexp.MustCompile(`id="client-secret">([^<]+)<`)
)

// introspectStatus authenticates as a client at /introspect and returns the status.
func introspectStatus(t *testing.T, ts *testServer, id, secret string) int {
	t.Helper()
	resp := postBasic(t, ts.URL+"/introspect", id, secret, url.Values{"token": {"x"}})
	resp.Body.Close()
	return resp.StatusCode
}

func TestDeveloperConsole(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.browser()
	loginForm(t, alice, "alice", "wonderland").Body.Close()
	page := body(t, alice.get("/developer"))
	form := formValues(t, page)
	form.Set("name", "Attendee App")
	form.Set("redirect_uris", "http://localhost:3000/cb\nhttps://app.example/cb")
	form.Set("access_token_ttl", "30")
	resp := alice.post("/developer/clients", form)
	page = body(t, resp)
	id, secret := newClientIDRE.FindStringSubmatch(page), newSecretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusCreated || id == nil || secret == nil {
		t.Fatalf("register: %d\n%s", resp.StatusCode, page)
	}
	clientID, clientSecret := id[1], secret[1]
	if strings.Count(body(t, alice.get("/developer")), clientSecret) != 0 {
		t.Fatal("the secret is shown again after the first time")
	}

	// A standard client uses it; its access tokens live 30 s.
	c := newStandardClient(t, ts, clientID, clientSecret, "http://localhost:3000/cb", "openid", "photos.read")
	tok, _ := c.login(t, ts.browser(), "bob", "builder")
	claims, e := parseTestAccessToken(ts, tok.AccessToken)
	if e != nil || claims.Expiry.Time().Sub(claims.IssuedAt.Time()).Seconds() != 30 {
		t.Fatalf("access token of the console's client: %v %+v", e, claims)
	}

	// Rotation: the old secret stops working, the new one works.
	form = formValues(t, page)
	page = body(t, alice.post("/developer/clients/"+clientID+"/rotate", form))
	rotated := newSecretRE.FindStringSubmatch(page)
	if rotated == nil || rotated[1] == clientSecret {
		t.Fatal("rotation showed no new secret")
	}
	if introspectStatus(t, ts, clientID, clientSecret) != http.StatusUnauthorized || introspectStatus(t, ts, clientID, rotated[1]) != http.StatusOK {
		t.Fatal("after rotation the old secret should fail and the new one work")
	}

	// Bob cannot touch alice's app.
	bob := ts.browser()
	loginForm(t, bob, "bob", "builder").Body.Close()
	bobForm := formValues(t, body(t, bob.get("/developer")))
	for _, action := range []string{"rotate", "delete"} {
		resp := bob.post("/developer/clients/"+clientID+"/"+action, bobForm)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("bob %s alice's app: %d", action, resp.StatusCode)
		}
	}
	if strings.Contains(body(t, bob.get("/developer")), clientID) {
		t.Fatal("bob's console lists alice's app")
	}

	// Bad input: an error on the page, nothing registered.
	form = formValues(t, page)
	form.Set("name", "Bad")
	form.Set("redirect_uris", "http://app.example/cb")
	resp = alice.post("/developer/clients", form)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "loopback") {
		t.Fatalf("an http redirect URI on a public host: %d", resp.StatusCode)
	}
	// A redirect URI that is not ASCII (RFC 3986 §2.5), say bytes a form
	// sent that are not UTF-8, which PostgreSQL could not store: the
	// console's error, nothing registered.
	for _, uri := range []string{"http://127.0.0.1/cb\xff", "http://127.0.0.1/caf\u00e9"} {
		form.Set("redirect_uris", uri)
		resp = alice.post("/developer/clients", form)
		if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "must be ASCII") {
			t.Fatalf("redirect URI %q: %d, want 400 and the console's error", uri, resp.StatusCode)
		}
	}
	if cs, _ := ts.store.ListClients(context.Background()); slices.ContainsFunc(cs, func(c store.Client) bool { return c.Name == "Bad" }) {
		t.Fatal("a client with a redirect URI that is not ASCII was registered")
	}
	// No CSRF token: refused.
	resp = alice.post("/developer/clients", url.Values{"name": {"x"}, "redirect_uris": {"https://a.example/cb"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF token: %d", resp.StatusCode)
	}

	// Delete: the client is gone.
	loc := location(t, alice.post("/developer/clients/"+clientID+"/delete", form))
	if loc.Path != "/developer" || introspectStatus(t, ts, clientID, rotated[1]) != http.StatusUnauthorized {
		t.Fatal("the deleted client still authenticates")
	}
}

// TestDeveloperConsoleCapUnderBurst: a user posts the console's form many
// times at once, round after round. They never end up with more apps than a
// user may keep: the store counts and inserts in one step.
func TestDeveloperConsoleCapUnderBurst(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	alice := ts.browser()
	loginForm(t, alice, "alice", "wonderland").Body.Close()
	form := formValues(t, body(t, alice.get("/developer")))
	form.Set("name", "Burst App")
	form.Set("redirect_uris", "http://localhost:3000/cb")
	const rounds, burst = 10, 3 * maxClientsPerUser / 2
	client := warmClient(t, alice, burst)
	alicesApps := func() []string {
		clients, err := ts.store.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var own []string
		for _, c := range clients {
			if c.OwnerUserID == "sub-alice" {
				own = append(own, c.ID)
			}
		}
		return own
	}
	for round := range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				<-start
				resp, err := client.PostForm(ts.URL+"/developer/clients", form)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			})
		}
		close(start)
		wg.Wait()
		own := alicesApps()
		if len(own) != maxClientsPerUser {
			t.Fatalf("round %d: after a burst of %d forms alice has %d apps, want the cap of %d", round, burst, len(own), maxClientsPerUser)
		}
		for _, id := range own {
			if err := ts.store.DeleteClient(ctx, id, ts.clock.now()); err != nil {
				t.Fatal(err)
			}
		}
	}
}
