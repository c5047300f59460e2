package main

// Instances on one PostgreSQL database behave as one: what they must share
// is in the database, not in one process's memory.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/signing"
)

// twoInstances starts two ImageHost instances on one fresh PostgreSQL
// database, configured as serve configures them with a database URL.
func twoInstances(t *testing.T, configure ...func(*Config)) (first, second *testServer) {
	t.Helper()
	dbURL := newPostgresDatabase(t)
	configure = append([]func(*Config){func(c *Config) { c.DatabaseURL = dbURL }}, configure...)
	first = newTestServerOn(t, openPostgres(t, dbURL, nil), configure...)
	second = anotherInstance(t, first, openPostgres(t, dbURL, nil), nil)
	return first, second
}

// TestLoginThrottleAcrossInstancesOnPostgres: 40 wrong passwords for
// alice at once, half to each of two instances, as a load balancer without
// sticky sessions spreads them. Only the account's limit of them is
// checked, in all: each instance reserves in the database, in the step
// that checks the limit. Counted in each instance's memory, each would
// have let the limit through.
func TestLoginThrottleAcrossInstancesOnPostgres(t *testing.T) {
	first, second := twoInstances(t)
	b := first.browser()
	form := formValues(t, body(t, b.get("/login")))
	const n = 40
	statuses := make(chan int, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			f := url.Values{"csrf_token": form["csrf_token"], "username": {"alice"}, "password": {fmt.Sprintf("guess-%d", i)}}
			target := []*testServer{first, second}[i%2]
			ready.Done()
			<-start
			resp, err := b.client.PostForm(target.URL+"/login", f)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusUnauthorized] != accountAttempts || counts[http.StatusTooManyRequests] != n-accountAttempts {
		t.Fatalf("answers %v over two instances: want %d wrong-password answers in all and 429 for the rest", counts, accountAttempts)
	}
	// The block holds at both instances, and ends at both.
	for _, ts := range []*testServer{first, second} {
		b.ts = ts
		if resp := loginForm(t, b, "alice", "wonderland"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the right password during the block, at %s: %s", ts.URL, resp.Status)
		}
	}
	first.clock.advance(signInWindow + time.Second) // the instances share this clock
	b.ts = second
	if resp := loginForm(t, b, "alice", "wonderland"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right password after the block: %s", resp.Status)
	}
}

// TestKeyRotationReachesEveryInstanceOnPostgres: the operator rotates the
// signing keys with "authserver keys rotate" on the database of two
// running instances. Within 5 seconds the first signs with the new key,
// and a token it signs so verifies at the second, which publishes the new
// key in its JWKS: each follows the keys in the database.
func TestKeyRotationReachesEveryInstanceOnPostgres(t *testing.T) {
	first, second := twoInstances(t)
	oldKID := first.keys.ActiveKeyID(signing.ES256)
	if kid := headerKID(t, mintRobotToken(t, first)); kid != oldKID {
		t.Fatalf("before the rotation a token is signed with %s, want %s", kid, oldKID)
	}
	rotated := time.Now()
	err := run(t.Context(), []string{"keys", "rotate"}, env("IMAGEHOST_DATABASE_URL", first.cfg.DatabaseURL), strings.NewReader(""), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	deadline := rotated.Add(5 * time.Second)
	var token, newKID string
	for {
		token = mintRobotToken(t, first)
		if newKID = headerKID(t, token); newKID != oldKID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("5 s after the rotation the first instance still signs with the old key")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for apiStatus(t, second, token) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the rotation the second instance refuses a token signed with the new key %s", newKID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if jwks := body(t, second.browser().get("/jwks")); !strings.Contains(jwks, `"kid":"`+newKID+`"`) || !strings.Contains(jwks, `"kid":"`+oldKID+`"`) {
		t.Fatalf("the second instance's JWKS lacks the new key %s or the retired %s: %s", newKID, oldKID, jwks)
	}
	t.Logf("a token signed with the new key verified at the other instance %v after the rotation", time.Since(rotated).Round(time.Millisecond))
}
