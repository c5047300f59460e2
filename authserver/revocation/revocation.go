// Package revocation lets the photos API refuse revoked access tokens at the
// cost of a map lookup. ImageHost's access tokens are signed JWTs: a
// resource server that only checks the signature (RFC 9068 §4) would honour
// a token until it expires, however long after the user pressed "Revoke
// access". So every revocation is also written down where the API looks.
//
// The store is the source of truth: it records a store.Revocation in the
// same transaction as the revocation itself (a grant revoked, an access
// token revoked at /revoke, a user or client deleted). A Set is this
// process's cache of those records:
//
//   - Load fills it from the store at start;
//   - Tracking wraps the store so that a revocation made in this process
//     reaches the Set before the call that made it returns;
//   - Follow polls the store (RevocationsSince) for revocations made by
//     another process on the same database, such as the operator's
//     "authserver users remove", or another ImageHost instance on the same
//     PostgreSQL database: each follows the others' revocations within a
//     poll interval. It asks for the records numbered after the highest it
//     has read (store.Revocation's Seq), which the store numbers in the
//     order it commits them, so it misses none, however far apart the
//     clocks of the instances that recorded them are.
//
// A revocation matters only while a token it concerns can still be valid,
// so the Set forgets an entry once the longest access-token lifetime has
// passed. It holds at most a fixed number of entries; if more revocations
// than that are live at once, it stops caching and asks the store on every
// check, until enough have aged out.
package revocation

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// Source is what a Set reads from: the store.
type Source interface {
	RevocationsSince(ctx context.Context, afterSeq int64, limit int) ([]store.Revocation, error)
	RevocationsOf(ctx context.Context, keys []store.RevocationKey) ([]store.Revocation, error)
}

// DefaultLimit bounds a Set: 32,768 entries take under 4 MiB of heap
// (measured), against ImageHost's soft limit of 44 MiB. Normal use stays far
// below: it is the revocations of one access-token lifetime.
const DefaultLimit = 1 << 15

const (
	// clockSkew is how far in the future a token's "iat" may lie
	// (oauth.ParseAccessToken allows a minute), so how much longer than a
	// token's lifetime a revocation must be remembered. It is also how far
	// apart the clocks of instances sharing a database may be before one
	// forgets another's revocation early; following needs no clock.
	clockSkew = time.Minute
	// readPage is how many revocations one query reads.
	readPage = 1024
	// pruneEvery and reloadEvery pace the work a poll does besides reading.
	pruneEvery  = time.Minute
	reloadEvery = 30 * time.Second
)

// Set is an in-memory set of revocations, safe for concurrent use.
type Set struct {
	src    Source
	now    func() time.Time
	retain time.Duration
	limit  int

	mu sync.RWMutex
	// revoked maps what was revoked to when, in Unix seconds: the grain of
	// a token's "iat", which client and subject revocations compare with.
	revoked map[store.RevocationKey]int64
	// overflow: more live revocations than limit; revoked is empty and
	// every check asks src.
	overflow bool
	// followedSeq is the highest store.Revocation.Seq read: the next poll
	// asks for what was recorded after it.
	followedSeq int64
	prunedAt    time.Time
	reloadedAt  time.Time
}

// Load returns a Set holding the revocations of the last maxTokenLifetime,
// the longest an access token lives, read from src. It holds at most limit
// entries at a time.
func Load(ctx context.Context, src Source, now func() time.Time, maxTokenLifetime time.Duration, limit int) (*Set, error) {
	s := &Set{src: src, now: now, retain: maxTokenLifetime + clockSkew, limit: limit}
	if err := s.reload(ctx, now()); err != nil {
		return nil, err
	}
	return s, nil
}

