package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// verify checks a proof the way a server would, and returns its claims.
func verify(t *testing.T, proof string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders[jose.HeaderType] != "dpop+jwt" || h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		t.Fatalf("proof header: typ %v, jwk %+v", h.ExtraHeaders[jose.HeaderType], h.JSONWebKey)
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	return c
}

func TestProof(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	c := verify(t, must(key.Proof("GET", "https://ih.example/api/photos?limit=100#x", "the-token", "n1", now)))
	sum := sha256.Sum256([]byte("the-token"))
	if c["htm"] != "GET" || c["htu"] != "https://ih.example/api/photos" || c["iat"] != float64(now.Unix()) || c["nonce"] != "n1" ||
		c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("claims %v", c)
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Fatalf("jti %q: at least 96 random bits", jti)
	}
	other := verify(t, must(key.Proof("POST", "https://ih.example/token", "", "", now)))
	if other["jti"] == c["jti"] || other["ath"] != nil || other["nonce"] != nil {
		t.Fatalf("a second proof: %v", other)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestSealer(t *testing.T) {
	key, _ := NewKey()
	s := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	sealed, err := s.Seal(key, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	opened, err := s.Open(sealed, "session-1")
	if err != nil || opened.Thumbprint() != key.Thumbprint() {
		t.Fatalf("open: %v", err)
	}
	if _, err := s.Open(sealed, "session-2"); err == nil {
		t.Fatal("a key sealed for one session opens for another")
	}
	if _, err := NewSealer([]byte("another secret, 32 bytes long...")).Open(sealed, "session-1"); err == nil {
		t.Fatal("a key opens with another secret")
	}
	// One character changed in the middle, where each carries six bits of
	// the ciphertext (the last one of unpadded base64 may carry fewer, and
	// a change there can decode to the same bytes).
	mid := len(sealed) / 2
	other := byte('A')
	if sealed[mid] == other {
		other = 'B'
	}
	if _, err := s.Open(sealed[:mid]+string(other)+sealed[mid+1:], "session-1"); err == nil {
		t.Fatal("a tampered sealed key opens")
	}
}

// nonceServer is a server that wants its nonce in every proof: a token
// endpoint (400 use_dpop_nonce, JSON) at /token, and a resource (401,
// WWW-Authenticate: DPoP error="use_dpop_nonce") elsewhere. It counts the
// requests and keeps the bodies it got.
type nonceServer struct {
	*httptest.Server
	requests atomic.Int32
	bodies   []string
}

func newNonceServer(t *testing.T, nonce string) *nonceServer {
	s := &nonceServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.bodies = append(s.bodies, string(b))
		proof := r.Header.Get("DPoP")
		c := verify(t, proof)
		w.Header().Set("DPoP-Nonce", nonce)
		if c["nonce"] == nonce {
			w.Write([]byte(`{"ok":true}`))
			return
		}
		if r.URL.Path == "/token" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"use_dpop_nonce"}`))
			return
		}
		w.Header().Add("WWW-Authenticate", `Bearer realm="x"`)
		w.Header().Add("WWW-Authenticate", `DPoP realm="x", error="use_dpop_nonce", algs="ES256"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestTransportRetriesOnceWithTheNonce: a server that asks for its nonce
// gets the request again with it, body and all; the next request carries
// it from the start; a request made without a key gets no proof.
func TestTransportRetriesOnceWithTheNonce(t *testing.T) {
	srv := newNonceServer(t, "the-nonce")
	key, _ := NewKey()
	client := &http.Client{Transport: &Transport{Base: http.DefaultTransport, Now: time.Now}}
	ctx := WithKey(context.Background(), key)
	post := func(path string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+path, strings.NewReader("grant_type=refresh_token"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post("/token"); resp.StatusCode != 200 || srv.requests.Load() != 2 || srv.bodies[1] != "grant_type=refresh_token" {
		t.Fatalf("token request: %d after %d requests, bodies %q", resp.StatusCode, srv.requests.Load(), srv.bodies)
	}
	if resp := post("/token"); resp.StatusCode != 200 || srv.requests.Load() != 3 {
		t.Fatalf("the next token request: %d after %d requests, want the nonce sent at once", resp.StatusCode, srv.requests.Load())
	}
	// A resource has a nonce of its own: a request with an access token.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/photos", nil)
	req.Header.Set("Authorization", "DPoP the-token")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 || srv.requests.Load() != 5 {
		t.Fatalf("resource request: %v after %d requests", err, srv.requests.Load())
	}
}

// TestTransportRetriesOnlyOnce: a server that keeps asking is answered
// with its own answer after one retry.
func TestTransportRetriesOnlyOnce(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("DPoP-Nonce", "nonce-"+string(rune('a'+n.Add(1))))
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"use_dpop_nonce"}`))
	}))
	defer srv.Close()
	key, _ := NewKey()
	client := &http.Client{Transport: &Transport{Base: http.DefaultTransport, Now: time.Now}}
	req, _ := http.NewRequestWithContext(WithKey(context.Background(), key), "POST", srv.URL+"/token", strings.NewReader("x=1"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || n.Load() != 2 || !strings.Contains(string(body), "use_dpop_nonce") {
		t.Fatalf("%d after %d requests, body %q", resp.StatusCode, n.Load(), body)
	}
	// Without a key, nothing is added.
	plain, _ := http.NewRequest("GET", srv.URL, nil)
	var sawProof bool
	(&Transport{Base: roundTrip(func(r *http.Request) (*http.Response, error) {
		sawProof = r.Header.Get("DPoP") != ""
		return httptest.NewRecorder().Result(), nil
	}), Now: time.Now}).RoundTrip(plain)
	if sawProof {
		t.Fatal("a request without a key got a proof")
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
