package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// TestRoomOnSeveralInstancesOnPostgres: a room served by two instances on
// one PostgreSQL database is one room. An attendee joins at one and goes
// through the flow at the other; the teacher's class view shows the same at
// either; disabling the attendee at one stops their token at the other
// within a second; a code rotated at one stops working at the other at once.
func TestRoomOnSeveralInstancesOnPostgres(t *testing.T) {
	ctx := context.Background()
	first, second := roomOnTwoInstances(t)
	if err := first.store.CreateUser(ctx, store.User{ID: "sub-teacher", Username: "teacher", PasswordHash: password.Hash("blackboard"),
		Admin: true, CreatedAt: first.clock.now()}); err != nil {
		t.Fatal(err)
	}

	ann := second.attendee(t, "ann")
	id, secret := registerApp(t, ann, "Ann's app", "http://localhost:3000/cb", false)
	// The flow at the first instance, in a browser not signed in there.
	tok, _ := newStandardClient(t, first, id, secret, "http://localhost:3000/cb", "openid", "offline_access", "photos.read").
		login(t, first.browser(), "ann", "ann-password")
	if s := apiStatus(t, second, tok.AccessToken); s != http.StatusOK {
		t.Fatalf("ann's token at the second instance: %d", s)
	}

	teachers := []*browser{first.teacher(t), second.teacher(t)}
	for i, teacher := range teachers {
		eventually(t, 2*time.Second, func() bool {
			_, vm := classData(t, teacher)
			cells := row(vm, "ann")
			for _, m := range []store.Milestone{store.MilestoneSignedIn, store.MilestoneAuthorized, store.MilestoneRedeemed, store.MilestoneAPICalled} {
				if !cells[string(m)].Done {
					return false
				}
			}
			return true
		}, "instance %d's class view does not show ann's flow, made at both, within 2 s", i+1)
	}

	form := formValues(t, body(t, teachers[0].get("/class/attendees")))
	annUser, _ := first.store.UserByUsername(ctx, "ann")
	if resp := teachers[0].post("/class/attendees/"+annUser.ID+"/disable", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("disable at the first instance: %d", resp.StatusCode)
	}
	refusedWithin(t, second, tok.AccessToken, time.Second)

	teachers[0].post("/class/join-code/rotate", form).Body.Close()
	if status, _ := joinError(t, joinAt(t, second.browser(), "/join", testJoinCode, "ben", "ben-password")); status != http.StatusBadRequest {
		t.Fatalf("the old code at the second instance after a rotation at the first: %d, want 400", status)
	}
}

// roomOnTwoInstances starts two instances on one fresh PostgreSQL
// database, as serve configures them with a database URL, where attendees
// join with testJoinCode.
func roomOnTwoInstances(t *testing.T) (first, second *testServer) {
	t.Helper()
	first, second = twoInstances(t, func(c *Config) { c.JoinCode = testJoinCode })
	if err := setUpJoining(context.Background(), first.cfg, first.store, first.clock.now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	return first, second
}

// TestJoinThrottleAcrossInstancesOnPostgres: a burst of guesses at the
// join code from one address, released together and spread over two
// instances as a load balancer without sticky sessions spreads them. Only
// joinAddressAttempts of them are checked in all: the instances count in
// the database, in the step that checks the limit. Counted in each
// instance's memory, each would have let the limit through.
func TestJoinThrottleAcrossInstancesOnPostgres(t *testing.T) {
	first, second := roomOnTwoInstances(t)
	b := first.browser()
	form := formValues(t, body(t, b.get("/join")))
	form.Set("username", "guesser")
	form.Set("password", "guesser-password")
	const n = 4 * joinAddressAttempts
	count := burst(t, n, func(i int) func() (*http.Response, error) {
		f := cloneValues(form, "join_code", fmt.Sprintf("guess-%04d", i))
		target := []*testServer{first, second}[i%2]
		return func() (*http.Response, error) { return b.client.PostForm(target.URL+"/join", f) }
	})
	// A guess past the throttle is checked (400), or, on a machine too
	// busy to hash its password within the budget's wait, shed (503)
	// and its attempt given back; either way no more than the limit get
	// past it.
	if count[http.StatusBadRequest]+count[http.StatusServiceUnavailable] != joinAddressAttempts || count[http.StatusTooManyRequests] != n-joinAddressAttempts {
		t.Fatalf("%d guesses at once from one address over two instances: %v; want %d past the throttle in all (400, or 503 when busy) and %d refused (429)",
			n, count, joinAddressAttempts, n-joinAddressAttempts)
	}
	// The block holds at both instances, and ends at both.
	for _, ts := range []*testServer{first, second} {
		b.ts = ts
		if status, _ := joinError(t, joinAt(t, b, "/join", testJoinCode, "guesser", "guesser-password")); status != http.StatusTooManyRequests {
			t.Fatalf("the right code during the block, at %s: %d, want 429", ts.URL, status)
		}
	}
	first.clock.advance(joinWindow) // the instances share this clock
	b.ts = second
	if loc := location(t, joinAt(t, b, "/join", testJoinCode, "guesser", "guesser-password")); loc.Path != "/developer" {
		t.Fatalf("after the window, the right code went to %s", loc)
	}
}