// reload replaces the cache with the revocations the store holds that a
// token still in circulation may concern, or switches to overflow if those
// are more than limit. It holds the lock while it reads, so that a
// revocation this process makes meanwhile (Add) waits for it, rather than
// land in the cache about to be replaced; checks wait too, which is why
// only Load and the way out of an overflow reload.
func (s *Set) reload(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloadedAt = now
	cutoff := now.Add(-s.retain)
	s.revoked, s.overflow, s.followedSeq = map[store.RevocationKey]int64{}, false, 0
	for {
		rs, err := s.src.RevocationsSince(ctx, s.followedSeq, readPage)
		if err != nil {
			s.overflow = true // ask the store on every check until a reload works
			return err
		}
		for _, r := range rs {
			s.followedSeq = r.Seq
			if !r.RevokedAt.Before(cutoff) { // else every token it concerns has expired
				s.addLocked([]store.Revocation{r})
			}
		}
		if s.overflow { // the next reload starts from the beginning again
			return nil
		}
		if len(rs) < readPage {
			break
		}
	}
	s.prunedAt = now
	return nil
}

// Add records revocations made in this process. Once the Set overflows it
// records nothing: the store has them, and every check asks the store.
func (s *Set) Add(rs ...store.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(rs)
}

func (s *Set) addLocked(rs []store.Revocation) {
	for _, r := range rs {
		if s.overflow {
			return
		}
		// A later revocation of a client or subject covers more tokens.
		if prev, ok := s.revoked[r.RevocationKey]; !ok || r.RevokedAt.Unix() > prev {
			s.revoked[r.RevocationKey] = r.RevokedAt.Unix()
		}
		if len(s.revoked) > s.limit {
			// Forgetting any entry would let its tokens through again, so
			// the Set stops caching instead (and frees the memory).
			s.overflow, s.revoked = true, map[store.RevocationKey]int64{}
		}
	}
}

// Revoked reports whether the access token with claims c was revoked. It
// is a few map lookups; only after an overflow does it ask the store.
func (s *Set) Revoked(ctx context.Context, c oauth.AccessTokenClaims) (bool, error) {
	s.mu.RLock()
	if !s.overflow {
		iat := issuedAt(c)
		revoked := s.hitLocked(store.RevokedToken, c.ID, iat) || s.hitLocked(store.RevokedGrant, c.GrantID, iat) ||
			s.hitLocked(store.RevokedClient, c.ClientID, iat) || s.hitLocked(store.RevokedSubject, c.Subject, iat)
		s.mu.RUnlock()
		return revoked, nil
	}
	s.mu.RUnlock()
	rs, err := s.src.RevocationsOf(ctx, Keys(c))
	if err != nil {
		return false, err
	}
	return Revokes(rs, c), nil
}

func (s *Set) hitLocked(kind store.RevocationKind, id string, iat int64) bool {
	if id == "" {
		return false
	}
	at, ok := s.revoked[store.RevocationKey{Kind: kind, ID: id}]
	return ok && covers(kind, at, iat)
}

// Len returns how many revocations the Set holds in memory.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.revoked)
}

// Sync reads what the store recorded since the last Sync, made by another
// process, and forgets entries older than the longest token lifetime. After
// an overflow it tries, now and then, to load the store's revocations again.
func (s *Set) Sync(ctx context.Context) error {
	now := s.now()
	s.mu.RLock()
	overflow, from, reloadedAt := s.overflow, s.followedSeq, s.reloadedAt
	s.mu.RUnlock()
	if overflow {
		if now.Sub(reloadedAt) < reloadEvery {
			return nil
		}
		return s.reload(ctx, now)
	}
	for {
		rs, err := s.src.RevocationsSince(ctx, from, readPage)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.addLocked(rs) // past limit, it switches to overflow
		if len(rs) > 0 {
			from = rs[len(rs)-1].Seq
			s.followedSeq = from
		}
		overflow = s.overflow
		s.mu.Unlock()
		if len(rs) < readPage || overflow {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.prunedAt) >= pruneEvery {
		s.prunedAt = now
		cutoff := now.Add(-s.retain).Unix()
		for k, at := range s.revoked {
			if at < cutoff {
				delete(s.revoked, k)
			}
		}
	}
	return nil
}

// Follow calls Sync every interval until ctx is done.
func (s *Set) Follow(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("follow revocations", "err", err)
		}
	}
}

