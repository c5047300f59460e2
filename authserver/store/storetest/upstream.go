package storetest

// Signing in through an upstream OpenID provider: a sign-in under way is
// taken once, a burst cannot overshoot the cap on them, an identity is
// linked to one account only, and how each sign-in happened travels from
// the session to the code and the device authorization.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

func newUpstreamLogin(n int) store.UpstreamLogin {
	return store.UpstreamLogin{IDHash: []byte(fmt.Sprint("state-", n)), Upstream: "corporate", AuthRequestID: "req-1", Next: "/device",
		FlowRef: fmt.Sprint("ref-", n), CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
}

func testUpstreamLogins(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := newUpstreamLogin(1)
	l.Identity = store.UpstreamIdentity{Issuer: "https://sso.example", Subject: "carol-sub", Username: "carol", Name: "Carol",
		Email: "carol@sso.example", AMR: "pwd mfa", AuthTime: t0.Add(-time.Hour), Verified: "state, iss, PKCE, ID token, nonce"}
	must(t, s.CreateUpstreamLogin(ctx, l, 10))
	wantErr(t, s.CreateUpstreamLogin(ctx, l, 10), store.ErrDuplicate)

	got, err := s.UpstreamLogin(ctx, l.IDHash, t0)
	must(t, err)
	if !bytes.Equal(got.IDHash, l.IDHash) || got.Upstream != "corporate" || got.AuthRequestID != "req-1" || got.Next != "/device" ||
		got.FlowRef != "ref-1" || !got.ExpiresAt.Equal(l.ExpiresAt) || got.ExpiresAt.Location() != time.UTC ||
		got.Identity.Issuer != "https://sso.example" || got.Identity.Subject != "carol-sub" || got.Identity.Username != "carol" ||
		got.Identity.Name != "Carol" || got.Identity.Email != "carol@sso.example" || got.Identity.AMR != "pwd mfa" ||
		!got.Identity.AuthTime.Equal(t0.Add(-time.Hour)) || got.Identity.Verified != "state, iss, PKCE, ID token, nonce" {
		t.Fatalf("UpstreamLogin = %+v", got)
	}
	// Reading leaves it; taking it ends it.
	got, err = s.TakeUpstreamLogin(ctx, l.IDHash, t0)
	must(t, err)
	if got.Identity.Subject != "carol-sub" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("TakeUpstreamLogin = %+v", got)
	}
	_, err = s.TakeUpstreamLogin(ctx, l.IDHash, t0)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.UpstreamLogin(ctx, l.IDHash, t0)
	wantErr(t, err, store.ErrNotFound)

	// One waiting for the upstream's answer has no identity yet.
	waiting := newUpstreamLogin(2)
	must(t, s.CreateUpstreamLogin(ctx, waiting, 10))
	got, err = s.UpstreamLogin(ctx, waiting.IDHash, t0)
	must(t, err)
	if got.Identity != (store.UpstreamIdentity{}) {
		t.Fatalf("a sign-in waiting for its answer has the identity %+v", got.Identity)
	}

	// Expired: neither read nor taken, and deleted by housekeeping.
	_, err = s.UpstreamLogin(ctx, waiting.IDHash, waiting.ExpiresAt)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.TakeUpstreamLogin(ctx, waiting.IDHash, waiting.ExpiresAt)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteExpired(ctx, waiting.ExpiresAt.Add(time.Second)))
	_, err = s.UpstreamLogin(ctx, waiting.IDHash, t0)
	wantErr(t, err, store.ErrNotFound)

	// The cap counts unexpired ones only.
	for i := range 3 {
		must(t, s.CreateUpstreamLogin(ctx, newUpstreamLogin(10+i), 3))
	}
	wantErr(t, s.CreateUpstreamLogin(ctx, newUpstreamLogin(20), 3), store.ErrQuotaExceeded)
	later := newUpstreamLogin(21)
	later.CreatedAt, later.ExpiresAt = t0.Add(10*time.Minute), t0.Add(20*time.Minute)
	must(t, s.CreateUpstreamLogin(ctx, later, 3))
}

// testUpstreamLoginConcurrent: a burst of sign-ins cannot overshoot the
// cap, and of concurrent takes of one sign-in (a replayed callback)
// exactly one gets it; round after round, since a race shows only now and
// then.
func testUpstreamLoginConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const rounds, n, step = 20, 16, 5
	burst := func(do func(i int) error, refused error) (won int) {
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				errs <- do(i)
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, refused) {
				t.Fatalf("in a burst: %v", err)
			}
		}
		return won
	}
	for round := range rounds {
		// The cap grows by step each round: each burst may fill step more.
		created := burst(func(i int) error {
			return s.CreateUpstreamLogin(ctx, newUpstreamLogin(round*n+i), (round+1)*step)
		}, store.ErrQuotaExceeded)
		if created != step {
			t.Fatalf("round %d: %d of %d concurrent sign-ins were stored, want %d", round, created, n, step)
		}
	}
	for round := range rounds {
		l := newUpstreamLogin(-1 - round)
		must(t, s.CreateUpstreamLogin(ctx, l, 1_000_000))
		took := burst(func(int) error {
			_, err := s.TakeUpstreamLogin(ctx, l.IDHash, t0)
			return err
		}, store.ErrNotFound)
		if took != 1 {
			t.Fatalf("round %d: %d concurrent takes of one sign-in succeeded, want exactly 1", round, took)
		}
	}
}

