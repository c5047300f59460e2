package signing_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/store/sqlite"
)

// clock is the injected clock: a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

const (
	retain     = time.Hour
	publishFor = 4 * time.Second
)

var (
	t0   = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	algs = []string{signing.ES256, signing.RS256}
)

// openStore opens a real SQLite file, closed when the test ends.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// open opens a key set on st reading c, as an instance starting on st would.
func open(t *testing.T, st signing.Store, c *clock) *signing.KeySet {
	t.Helper()
	ks, err := signing.Open(t.Context(), st, c.now, retain)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// signedKIDs signs a token with each algorithm at ks and returns the kid in
// each one's header.
func signedKIDs(t *testing.T, ks *signing.KeySet) map[string]string {
	t.Helper()
	kids := map[string]string{}
	for _, alg := range algs {
		raw, err := ks.Sign(alg, "JWT", map[string]string{"sub": "x"})
		if err != nil {
			t.Fatal(err)
		}
		jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		kids[alg] = jws.Signatures[0].Header.KeyID
	}
	return kids
}

// publishedKIDs returns the kids in ks's JWKS, by algorithm, oldest first.
func publishedKIDs(t *testing.T, ks *signing.KeySet) map[string][]string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string][]string{}
	for _, k := range set.Keys {
		if _, _, ok := ks.PublicKey(k.KeyID); !ok {
			t.Fatalf("%s is in the JWKS but does not verify", k.KeyID)
		}
		kids[k.Algorithm] = append(kids[k.Algorithm], k.KeyID)
	}
	return kids
}

// newKeys returns, by algorithm, the kid ks publishes besides those in old.
func newKeys(t *testing.T, ks *signing.KeySet, old map[string]string) map[string]string {
	t.Helper()
	next := map[string]string{}
	for alg, kids := range publishedKIDs(t, ks) {
		for _, kid := range kids {
			if kid != old[alg] {
				next[alg] = kid
			}
		}
	}
	return next
}

func publishes(t *testing.T, ks *signing.KeySet, kids map[string]string) bool {
	t.Helper()
	published := publishedKIDs(t, ks)
	for alg, kid := range kids {
		if !slices.Contains(published[alg], kid) {
			return false
		}
	}
	return true
}

// TestRotationPublishesBeforeUse: a rotation's new keys are published at
// once by an instance that has read them, and sign only from the moment
// the old keys retire, at every instance alike; an instance that has not
// read them yet goes on with the old keys, which everyone still publishes.
func TestRotationPublishesBeforeUse(t *testing.T) {
	ctx := t.Context()
	c := &clock{t: t0}
	st := openStore(t)
	a, b := open(t, st, c), open(t, st, c) // two instances on one database
	old := signedKIDs(t, a)

	rotated := t0.Add(time.Minute)
	c.set(rotated)
	must(t, signing.Rotate(ctx, st, rotated, publishFor))
	must(t, a.Reload(ctx)) // a has read the rotation, b not yet
	next := newKeys(t, a, old)
	if len(next) != 2 || !publishes(t, a, old) {
		t.Fatalf("a publishes %v after reading the rotation, want the old keys %v and a new one for each algorithm", publishedKIDs(t, a), old)
	}
	for _, at := range []time.Time{rotated, rotated.Add(publishFor - time.Nanosecond)} {
		c.set(at)
		if kids := signedKIDs(t, a); !sameKIDs(kids, old) {
			t.Fatalf("%v after the rotation a signs with %v, want the old keys %v until the new ones have been published for %v",
				at.Sub(rotated), kids, old, publishFor)
		}
	}
	c.set(rotated.Add(publishFor))
	if kids := signedKIDs(t, a); !sameKIDs(kids, next) {
		t.Fatalf("when the old keys retire a signs with %v, want the new keys %v", kids, next)
	}
	for _, alg := range algs {
		if a.ActiveKeyID(alg) != next[alg] {
			t.Fatalf("ActiveKeyID(%s) = %s, want %s", alg, a.ActiveKeyID(alg), next[alg])
		}
	}
	// b has missed the rotation: it signs with the old keys, which a still
	// publishes, so a verifies b's tokens.
	if kids := signedKIDs(t, b); !sameKIDs(kids, old) || !publishes(t, a, old) {
		t.Fatalf("b, which has not read the rotation, signs with %v, want the old keys %v, published at a", kids, old)
	}
	must(t, b.Reload(ctx))
	if kids := signedKIDs(t, b); !sameKIDs(kids, next) {
		t.Fatalf("b signs with %v once it has read the rotation, want %v", kids, next)
	}
	// The old keys verify until every token they signed has expired.
	c.set(rotated.Add(publishFor + retain - time.Second))
	must(t, a.Reload(ctx))
	if !publishes(t, a, old) {
		t.Fatalf("the old keys left the JWKS before their last tokens expired: %v", publishedKIDs(t, a))
	}
	c.set(rotated.Add(publishFor + retain + time.Second))
	must(t, a.Reload(ctx))
	if published := publishedKIDs(t, a); len(published[signing.ES256]) != 1 || len(published[signing.RS256]) != 1 {
		t.Fatalf("after their last tokens expired a publishes %v, want only the new keys %v", published, next)
	}
}

