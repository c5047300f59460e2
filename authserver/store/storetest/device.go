package storetest

// The device authorization grant's records (RFC 8628): one answer per
// user code, one redemption per device code, and a cap on pending ones
// that a burst cannot overshoot.

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

func newDevice(c store.Client, n int) store.DeviceAuthorization {
	return store.DeviceAuthorization{DeviceCodeHash: []byte(fmt.Sprint("device-", n)), UserCode: fmt.Sprintf("BCDFGH%02d", n),
		ClientID: c.ID, Scope: "openid photos.read", Interval: 5 * time.Second, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
		FlowRef: fmt.Sprint("ref-", n)}
}

func testDeviceAuthorizations(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	d := newDevice(c, 1)
	must(t, s.CreateDeviceAuthorization(ctx, d, 10))
	wantErr(t, s.CreateDeviceAuthorization(ctx, newDeviceWithUserCode(c, 2, d.UserCode), 10), store.ErrDuplicate)

	got, err := s.DeviceAuthorizationByUserCode(ctx, d.UserCode)
	must(t, err)
	if !bytes.Equal(got.DeviceCodeHash, d.DeviceCodeHash) || got.ClientID != c.ID || got.Scope != d.Scope || got.Interval != 5*time.Second ||
		!got.ExpiresAt.Equal(d.ExpiresAt) || got.ExpiresAt.Location() != time.UTC || got.FlowRef != "ref-1" || !got.Pending() || got.UserID != "" {
		t.Fatalf("DeviceAuthorizationByUserCode = %+v", got)
	}
	_, err = s.DeviceAuthorizationByUserCode(ctx, "ZZZZZZZZ")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.DeviceAuthorization(ctx, []byte("unknown"))
	wantErr(t, err, store.ErrNotFound)

	// Not approved yet: nothing to redeem.
	_, err = s.ConsumeDeviceAuthorization(ctx, d.DeviceCodeHash, "g0", t0)
	wantErr(t, err, store.ErrNotFound)

	// Answered once; a second answer, or one after expiry, changes nothing.
	must(t, s.DecideDeviceAuthorization(ctx, d.UserCode, store.DeviceDecision{UserID: u.ID, Approved: true, AuthTime: t0}, t0.Add(time.Minute)))
	wantErr(t, s.DecideDeviceAuthorization(ctx, d.UserCode, store.DeviceDecision{UserID: u.ID, Approved: false, AuthTime: t0}, t0.Add(time.Minute)), store.ErrNotFound)
	got, err = s.DeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	if got.Pending() || !got.Approved || got.UserID != u.ID || !got.AuthTime.Equal(t0) || !got.DecidedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after an approval: %+v", got)
	}
	late := newDevice(c, 3)
	must(t, s.CreateDeviceAuthorization(ctx, late, 10))
	wantErr(t, s.DecideDeviceAuthorization(ctx, late.UserCode, store.DeviceDecision{UserID: u.ID, Approved: true}, late.ExpiresAt), store.ErrNotFound)

	// Redeemed once; the second redemption names the first one's grant.
	got, err = s.ConsumeDeviceAuthorization(ctx, d.DeviceCodeHash, "g1", t0.Add(2*time.Minute))
	must(t, err)
	if got.GrantID != "g1" || !got.Redeemed() || got.UserID != u.ID {
		t.Fatalf("ConsumeDeviceAuthorization = %+v", got)
	}
	got, err = s.ConsumeDeviceAuthorization(ctx, d.DeviceCodeHash, "g2", t0.Add(3*time.Minute))
	wantErr(t, err, store.ErrAlreadyUsed)
	if got.GrantID != "g1" {
		t.Fatalf("a second redemption reports grant %q, want the first one's g1", got.GrantID)
	}

	// A denial cannot be redeemed.
	denied := newDevice(c, 4)
	must(t, s.CreateDeviceAuthorization(ctx, denied, 10))
	must(t, s.DecideDeviceAuthorization(ctx, denied.UserCode, store.DeviceDecision{UserID: u.ID, Approved: false, AuthTime: t0}, t0))
	if got, _ := s.DeviceAuthorization(ctx, denied.DeviceCodeHash); !got.Denied() {
		t.Fatalf("after a denial: %+v", got)
	}
	_, err = s.ConsumeDeviceAuthorization(ctx, denied.DeviceCodeHash, "g3", t0)
	wantErr(t, err, store.ErrNotFound)

	// Deleting the user deletes what they answered; deleting the client
	// deletes the rest.
	must(t, s.DeleteUser(ctx, u.ID, t0))
	for _, gone := range []store.DeviceAuthorization{d, denied} {
		_, err = s.DeviceAuthorization(ctx, gone.DeviceCodeHash)
		wantErr(t, err, store.ErrNotFound)
	}
	must(t, s.DeleteClient(ctx, c.ID, t0))
	_, err = s.DeviceAuthorization(ctx, late.DeviceCodeHash)
	wantErr(t, err, store.ErrNotFound)
}

