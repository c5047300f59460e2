package storetest

// DPoP (RFC 9449): a public client's grant bound to its key, and the
// record of accepted proofs, each accepted once, however many instances it
// is presented to at once, and bounded in number.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

func testGrantDPoPBinding(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	g := store.Grant{ID: "bound", ClientID: "app", UserID: "u-alice", Scope: "openid offline_access", AuthTime: t0, CreatedAt: t0,
		DPoPJKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	rt := store.RefreshToken{TokenHash: []byte("bound-rt0"), GrantID: g.ID, Scope: g.Scope, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateGrant(ctx, g, &rt))
	unbound, _ := newGrant(t, s, "unbound")
	got, err := s.GrantByID(ctx, g.ID)
	must(t, err)
	_, viaToken, err := s.RefreshToken(ctx, rt.TokenHash)
	must(t, err)
	active, err := s.ActiveGrantsForUser(ctx, "u-alice")
	must(t, err)
	if got.DPoPJKT != g.DPoPJKT || viaToken.DPoPJKT != g.DPoPJKT || len(active) != 2 {
		t.Fatalf("a bound grant reads back as %q, through its refresh token %q, among %d active", got.DPoPJKT, viaToken.DPoPJKT, len(active))
	}
	if got, _ := s.GrantByID(ctx, unbound.ID); got.DPoPJKT != "" {
		t.Fatalf("an unbound grant reads back bound to %q", got.DPoPJKT)
	}
}

// proofHash is a proof's hash in the given shard.
func proofHash(shard, n int) []byte {
	return fmt.Appendf(nil, "%c-proof-%d", byte(shard), n)
}

func testDPoPProofsUsedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	const limit = 100 * store.DPoPProofShards
	h := proofHash(1, 1)
	expires := t0.Add(time.Minute)
	must(t, s.UseDPoPProof(ctx, h, expires, t0, limit))
	wantErr(t, s.UseDPoPProof(ctx, h, expires, t0.Add(time.Second), limit), store.ErrAlreadyUsed)
	must(t, s.UseDPoPProof(ctx, proofHash(1, 2), expires, t0, limit))

	// Kept until its expiry has passed, then swept.
	must(t, s.DeleteExpired(ctx, expires.Add(-time.Second)))
	wantErr(t, s.UseDPoPProof(ctx, h, expires, expires.Add(-time.Second), limit), store.ErrAlreadyUsed)
	must(t, s.DeleteExpired(ctx, expires.Add(time.Second)))
	must(t, s.UseDPoPProof(ctx, h, expires.Add(time.Hour), expires.Add(time.Second), limit))
}

// testDPoPProofCap fills one shard: the next proof of that shard is
// refused, one of another shard is not; sweeping expired proofs makes room.
func testDPoPProofCap(t *testing.T, s store.Store) {
	ctx := context.Background()
	const perShard = 3
	const limit = perShard * store.DPoPProofShards
	for i := range perShard {
		expires := t0.Add(time.Minute)
		if i == 0 {
			expires = t0.Add(time.Second) // swept first
		}
		must(t, s.UseDPoPProof(ctx, proofHash(5, i), expires, t0, limit))
	}
	wantErr(t, s.UseDPoPProof(ctx, proofHash(5, 100), t0.Add(time.Minute), t0, limit), store.ErrQuotaExceeded)
	must(t, s.UseDPoPProof(ctx, proofHash(6, 100), t0.Add(time.Minute), t0, limit))
	// A refused proof was not recorded: once there is room, it is taken.
	must(t, s.DeleteExpired(ctx, t0.Add(2*time.Second)))
	must(t, s.UseDPoPProof(ctx, proofHash(5, 100), t0.Add(time.Minute), t0.Add(2*time.Second), limit))
	wantErr(t, s.UseDPoPProof(ctx, proofHash(5, 101), t0.Add(time.Minute), t0.Add(2*time.Second), limit), store.ErrQuotaExceeded)
}

// burst runs n calls of use at once, released together, and counts the
// errors they returned by kind.
func burst(t *testing.T, n int, use func(i int) error) (ok, used, full int) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- use(i)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrAlreadyUsed):
			used++
		case errors.Is(err, store.ErrQuotaExceeded):
			full++
		default:
			t.Fatalf("UseDPoPProof: %v", err)
		}
	}
	return ok, used, full
}

// testDPoPProofReplayConcurrent presents one proof many times at once, as
// a thief racing the client would, round after round: exactly one is
// accepted each time.
func testDPoPProofReplayConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 16
	for round := range 20 {
		h := proofHash(round%store.DPoPProofShards, round)
		ok, used, full := burst(t, n, func(int) error {
			return s.UseDPoPProof(ctx, h, t0.Add(time.Minute), t0, 1000*store.DPoPProofShards)
		})
		if ok != 1 || used != n-1 || full != 0 {
			t.Fatalf("round %d: one proof presented %d times at once: %d accepted, %d replays, %d over the cap; want exactly one accepted",
				round, n, ok, used, full)
		}
	}
}

// testDPoPProofCapConcurrent records distinct proofs of one shard at once:
// exactly the shard's share of the cap is kept, round after round (each
// round's proofs have expired and been swept by the next).
func testDPoPProofCapConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const perShard, n = 5, 24
	for round := range 6 {
		now := t0.Add(time.Duration(round) * time.Hour)
		must(t, s.DeleteExpired(ctx, now))
		ok, used, full := burst(t, n, func(i int) error {
			return s.UseDPoPProof(ctx, proofHash(7, round*n+i), now.Add(time.Minute), now, perShard*store.DPoPProofShards)
		})
		if ok != perShard || used != 0 || full != n-perShard {
			t.Fatalf("round %d: %d proofs of one shard at once: %d kept, %d replays, %d refused; want %d kept", round, n, ok, used, full, perShard)
		}
	}
}
