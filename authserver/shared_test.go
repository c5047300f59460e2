package main

// Instances on one PostgreSQL database behave as one: what they must share
// is in the database, not in one process's memory.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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
	counts := burst(t, n, func(i int) func() (*http.Response, error) {
		f := url.Values{"csrf_token": form["csrf_token"], "username": {"alice"}, "password": {fmt.Sprintf("guess-%d", i)}}
		target := []*testServer{first, second}[i%2]
		return func() (*http.Response, error) { return b.client.PostForm(target.URL+"/login", f) }
	})
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

// TestKeyRotationRefusesNoTokenOnPostgres: the operator rotates the
// signing keys with "authserver keys rotate" on the database of two
// running instances, which read the keys at different moments (half an
// interval apart, as instances started at different times do). For 6
// seconds, without a pause, each instance issues a token that the other's
// photos API checks, and each instance's JWKS is read: no token is
// refused, and both JWKS always hold the key of every token issued so far
// and of the ID tokens either signs. New keys are published before they
// sign, so no instance is handed a token signed with a key it has not read
// yet, nor a client a JWKS that lacks it. Within 5 seconds both sign with
// the new key.
func TestKeyRotationRefusesNoTokenOnPostgres(t *testing.T) {
	dbURL := newPostgresDatabase(t)
	first := newTestServerOn(t, openPostgres(t, dbURL, nil), func(c *Config) { c.DatabaseURL = dbURL })
	time.Sleep(followKeysEvery / 2) // the second reads the keys between two reads of the first
	second := anotherInstance(t, first, openPostgres(t, dbURL, nil), nil)
	instances := []*testServer{first, second}
	oldKID := first.keys.ActiveKeyID(signing.ES256)

	rotated := time.Now()
	var out strings.Builder
	if err := run(t.Context(), []string{"keys", "rotate"}, env("IMAGEHOST_DATABASE_URL", dbURL), strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	issued := map[string]bool{} // kids of the tokens issued so far
	newKeyAt := map[string]time.Duration{}
	refused, unpublished, rounds := 0, 0, 0
	for time.Since(rotated) < 6*time.Second {
		rounds++
		for i, issuer := range instances {
			token := mintRobotToken(t, issuer)
			kid := headerKID(t, token)
			issued[kid] = true
			issued[issuer.keys.ActiveKeyID(signing.RS256)] = true // the key its ID tokens name
			if _, seen := newKeyAt[issuer.URL]; !seen && kid != oldKID {
				newKeyAt[issuer.URL] = time.Since(rotated)
			}
			if status := apiStatus(t, instances[1-i], token); status != http.StatusOK {
				if refused++; refused == 1 {
					t.Errorf("%v after the rotation a token %s signed with %s is refused by the other instance: %d", time.Since(rotated).Round(time.Millisecond), issuer.URL, kid, status)
				}
			}
		}
		for _, ts := range instances {
			jwks := body(t, ts.browser().get("/jwks"))
			for kid := range issued {
				if !strings.Contains(jwks, `"kid":"`+kid+`"`) {
					if unpublished++; unpublished == 1 {
						t.Errorf("%v after the rotation %s's JWKS lacks the key %s of a token issued already", time.Since(rotated).Round(time.Millisecond), ts.URL, kid)
					}
				}
			}
		}
	}
	for _, ts := range instances {
		at, ok := newKeyAt[ts.URL]
		if !ok || at > 5*time.Second {
			t.Errorf("%s signed with the new key %v after the rotation (signed with it: %v), want within 5 s", ts.URL, at.Round(time.Millisecond), ok)
		}
	}
	if refused > 0 || unpublished > 0 {
		t.Errorf("in %d rounds, %d tokens refused by the other instance and %d JWKS without a key in use", rounds, refused, unpublished)
	}
	t.Logf("%d rounds; the instances signed with the new key %v after the rotation", rounds, newKeyAt)
	if !strings.Contains(out.String(), "signs with them from") {
		t.Errorf("keys rotate does not say when the new keys sign: %q", out.String())
	}
}