func newDeviceWithUserCode(c store.Client, n int, userCode string) store.DeviceAuthorization {
	d := newDevice(c, n)
	d.UserCode = userCode
	return d
}

// testDeviceCapConcurrent creates device authorizations from goroutines
// released together, in several rounds an hour apart (each round's
// pending ones have expired by the next): in each, exactly the cap of them
// are stored. Answered and expired ones do not count against it.
func testDeviceCapConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	answered, expired := newDevice(c, 900), newDevice(c, 901)
	expired.ExpiresAt = t0
	must(t, s.CreateDeviceAuthorization(ctx, answered, 10))
	must(t, s.CreateDeviceAuthorization(ctx, expired, 10))
	must(t, s.DecideDeviceAuthorization(ctx, answered.UserCode, store.DeviceDecision{UserID: u.ID, Approved: true, AuthTime: t0}, t0))

	const rounds, n, maxPending = 8, 20, 5
	for round := range rounds {
		errs := make(chan error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			d := newDevice(c, round*n+i)
			d.CreatedAt = t0.Add(time.Duration(round) * time.Hour)
			d.ExpiresAt = d.CreatedAt.Add(10 * time.Minute)
			wg.Go(func() {
				<-start
				errs <- s.CreateDeviceAuthorization(ctx, d, maxPending)
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		created := 0
		for err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, store.ErrQuotaExceeded):
				t.Fatalf("concurrent CreateDeviceAuthorization: %v", err)
			}
		}
		if created != maxPending {
			t.Fatalf("round %d: %d of %d concurrent device authorizations were stored, want the cap, %d", round, created, n, maxPending)
		}
	}
}

// testDeviceConcurrent answers one user code, and redeems one device code,
// from goroutines released together: exactly one of each succeeds.
func testDeviceConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	d := newDevice(c, 1)
	must(t, s.CreateDeviceAuthorization(ctx, d, 10))
	race := func(what string, fn func(i int) error, other error) {
		t.Helper()
		const n = 8
		errs := make(chan error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs <- fn(i)
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, other):
				t.Fatalf("concurrent %s: %v", what, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d concurrent calls of %s succeeded, want exactly 1", won, what)
		}
	}
	race("DecideDeviceAuthorization", func(i int) error {
		return s.DecideDeviceAuthorization(ctx, d.UserCode, store.DeviceDecision{UserID: u.ID, Approved: i%2 == 0, AuthTime: t0}, t0)
	}, store.ErrNotFound)
	if got, _ := s.DeviceAuthorization(ctx, d.DeviceCodeHash); !got.Approved {
		// Answers alternate; make the redemption below possible whichever won.
		d = newDevice(c, 2)
		must(t, s.CreateDeviceAuthorization(ctx, d, 10))
		must(t, s.DecideDeviceAuthorization(ctx, d.UserCode, store.DeviceDecision{UserID: u.ID, Approved: true, AuthTime: t0}, t0))
	}
	race("ConsumeDeviceAuthorization", func(i int) error {
		_, err := s.ConsumeDeviceAuthorization(ctx, d.DeviceCodeHash, fmt.Sprint("g", i), t0)
		return err
	}, store.ErrAlreadyUsed)
}

// testDeviceExpiry: housekeeping keeps an expired device authorization
// for DeviceAuthorizationRetention, so that a late poll hears
// expired_token, and deletes it afterwards.
func testDeviceExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, c := seed(t, s)
	d := newDevice(c, 1)
	must(t, s.CreateDeviceAuthorization(ctx, d, 10))
	must(t, s.DeleteExpired(ctx, d.ExpiresAt.Add(store.DeviceAuthorizationRetention/2)))
	_, err := s.DeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	must(t, s.DeleteExpired(ctx, d.ExpiresAt.Add(store.DeviceAuthorizationRetention+time.Second)))
	_, err = s.DeviceAuthorization(ctx, d.DeviceCodeHash)
	wantErr(t, err, store.ErrNotFound)
}