func testUpstreamLinks(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, _ := seed(t, s)
	link := func(sub, userID string) store.UpstreamLink {
		return store.UpstreamLink{Issuer: "https://sso.example", Subject: sub, UserID: userID, Upstream: "corporate", CreatedAt: t0}
	}
	_, err := s.UserByUpstream(ctx, "https://sso.example", "carol-sub")
	wantErr(t, err, store.ErrNotFound)

	// A new account with its link, in one step.
	carol := store.User{ID: "u-carol", Username: "carol", Name: "Carol", CreatedAt: t0}
	must(t, s.CreateUpstreamUser(ctx, carol, link("carol-sub", "")))
	got, err := s.UserByUpstream(ctx, "https://sso.example", "carol-sub")
	must(t, err)
	if got.ID != "u-carol" || got.Username != "carol" || got.PasswordHash != "" {
		t.Fatalf("UserByUpstream = %+v", got)
	}
	// The same identity again, or a taken username: nothing is stored.
	wantErr(t, s.CreateUpstreamUser(ctx, store.User{ID: "u-carol-2", Username: "carol-2", CreatedAt: t0}, link("carol-sub", "")), store.ErrDuplicate)
	_, err = s.UserByID(ctx, "u-carol-2")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateUpstreamUser(ctx, store.User{ID: "u-dave", Username: "alice", CreatedAt: t0}, link("dave-sub", "")), store.ErrDuplicate)
	wantErr(t, s.CreateUpstreamUser(ctx, store.User{ID: "u-dave", Username: "ALICE", CreatedAt: t0}, link("dave-sub", "")), store.ErrDuplicate)
	_, err = s.UserByUpstream(ctx, "https://sso.example", "dave-sub")
	wantErr(t, err, store.ErrNotFound)
	// The subject is unique per issuer only.
	must(t, s.LinkUpstream(ctx, store.UpstreamLink{Issuer: "https://other.example", Subject: "carol-sub", UserID: alice.ID, Upstream: "other", CreatedAt: t0}))

	// An existing account: linked once; an identity linked already, or an
	// unknown account, is refused.
	must(t, s.LinkUpstream(ctx, link("alice-sub", alice.ID)))
	wantErr(t, s.LinkUpstream(ctx, link("alice-sub", "u-carol")), store.ErrDuplicate)
	wantErr(t, s.LinkUpstream(ctx, link("carol-sub", alice.ID)), store.ErrDuplicate)
	wantErr(t, s.LinkUpstream(ctx, link("ghost-sub", "u-nobody")), store.ErrNotFound)
	got, err = s.UserByUpstream(ctx, "https://sso.example", "alice-sub")
	must(t, err)
	if got.ID != alice.ID {
		t.Fatalf("alice's identity names %s", got.ID)
	}
	// The account an identity names says whether it is disabled: a
	// disabled user signs in through no upstream either.
	must(t, s.SetUserDisabled(ctx, alice.ID, true, t0))
	if got, err = s.UserByUpstream(ctx, "https://sso.example", "alice-sub"); err != nil || !got.Disabled() || !got.DisabledAt.Equal(t0) {
		t.Fatalf("alice disabled: UserByUpstream = %+v, %v", got, err)
	}
	must(t, s.SetUserDisabled(ctx, alice.ID, false, t0))

	// An account deleted takes its links with it; the identity may be
	// linked again.
	must(t, s.DeleteUser(ctx, alice.ID, t0))
	_, err = s.UserByUpstream(ctx, "https://sso.example", "alice-sub")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.LinkUpstream(ctx, link("alice-sub", "u-carol")))
}

// testUpstreamUserConcurrent: two callbacks for one new identity at once
// (two tabs) make one account, not two.
func testUpstreamUserConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- s.CreateUpstreamUser(ctx, store.User{ID: fmt.Sprint("u-", i), Username: fmt.Sprint("carol-", i), CreatedAt: t0},
				store.UpstreamLink{Issuer: "https://sso.example", Subject: "carol-sub", Upstream: "corporate", CreatedAt: t0})
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		if err == nil {
			created++
		} else if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("a concurrent creation: %v", err)
		}
	}
	users, err := s.ListUsers(ctx)
	must(t, err)
	if created != 1 || len(users) != 1 {
		t.Fatalf("%d concurrent creations for one identity succeeded and %d users exist, want 1 and 1", created, len(users))
	}
}

// testSignInMethod: how and where the user signed in goes from the session
// to the code issued in it and to a device authorization the user answered.
func testSignInMethod(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	sess := store.Session{ID: "sid", TokenHash: []byte("cookie"), UserID: u.ID, AuthTime: t0, AMR: "fed pwd", IDP: "https://sso.example",
		ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateSession(ctx, sess))
	got, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	must(t, err)
	if got.AMR != "fed pwd" || got.IDP != "https://sso.example" {
		t.Fatalf("session's sign-in method: amr %q idp %q", got.AMR, got.IDP)
	}
	code := newCode(u, c, "code")
	code.AMR, code.IDP = sess.AMR, sess.IDP
	must(t, s.SaveAuthCode(ctx, code))
	ac, err := s.ConsumeAuthCode(ctx, []byte("code"), "g", t0)
	must(t, err)
	if ac.AMR != "fed pwd" || ac.IDP != "https://sso.example" {
		t.Fatalf("code's sign-in method: amr %q idp %q", ac.AMR, ac.IDP)
	}
	d := newDevice(c, 1)
	must(t, s.CreateDeviceAuthorization(ctx, d, 10))
	must(t, s.DecideDeviceAuthorization(ctx, d.UserCode, store.DeviceDecision{UserID: u.ID, Approved: true, AuthTime: t0,
		AMR: "fed pwd", IDP: "https://sso.example"}, t0))
	got2, err := s.DeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	if got2.AMR != "fed pwd" || got2.IDP != "https://sso.example" {
		t.Fatalf("device authorization's sign-in method: amr %q idp %q", got2.AMR, got2.IDP)
	}
}