// Keys returns what an access token can be revoked by: its jti, grant,
// client and subject.
func Keys(c oauth.AccessTokenClaims) []store.RevocationKey {
	keys := []store.RevocationKey{{Kind: store.RevokedToken, ID: c.ID}, {Kind: store.RevokedClient, ID: c.ClientID},
		{Kind: store.RevokedSubject, ID: c.Subject}}
	if c.GrantID != "" {
		keys = append(keys, store.RevocationKey{Kind: store.RevokedGrant, ID: c.GrantID})
	}
	return keys
}

// Revokes reports whether any of rs, found for Keys(c), revokes the token.
func Revokes(rs []store.Revocation, c oauth.AccessTokenClaims) bool {
	iat := issuedAt(c)
	for _, r := range rs {
		if covers(r.Kind, r.RevokedAt.Unix(), iat) {
			return true
		}
	}
	return false
}

// covers reports whether a revocation of kind at revokedAt (Unix seconds)
// revokes a token issued at iat. A revoked grant or token is revoked for
// good. A deleted client or user loses the tokens issued up to its
// deletion: a client created again under the same id starts afresh. At
// the grain of a second, a token issued in the second of the deletion is
// revoked too.
func covers(kind store.RevocationKind, revokedAt, iat int64) bool {
	switch kind {
	case store.RevokedClient, store.RevokedSubject:
		return iat <= revokedAt
	default:
		return true
	}
}

// issuedAt is the token's "iat" in Unix seconds; a token without one is
// taken as issued at the beginning of time, so every revocation covers it.
func issuedAt(c oauth.AccessTokenClaims) int64 {
	if c.IssuedAt == nil {
		return math.MinInt64
	}
	return c.IssuedAt.Time().Unix()
}

// Tracking returns st with the revoking methods also telling set, before
// they return, what they revoked. Every handler that revokes something goes
// through it, so none can forget to tell the photos API. The Set is told
// even when the store failed (this process at least stops honouring the
// tokens), but not when there was nothing to revoke.
func Tracking(st store.Store, set *Set) store.Store {
	return trackingStore{Store: st, set: set}
}

type trackingStore struct {
	store.Store
	set *Set
}

func (t trackingStore) add(kind store.RevocationKind, id string, now time.Time, err error) {
	if !errors.Is(err, store.ErrNotFound) {
		t.set.Add(store.Revocation{RevocationKey: store.RevocationKey{Kind: kind, ID: id}, RevokedAt: now})
	}
}

func (t trackingStore) RevokeGrant(ctx context.Context, id, reason string, now time.Time) error {
	err := t.Store.RevokeGrant(ctx, id, reason, now)
	t.add(store.RevokedGrant, id, now, err)
	return err
}

func (t trackingStore) RevokeUserClientGrants(ctx context.Context, userID, clientID, reason string, now time.Time) ([]store.Grant, error) {
	grants, err := t.Store.RevokeUserClientGrants(ctx, userID, clientID, reason, now)
	for _, g := range grants {
		t.add(store.RevokedGrant, g.ID, now, nil)
	}
	return grants, err
}

func (t trackingStore) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	err := t.Store.RevokeAccessToken(ctx, jti, now)
	t.add(store.RevokedToken, jti, now, err)
	return err
}

func (t trackingStore) DeleteUser(ctx context.Context, id string, now time.Time) error {
	err := t.Store.DeleteUser(ctx, id, now)
	t.add(store.RevokedSubject, id, now, err)
	return err
}

func (t trackingStore) SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	err := t.Store.SetUserDisabled(ctx, id, disabled, now)
	if disabled {
		t.add(store.RevokedSubject, id, now, err)
	}
	return err
}

func (t trackingStore) DeleteClient(ctx context.Context, id string, now time.Time) error {
	err := t.Store.DeleteClient(ctx, id, now)
	t.add(store.RevokedClient, id, now, err)
	return err
}