// TestRotationWithoutDelay: on a database one process serves, a rotation's
// keys sign as soon as that process reads them.
func TestRotationWithoutDelay(t *testing.T) {
	c := &clock{t: t0}
	st := openStore(t)
	ks := open(t, st, c)
	old := signedKIDs(t, ks)
	must(t, signing.Rotate(t.Context(), st, t0, 0))
	must(t, ks.Reload(t.Context()))
	if kids := signedKIDs(t, ks); !sameKIDs(kids, newKeys(t, ks, old)) || !publishes(t, ks, old) {
		t.Fatalf("after a rotation without delay the key set signs with %v and publishes %v; the old keys were %v", kids, publishedKIDs(t, ks), old)
	}
}

// TestRotationsInARow: an operator who rotates twice within the delay gets
// each new key in turn, each once the one before it retires, and never a
// moment without a key that signs.
func TestRotationsInARow(t *testing.T) {
	c := &clock{t: t0}
	st := openStore(t)
	ks := open(t, st, c)
	k0 := signedKIDs(t, ks)
	must(t, signing.Rotate(t.Context(), st, t0, publishFor))
	must(t, ks.Reload(t.Context()))
	k1 := newKeys(t, ks, k0)
	must(t, signing.Rotate(t.Context(), st, t0.Add(time.Second), publishFor))
	must(t, ks.Reload(t.Context()))
	k2 := map[string]string{}
	for alg, kids := range publishedKIDs(t, ks) {
		k2[alg] = kids[len(kids)-1] // oldest first
	}
	for _, step := range []struct {
		at   time.Duration
		want map[string]string
	}{
		{0, k0}, {publishFor - time.Nanosecond, k0},
		{publishFor, k1}, {time.Second + publishFor - time.Nanosecond, k1},
		{time.Second + publishFor, k2}, {time.Hour, k2},
	} {
		c.set(t0.Add(step.at))
		if kids := signedKIDs(t, ks); !sameKIDs(kids, step.want) {
			t.Errorf("%v after the first rotation the key set signs with %v, want %v", step.at, kids, step.want)
		}
	}
}

// readCounter is a store that tells, once, when its keys have been read
// often enough.
type readCounter struct {
	*sqlite.Store
	mu    sync.Mutex
	reads int
	after int
	done  chan struct{}
}

func (r *readCounter) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := r.Store.SigningKeys(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reads++; r.reads == r.after {
		close(r.done)
	}
	return keys, err
}

// TestHalfRotationIsNotFollowed: a rotation caught between retiring the old
// keys and storing the new ones leaves the keys in use as they were: the
// reader waits for the new keys before it takes the old ones' retirement,
// and never finds itself without a key that signs.
func TestHalfRotationIsNotFollowed(t *testing.T) {
	c := &clock{t: t0}
	st := &readCounter{Store: openStore(t), done: make(chan struct{})}
	ks := open(t, st, c)
	old := signedKIDs(t, ks)
	must(t, st.RetireSigningKeys(t.Context(), signing.ES256, t0.Add(time.Second)))
	st.mu.Lock()
	st.after = st.reads + 3 // a few reads of the half-done rotation
	st.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	followed := make(chan struct{})
	go func() { ks.Follow(ctx, time.Millisecond, slog.New(slog.DiscardHandler)); close(followed) }()
	<-st.done
	cancel()
	<-followed
	c.set(t0.Add(time.Hour))
	if kids := signedKIDs(t, ks); !sameKIDs(kids, old) {
		t.Fatalf("after following a half-done rotation the key set signs with %v, want the old keys %v", kids, old)
	}
}

// sameKIDs reports whether a and b hold the same kids.
func sameKIDs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
