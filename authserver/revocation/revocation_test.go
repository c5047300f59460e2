package revocation_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/revocation"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
)

// clock is an injected clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "imagehost.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// token returns the claims of an access token issued at iat.
func token(jti, grant, client, sub string, iat time.Time) oauth.AccessTokenClaims {
	return oauth.AccessTokenClaims{ID: jti, GrantID: grant, ClientID: client, Subject: sub,
		IssuedAt: jwt.NewNumericDate(iat), Expiry: jwt.NewNumericDate(iat.Add(time.Hour))}
}

func revoked(t *testing.T, set *revocation.Set, c oauth.AccessTokenClaims) bool {
	t.Helper()
	r, err := set.Revoked(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSetMatchesEachKind(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)}
	t0 := clk.now()
	// One revocation is in the store before the Set loads; the others
	// reach it as Tracking would tell it.
	if err := st.RevokeAccessToken(ctx, "jti1", t0); err != nil {
		t.Fatal(err)
	}
	set, err := revocation.Load(ctx, st, clk.now, time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	set.Add(store.Revocation{RevocationKey: store.RevocationKey{Kind: store.RevokedGrant, ID: "g1"}, RevokedAt: t0},
		store.Revocation{RevocationKey: store.RevocationKey{Kind: store.RevokedClient, ID: "gone-app"}, RevokedAt: t0},
		store.Revocation{RevocationKey: store.RevocationKey{Kind: store.RevokedSubject, ID: "gone-user"}, RevokedAt: t0})
	before, after := t0.Add(-time.Minute), t0.Add(time.Second)
	tests := []struct {
		name string
		c    oauth.AccessTokenClaims
		want bool
	}{
		{"untouched", token("jti0", "g0", "app", "alice", before), false},
		{"jti loaded from the store", token("jti1", "g0", "app", "alice", before), true},
		{"grant", token("jti2", "g1", "app", "alice", before), true},
		{"grant, token issued later (cannot happen, still revoked)", token("jti2", "g1", "app", "alice", after), true},
		{"client credentials token, no grant", token("jti3", "", "robot", "robot", before), false},
		{"deleted client, token issued before", token("jti4", "", "gone-app", "gone-app", before), true},
		{"deleted client, token issued in the same second", token("jti4", "", "gone-app", "gone-app", t0), true},
		{"client re-created, token issued after", token("jti5", "g9", "gone-app", "alice", after), false},
		{"deleted user", token("jti6", "g2", "app", "gone-user", before), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := revoked(t, set, tc.c); got != tc.want {
				t.Fatalf("Revoked = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSetIsBounded floods the Set with more revocations than it may hold,
// from many goroutines at once, as a client revoking its own tokens in a
// loop would. Memory stays bounded and every revoked token stays revoked:
// past its limit the Set asks the store.
func TestSetIsBounded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Now().UTC()}
	const limit = 64
	set, err := revocation.Load(ctx, st, clk.now, time.Hour, limit)
	if err != nil {
		t.Fatal(err)
	}
	tracked := revocation.Tracking(st, set)
	const workers, each = 8, 40 // 320 revocations, five times the limit
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range each {
				if err := tracked.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d-%d", w, i), clk.now()); err != nil {
					t.Error(err)
				}
				if _, err := set.Revoked(ctx, token("probe", "", "app", "alice", clk.now())); err != nil { // reads race with writes
					t.Error(err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n := set.Len(); n > limit {
		t.Fatalf("the Set holds %d entries, more than its limit %d", n, limit)
	}
	for w := range workers {
		for i := range each {
			if !revoked(t, set, token(fmt.Sprintf("jti-%d-%d", w, i), "", "app", "alice", clk.now())) {
				t.Fatalf("jti-%d-%d is not revoked after the Set overflowed", w, i)
			}
		}
	}
	if revoked(t, set, token("never-revoked", "", "app", "alice", clk.now())) {
		t.Fatal("an unrevoked token is refused after the overflow")
	}

	// Once the flood has aged out (a token lives at most an hour), the
	// Set caches again.
	clk.advance(2 * time.Hour)
	if err := tracked.RevokeAccessToken(ctx, "fresh", clk.now()); err != nil {
		t.Fatal(err)
	}
	if err := set.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := set.Len(); n != 1 || !revoked(t, set, token("fresh", "", "app", "alice", clk.now())) {
		t.Fatalf("after the flood expired the Set holds %d entries, want the one fresh revocation", n)
	}
}

// TestSetForgetsExpiredAndFollowsOthers: entries go once no token they
// concern can be valid, and a revocation another process wrote to the
// store is picked up by the next Sync.
func TestSetForgetsExpiredAndFollowsOthers(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Now().UTC()}
	set, err := revocation.Load(ctx, st, clk.now, time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	set.Add(store.Revocation{RevocationKey: store.RevocationKey{Kind: store.RevokedToken, ID: "old"}, RevokedAt: clk.now()})
	// Another process (the operator's command line) writes to the store.
	if err := st.RevokeAccessToken(ctx, "elsewhere", clk.now()); err != nil {
		t.Fatal(err)
	}
	if revoked(t, set, token("elsewhere", "", "app", "alice", clk.now())) {
		t.Fatal("the Set knew of a revocation before reading it") // a sanity check of the test itself
	}
	if err := set.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !revoked(t, set, token("elsewhere", "", "app", "alice", clk.now())) {
		t.Fatal("Sync did not pick up the other process's revocation")
	}
	clk.advance(time.Hour + 2*time.Minute) // the longest lifetime, and the allowed clock skew, have passed
	if err := set.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := set.Len(); n != 0 {
		t.Fatalf("the Set still holds %d expired entries", n)
	}
}

// TestSetFollowsProcessesWithOtherClocks: other processes on the same
// database (another instance, the operator's command line) stamp their
// revocations with their own clocks, a minute behind this one's or ahead
// of it. Whenever they commit, the next Sync reads them.
func TestSetFollowsProcessesWithOtherClocks(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)}
	set, err := revocation.Load(ctx, st, clk.now, time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	issued := clk.now().Add(-10 * time.Minute)
	for _, tc := range []struct {
		jti  string
		skew time.Duration // of the other process's clock
	}{{"behind", -time.Minute}, {"ahead", time.Minute}, {"far behind", -30 * time.Minute}} {
		if err := set.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Second)
		if err := st.RevokeAccessToken(ctx, tc.jti, clk.now().Add(tc.skew)); err != nil {
			t.Fatal(err)
		}
		if err := set.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if !revoked(t, set, token(tc.jti, "", "app", "alice", issued)) {
			t.Fatalf("Sync missed a revocation stamped by a clock %v off", tc.skew)
		}
	}
}

// TestSetCatchesUpWithABacklog: another process recorded more revocations
// than one query reads (an instance paused, or a bulk removal) since the
// last Sync; the next Sync reads them all, page after page.
func TestSetCatchesUpWithABacklog(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Now().UTC()}
	set, err := revocation.Load(ctx, st, clk.now, time.Hour, revocation.DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	const backlog = 2500 // more than two pages
	for i := range backlog {
		if err := st.RevokeAccessToken(ctx, fmt.Sprint("jti-", i), clk.now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := set.Len(); n != backlog {
		t.Fatalf("after one Sync the Set holds %d of the %d revocations recorded", n, backlog)
	}
	if !revoked(t, set, token(fmt.Sprint("jti-", backlog-1), "", "app", "alice", clk.now())) {
		t.Fatal("the last revocation of the backlog is not known")
	}
}

// BenchmarkSetRevoked checks a token that nothing revoked against a full
// Set: the photos API's cost per call.
func BenchmarkSetRevoked(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "imagehost.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	set, err := revocation.Load(ctx, st, func() time.Time { return now }, time.Hour, revocation.DefaultLimit)
	if err != nil {
		b.Fatal(err)
	}
	for range revocation.DefaultLimit {
		set.Add(store.Revocation{RevocationKey: store.RevocationKey{Kind: store.RevokedToken, ID: oauth.NewID()}, RevokedAt: now})
	}
	c := token(oauth.NewID(), oauth.NewID(), "app", "alice", now)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, _ := set.Revoked(ctx, c); r {
				b.Fatal("revoked")
			}
		}
	})
}
