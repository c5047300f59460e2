package e2e

// A DPoP client for the tests (RFC 9449): proofs signed with a key the
// test read from a client's files, with the server's nonce.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// proofSigner signs DPoP proofs with a P-256 key.
type proofSigner struct{ signer jose.Signer }

// signerFromPEM reads a PKCS #8 PEM key, as the photos command keeps it.
func signerFromPEM(t *testing.T, data []byte) proofSigner {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("not a PEM key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: parsed.(*ecdsa.PrivateKey)},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	return proofSigner{signer}
}

func (s proofSigner) proof(t *testing.T, method, u, token, nonce string) string {
	t.Helper()
	var jti [16]byte
	rand.Read(jti[:])
	c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	payload, _ := json.Marshal(c)
	jws, err := s.signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// do sends a request with a proof (and the access token with the DPoP
// scheme, if there is one), and once more with the nonce the server asks
// for.
func (s proofSigner) do(t *testing.T, method, u, token string, form url.Values) *http.Response {
	t.Helper()
	send := func(nonce string) *http.Response {
		var req *http.Request
		if form != nil {
			req, _ = http.NewRequest(method, u, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, u, nil)
		}
		if token != "" {
			req.Header.Set("Authorization", "DPoP "+token)
		}
		req.Header.Set("DPoP", s.proof(t, method, u, token, nonce))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send("")
	if nonce := resp.Header.Get("DPoP-Nonce"); nonce != "" && resp.StatusCode >= 400 {
		resp.Body.Close()
		resp = send(nonce)
	}
	return resp
}

// newProofSigner is a proofSigner with a new P-256 key.
func newProofSigner(t *testing.T) proofSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signerFromPEM(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
