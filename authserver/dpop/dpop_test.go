package dpop

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// replays is a record of proofs in a map, for the checks alone.
type replays map[string]bool

func (r replays) UseDPoPProof(_ context.Context, hash []byte, _, _ time.Time, _ int) error {
	if r[string(hash)] {
		return store.ErrAlreadyUsed
	}
	r[string(hash)] = true
	return nil
}

// FuzzCheck sends any DPoP header to the checks: they answer
// invalid_dpop_proof or use_dpop_nonce, never fail otherwise, and never
// accept a proof they cannot have verified.
func FuzzCheck(f *testing.F) {
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2In0.eyJqdGkiOiIxIn0.c2ln")
	f.Add("a.b.c")
	f.Add("")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	now := time.Unix(1_700_000_000, 0)
	c := &Checker{Nonces: NewNonces([]byte("key"), "token", func() time.Time { return now }), Replays: replays{},
		MaxProofs: 1600, Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, proof string) {
		req := httptest.NewRequest("POST", "/token", nil)
		req.Header.Set("DPoP", proof)
		p, e := c.Check(req, "http://127.0.0.1:9090/token", "", "")
		if e == nil {
			t.Fatalf("a fuzzed proof was accepted: %+v", p)
		}
		if e.Code != oauth.CodeInvalidDPoPProof && e.Code != oauth.CodeUseDPoPNonce || e.Status != 400 {
			t.Fatalf("%d %s for %q", e.Status, e.Code, proof)
		}
	})
}

// TestNonces: a nonce is good in its period and the next, then refused;
// nonces of two purposes differ.
func TestNonces(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	n := NewNonces([]byte("key"), "token", clock)
	first := n.Current()
	if next, ok := n.Check(first); !ok || next != "" {
		t.Fatalf("the current nonce: %q, %v", next, ok)
	}
	now = now.Add(NoncePeriod)
	if next, ok := n.Check(first); !ok || next == "" || next == first {
		t.Fatalf("last period's nonce: %q, %v; want good, and the new one named", next, ok)
	}
	now = now.Add(NoncePeriod)
	if _, ok := n.Check(first); ok {
		t.Fatal("a nonce two periods old is still good")
	}
	if NewNonces([]byte("key"), "resource", clock).Current() == n.Current() {
		t.Fatal("the token endpoint's and the resources' nonces are the same")
	}
	if NewNonces([]byte("other key"), "token", clock).Current() == n.Current() {
		t.Fatal("nonces do not depend on the key")
	}
	if _, ok := n.Check(""); ok {
		t.Fatal("no nonce is good")
	}
}
