// Package signing keeps ImageHost's signing keys: it generates them on first
// run, stores them in the database, signs JWTs with the active key of each
// algorithm, and publishes the public halves as a JSON Web Key Set (RFC 7517).
//
// Two algorithms, each for a reason:
//   - ES256 signs access tokens. An ECDSA P-256 signature costs tens of
//     microseconds where RSA-2048 costs a millisecond, and the token endpoint
//     signs one for every request.
//   - RS256 signs ID tokens and logout tokens: OpenID Connect Core §15.1
//     requires every provider to support it, and every client library does.
//
// Besides, one secret key signs ImageHost's cookies (HMAC-SHA256): CSRF
// tokens, a pending request's browser, a known browser. Every instance on
// one database shares it, so a cookie one set is good at the others; it is
// made once, on the first start, and never rotates with the JWT keys, which
// would end every pending sign-in.
//
// Rotation (Rotate) retires the active keys and makes new ones. A retired key
// no longer signs but stays in the JWKS for Retain, long enough for every
// token it signed to expire, so no client sees a valid token it cannot verify.
//
// The keys live in the store, so every instance on one database has the
// same ones. A rotation is made in the database (by "authserver keys
// rotate"), and each instance's KeySet follows it (Follow): within a poll
// interval every instance signs with the new keys and publishes them.
package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// Algorithms ImageHost signs with.
const (
	RS256 = string(jose.RS256)
	ES256 = string(jose.ES256)
)

// Store is what the key set needs from storage.
type Store interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	SaveSigningKey(ctx context.Context, k store.SigningKey) error
	RetireSigningKeys(ctx context.Context, alg string, now time.Time) error
	DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error
	ServerKey(ctx context.Context, name string, candidate []byte) ([]byte, error)
}

// cookieKeyName is the name the cookie key is stored under.
const cookieKeyName = "cookies"

type key struct {
	id      string
	alg     string
	private crypto.Signer
	retired time.Time
}

// KeySet signs with the active keys and verifies with any published key.
// It is safe for concurrent use.
type KeySet struct {
	store     Store
	now       func() time.Time
	retain    time.Duration
	cookieKey []byte

	mu      sync.RWMutex
	loaded  string         // the stored keys the maps were made from (fingerprint)
	active  map[string]key // by algorithm
	public  map[string]key // by kid: active and recently retired keys
	jwks    []byte
	signers sync.Map // signerKey -> jose.Signer
}

type signerKey struct{ kid, typ string }

// Open loads the keys from st, first generating any that are missing. A key
// retired more than retain ago is neither published nor kept.
func Open(ctx context.Context, st Store, now func() time.Time, retain time.Duration) (*KeySet, error) {
	ks := &KeySet{store: st, now: now, retain: retain}
	if err := ks.Reload(ctx); err != nil {
		return nil, err
	}
	key, err := st.ServerKey(ctx, cookieKeyName, randomKey())
	if err != nil {
		return nil, fmt.Errorf("signing: cookie key: %w", err)
	}
	ks.cookieKey = key
	for _, alg := range []string{RS256, ES256} {
		if _, ok := ks.active[alg]; !ok {
			if err := generate(ctx, st, alg, now()); err != nil {
				return nil, err
			}
		}
	}
	return ks, ks.Reload(ctx)
}

// Rotate retires the active keys and generates new ones. A server running
// on the same database picks them up at its next Reload.
func Rotate(ctx context.Context, st Store, now time.Time) error {
	for _, alg := range []string{RS256, ES256} {
		if err := st.RetireSigningKeys(ctx, alg, now); err != nil {
			return err
		}
		if err := generate(ctx, st, alg, now); err != nil {
			return err
		}
	}
	return nil
}

func generate(ctx context.Context, st Store, alg string, now time.Time) error {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return fmt.Errorf("signing: unknown algorithm %q", alg)
	}
	if err != nil {
		return fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("signing: encode %s key: %w", alg, err)
	}
	return st.SaveSigningKey(ctx, store.SigningKey{ID: oauth.NewID(), Algorithm: alg, PrivateDER: der, CreatedAt: now})
}

// CookieKey returns the key ImageHost's cookies are signed with. The
// caller must not change it.
func (ks *KeySet) CookieKey() []byte { return ks.cookieKey }

