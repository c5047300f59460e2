package main

import (
	"context"
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
	dbURL := newPostgresDatabase(t)
	first := newTestServerOn(t, openPostgres(t, dbURL, nil), func(c *Config) { c.JoinCode = testJoinCode })
	if err := setUpJoining(ctx, first.cfg, first.store, first.clock.now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := first.store.CreateUser(ctx, store.User{ID: "sub-teacher", Username: "teacher", PasswordHash: password.Hash("blackboard"),
		Admin: true, CreatedAt: first.clock.now()}); err != nil {
		t.Fatal(err)
	}
	second := anotherInstance(t, first, openPostgres(t, dbURL, nil), nil)

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
