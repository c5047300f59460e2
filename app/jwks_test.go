package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testKey is a signing key with its key id.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// newTestKey makes an ES256 key.
func newTestKey(t *testing.T, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jose.ES256, priv: priv}
}

// sign makes a JWT of claims signed with k, naming k's key id.
func (k testKey) sign(t *testing.T, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestKeySetRefetchesOncePerCooldown: tokens naming unknown keys, in a
// burst released together and one after another, make the key set fetch
// ImageHost's keys once per cooldown; a key published since is found once
// the cooldown is over.
func TestKeySetRefetchesOncePerCooldown(t *testing.T) {
	published := []testKey{newTestKey(t, "k1")}
	var mu sync.Mutex
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		var set jose.JSONWebKeySet
		for _, k := range published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	}))
	defer jwks.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ks := &keySet{url: jwks.URL, http: jwks.Client(), now: func() time.Time { return now }}
	ctx := context.Background()

	if _, err := ks.VerifySignature(ctx, published[0].sign(t, jwt.Claims{Subject: "alice"})); err != nil {
		t.Fatalf("a token of a published key: %v", err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	now = now.Add(keyRefetchCooldown) // the first fetch's cooldown is over
	attacker := newTestKey(t, "")
	forged := func(i int) string {
		k := attacker
		k.kid = fmt.Sprintf("forged-%d", i)
		return k.sign(t, jwt.Claims{Subject: "alice"})
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		wg.Go(func() {
			<-start
			if _, err := ks.VerifySignature(ctx, forged(i)); err == nil {
				t.Error("a forged token verified")
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range 5 {
		ks.VerifySignature(ctx, forged(100+i))
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after 25 tokens of unknown keys, want 2 (one more than before)", n)
	}

	// A rotation: k2 is published, and a token of it arrives while the
	// cooldown a forged token started runs; after it, k2 is fetched.
	mu.Lock()
	published = append(published, newTestKey(t, "k2"))
	mu.Unlock()
	rotated := published[1].sign(t, jwt.Claims{Subject: "alice"})
	if _, err := ks.VerifySignature(ctx, rotated); err == nil || fetches.Load() != 2 {
		t.Fatalf("within the cooldown: %v, %d fetches; want a refusal without a fetch", err, fetches.Load())
	}
	now = now.Add(keyRefetchCooldown)
	if _, err := ks.VerifySignature(ctx, rotated); err != nil || fetches.Load() != 3 {
		t.Fatalf("after the cooldown: %v, %d fetches; want the new key fetched once", err, fetches.Load())
	}
	// An algorithm the key was not published for is refused.
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
		(&jose.SignerOptions{}).WithHeader("kid", "k1"))
	raw, _ := jwt.Signed(hs).Claims(jwt.Claims{Subject: "alice"}).Serialize()
	if _, err := ks.VerifySignature(ctx, raw); err == nil {
		t.Fatal("an HS256 token verified")
	}
}

// TestKeySetIsBounded: a key set larger than maxJWKSBytes is not read to
// its end, and counts as a failed fetch: no key comes of it.
func TestKeySetIsBounded(t *testing.T) {
	key := newTestKey(t, "k1")
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.priv.Public(), KeyID: "k1", Algorithm: "ES256"}}})
		// The keys, then more white space than the app reads.
		w.Write(set[:len(set)-1])
		w.Write(bytes.Repeat([]byte(" "), maxJWKSBytes))
		w.Write([]byte("}"))
	}))
	defer jwks.Close()
	ks := &keySet{url: jwks.URL, http: jwks.Client(), now: time.Now}
	if _, err := ks.VerifySignature(context.Background(), key.sign(t, jwt.Claims{Subject: "alice"})); err == nil {
		t.Fatal("a token verified against a key set over maxJWKSBytes")
	}
}

// TestForgedLogoutTokensFetchKeysOnce: an anonymous sender posts logout
// tokens signed with keys of their own, in a burst and then one by one, to
// a real app beside a real ImageHost. ImageHost is asked for its keys at
// most once, and none of those fetches lands in the recorded flow of the
// browser whose request made the app discover ImageHost.
func TestForgedLogoutTokensFetchKeysOnce(t *testing.T) {
	// In lab mode a browser may press a workshop button before it connects:
	// that request, which carries the browser's flow id, is the one that
	// makes the app discover ImageHost.
	a := newTestAppWith(t, func(c *Config) { c.Lab = true }, "IMAGEHOST_LAB=true", "IMAGEHOST_LOG_LEVEL=info")
	u := newUser(t)
	if page := a.attack(u, "altered-signature"); !strings.Contains(page, "connect first") {
		t.Fatalf("a workshop button before connecting:\n%s", page)
	}
	jwksFetches := func() int { return strings.Count(a.imageHost.Output(), "path=/jwks") }
	recorded := func() int {
		_, md := u.get(a.URL + "/flow/export.md")
		return strings.Count(md, "/jwks")
	}
	fetchesBefore, recordedBefore := jwksFetches(), recorded()

	// RS256, the algorithm ImageHost signs logout tokens with: a token of
	// another algorithm is refused before any key is looked for.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attacker := testKey{alg: jose.RS256, priv: rsaKey}
	post := func(i int) {
		k := attacker
		k.kid = fmt.Sprintf("attacker-%d", i)
		token := k.sign(t, map[string]any{"iss": a.imageHost.URL, "aud": a.cfg.ClientID, "sub": "anyone",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "jti": fmt.Sprint(i),
			"events": map[string]any{backchannelLogoutEvent: map[string]any{}}})
		resp, err := http.PostForm(a.URL+"/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("forged logout token %d: %s, want 400", i, resp.Status)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 10 {
		wg.Go(func() { <-start; post(i) })
	}
	close(start)
	wg.Wait()
	for i := range 5 {
		post(10 + i)
	}
	if n := jwksFetches() - fetchesBefore; n > 1 {
		t.Errorf("15 forged logout tokens made the app fetch ImageHost's keys %d times, want at most 1", n)
	}
	if n := recorded() - recordedBefore; n != 0 {
		t.Errorf("%d fetches of the keys for forged logout tokens were recorded in the flow of the browser that discovered ImageHost", n)
	}
}
