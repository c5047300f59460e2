package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// BenchmarkSignatureVerify measures what a proof's signature costs the
// server, for the two algorithms a client is likely to choose, ES256 and
// EdDSA (Ed25519): the standard library's verification alone, parseProof
// and verify (jws.go), and go-jose's parsing of a proof, its verification
// and its thumbprint of the embedded key, which they replace.
func BenchmarkSignatureVerify(b *testing.B) {
	msg := []byte("eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiJ4In0")
	digest := sha256.Sum256(msg)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ec, digest[:])
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edSig := ed25519.Sign(ed, msg)
	b.Run("ES256/crypto", func(b *testing.B) {
		for b.Loop() {
			if !ecdsa.VerifyASN1(&ec.PublicKey, sha256Of(msg), ecSig) {
				b.Fatal("bad")
			}
		}
	})
	b.Run("EdDSA/crypto", func(b *testing.B) {
		pub := ed.Public().(ed25519.PublicKey)
		for b.Loop() {
			if !ed25519.Verify(pub, msg, edSig) {
				b.Fatal("bad")
			}
		}
	})
	joseAlgs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key crypto.Signer
	}{{jose.ES256, ec}, {jose.EdDSA, ed}} {
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: tc.key},
			(&jose.SignerOptions{EmbedJWK: true}).WithType(TypeProof))
		jws, _ := signer.Sign(msg)
		compact, _ := jws.CompactSerialize()
		b.Run(string(tc.alg)+"/go-jose-parse", func(b *testing.B) {
			for b.Loop() {
				if _, err := jose.ParseSignedCompact(compact, joseAlgs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(tc.alg)+"/go-jose-verify", func(b *testing.B) {
			parsed, _ := jose.ParseSignedCompact(compact, joseAlgs)
			jwk := parsed.Signatures[0].Header.JSONWebKey
			for b.Loop() {
				if _, err := parsed.Verify(jwk); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(tc.alg)+"/parse", func(b *testing.B) {
			for b.Loop() {
				if _, err := parseProof(compact); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(tc.alg)+"/verify", func(b *testing.B) {
			p, _ := parseProof(compact)
			for b.Loop() {
				if !p.verify() {
					b.Fatal("bad")
				}
			}
		})
		b.Run(string(tc.alg)+"/go-jose-thumbprint", func(b *testing.B) {
			parsed, _ := jose.ParseSignedCompact(compact, joseAlgs)
			jwk := parsed.Signatures[0].Header.JSONWebKey
			for b.Loop() {
				if _, err := jwk.Thumbprint(crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