// randomKey returns 32 random bytes, a key for HMAC-SHA256.
func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// Reload re-reads the keys from the store and drops keys retired too long ago.
func (ks *KeySet) Reload(ctx context.Context) error {
	now := ks.now()
	if err := ks.store.DeleteSigningKeysRetiredBefore(ctx, now.Add(-ks.retain)); err != nil {
		return err
	}
	return ks.load(ctx, false)
}

// Follow re-reads the keys every interval until ctx is done, so that a
// rotation made in the store, by the command line or through another
// instance, is used and published here within an interval. A read that
// finds the same keys as the last one costs one query and no parsing. A
// rotation caught half-done (an algorithm without a key that signs: Rotate
// retires, then makes) is left for the next read; the keys in use go on.
func (ks *KeySet) Follow(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := ks.load(ctx, true); err != nil && ctx.Err() == nil {
			log.Warn("follow signing keys", "err", err)
		}
	}
}

// errHalfRotated: the store holds no signing key for an algorithm, for the
// moment a rotation takes.
var errHalfRotated = errors.New("signing: a rotation is under way")

// load reads the keys from the store. If they are the keys loaded last, it
// changes nothing; with complete set, it refuses a set in which an
// algorithm has no key that signs.
func (ks *KeySet) load(ctx context.Context, complete bool) error {
	stored, err := ks.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	var fp strings.Builder
	for _, sk := range stored {
		fmt.Fprintf(&fp, "%s/%d;", sk.ID, sk.RetiredAt.UnixNano())
	}
	ks.mu.RLock()
	same := ks.loaded == fp.String()
	ks.mu.RUnlock()
	if same {
		return nil
	}
	active := map[string]key{}
	public := map[string]key{}
	var set jose.JSONWebKeySet
	for _, sk := range stored {
		parsed, err := x509.ParsePKCS8PrivateKey(sk.PrivateDER)
		if err != nil {
			return fmt.Errorf("signing: key %s: %w", sk.ID, err)
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("signing: key %s is not a signing key", sk.ID)
		}
		k := key{id: sk.ID, alg: sk.Algorithm, private: signer, retired: sk.RetiredAt}
		public[k.id] = k
		if k.retired.IsZero() {
			active[k.alg] = k // newest wins: keys come oldest first
		}
		// RFC 7517 §4: "use", "alg" and "kid" on every key, so a verifier
		// can pick the key by kid and refuse a token whose header claims
		// another algorithm for it.
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: signer.Public(), KeyID: k.id, Algorithm: k.alg, Use: "sig"})
	}
	if complete && (active[RS256].id == "" || active[ES256].id == "") {
		return errHalfRotated
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("signing: encode JWKS: %w", err)
	}
	ks.mu.Lock()
	ks.loaded, ks.active, ks.public, ks.jwks = fp.String(), active, public, jwks
	ks.mu.Unlock()
	return nil
}

// JWKS returns the public key set as JSON, for the jwks_uri endpoint.
func (ks *KeySet) JWKS() []byte {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.jwks
}

// PublicKey returns the public key with that kid and the algorithm it is
// for. It knows only what the JWKS publishes.
func (ks *KeySet) PublicKey(kid string) (crypto.PublicKey, string, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.public[kid]
	if !ok {
		return nil, "", false
	}
	return k.private.Public(), k.alg, true
}

// ActiveKeyID returns the kid that currently signs with alg.
func (ks *KeySet) ActiveKeyID(alg string) string {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.active[alg].id
}

// Sign serializes claims as a JWS in compact form, signed with the active
// key for alg, with typ as the "typ" header (RFC 9068 §2.1 wants "at+jwt"
// for access tokens).
func (ks *KeySet) Sign(alg, typ string, claims any) (string, error) {
	ks.mu.RLock()
	k, ok := ks.active[alg]
	ks.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("signing: no active %s key", alg)
	}
	sk := signerKey{k.id, typ}
	s, ok := ks.signers.Load(sk)
	if !ok {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
		signer, err := jose.NewSigner(jose.SigningKey{
			Algorithm: jose.SignatureAlgorithm(alg),
			Key:       jose.JSONWebKey{Key: k.private, KeyID: k.id, Algorithm: alg},
		}, opts)
		if err != nil {
			return "", fmt.Errorf("signing: signer for %s: %w", k.id, err)
		}
		s, _ = ks.signers.LoadOrStore(sk, signer)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signing: encode claims: %w", err)
	}
	jws, err := s.(jose.Signer).Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: sign: %w", err)
	}
	return jws.CompactSerialize()
}
