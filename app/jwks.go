package main

// ImageHost's public signing keys (its JWKS, RFC 7517), which verify the ID
// tokens and logout tokens it sends the app, and, in the inspector, its
// access tokens.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"oauthdemo/app/flow"
)

// keyRefetchCooldown is the least time between two fetches of the keys.
//
// A token signed with a key the app does not know may follow a key
// rotation, so the app fetches the keys again (OIDC Core §10.1.1). But
// anyone can post a logout token to /backchannel-logout, each naming a key
// id of their own: without a cooldown each would make the app fetch the
// keys. With it, a burst of forged tokens costs ImageHost one fetch in
// this long, and a genuine new key is known at most this long after a
// forged token took the turn before it.
const keyRefetchCooldown = 10 * time.Second

// maxJWKSBytes bounds the key set the app reads: a few keys are a few KB.
const maxJWKSBytes = 1 << 20

// signingAlgs are the algorithms a key may sign with: asymmetric ones only,
// never "none" or a shared-secret HMAC. The verifier narrows them further
// to what ImageHost's discovery document lists for ID tokens.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// keySet is ImageHost's JWKS, fetched on first use and again, at most once
// per keyRefetchCooldown, for a token whose key id it does not know. It is
// an oidc.KeySet. It keeps no request's context: a fetch is made with the
// context of the verification that needs it, so it is recorded in that
// browser's flow, if any, as discovery; a logout token carries none.
type keySet struct {
	url  string
	http *http.Client
	now  func() time.Time

	fetching sync.Mutex // one fetch at a time; held across the fetch

	mu      sync.Mutex // guards keys and fetched
	keys    []jose.JSONWebKey
	fetched time.Time // of the last fetch, whether it succeeded or not
}

// VerifySignature returns the payload of a JWS signed by one of the keys.
// It implements oidc.KeySet; the caller checks the algorithm and claims.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("jwks: malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("jwks: a token has one signature")
	}
	header := jws.Signatures[0].Header
	for _, key := range k.keysFor(ctx, header.KeyID) {
		// A key that says which algorithm it is for is used for nothing else.
		if (header.KeyID == "" || key.KeyID == header.KeyID) && (key.Algorithm == "" || key.Algorithm == header.Algorithm) {
			if payload, err := jws.Verify(&key); err == nil {
				return payload, nil
			}
		}
	}
	return nil, fmt.Errorf("jwks: no key of ImageHost's verifies the signature (kid %q)", header.KeyID)
}

// keysFor returns the keys, fetched again first if none has id kid and the
// last fetch is at least keyRefetchCooldown old.
func (k *keySet) keysFor(ctx context.Context, kid string) []jose.JSONWebKey {
	keys, due := k.cached(kid)
	if !due {
		return keys
	}
	k.fetching.Lock()
	defer k.fetching.Unlock()
	// Whoever held the lock before may have fetched them already.
	if keys, due = k.cached(kid); !due {
		return keys
	}
	fresh, err := k.fetch(flow.WithStep(ctx, flow.StepDiscovery))
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetched = k.now()
	if err != nil {
		// The keys stay as they were, and the cooldown counts from this
		// failure too: ImageHost is not asked again at every token.
		return k.keys
	}
	k.keys = fresh
	return fresh
}

// cached returns the keys, and whether they are due for a fetch: none has
// id kid, and the cooldown since the last fetch is over.
func (k *keySet) cached(kid string) ([]jose.JSONWebKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	known := slices.ContainsFunc(k.keys, func(key jose.JSONWebKey) bool { return kid == "" || key.KeyID == kid })
	return k.keys, !known && (k.fetched.IsZero() || !k.now().Before(k.fetched.Add(keyRefetchCooldown)))
}

// fetch reads the JWKS. Keys of a type it does not understand are skipped,
// as RFC 7517 §5 says, so that one of them does not hide the others.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %s", k.url, resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks: decode: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) == nil && key.Valid() && key.IsPublic() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}
