// Package dpop is PhotoEditorApp's side of DPoP (RFC 9449): a key pair of
// its own for each signed-in session, the proofs it signs with it, and an
// HTTP transport that adds a proof to each request whose context carries a
// key. ImageHost then binds the session's tokens to the key, and a token
// read from a log, a backup or a database dump is of no use without it.
//
// The private key never leaves the app's server: it is kept with the
// session's tokens, sealed (Sealer), and is never recorded, logged or sent.
// A proof carries only the public key, in its jwk header.
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a DPoP key pair: ES256 (ECDSA on P-256), the algorithm every
// server supporting DPoP is asked about first (RFC 9449's examples use
// it), and one ImageHost accepts.
type Key struct {
	private *ecdsa.PrivateKey
	signer  jose.Signer
	jkt     string
}

// NewKey makes a new key pair.
func NewKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dpop: new key: %w", err)
	}
	return keyOf(priv)
}

func keyOf(priv *ecdsa.PrivateKey) (*Key, error) {
	// RFC 9449 §4.2: the header carries "typ": "dpop+jwt" and the public
	// key as "jwk"; go-jose embeds the public part only.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, fmt.Errorf("dpop: signer: %w", err)
	}
	thumb, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return &Key{private: priv, signer: signer, jkt: base64.RawURLEncoding.EncodeToString(thumb)}, nil
}

// Thumbprint is the key's JWK SHA-256 thumbprint (RFC 7638): what a token
// bound to it carries as cnf.jkt (RFC 9449 §6.1). It names the public key
// and tells nothing of the private one.
func (k *Key) Thumbprint() string { return k.jkt }

// marshal is the private key in PKCS #8, for Sealer only.
func (k *Key) marshal() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k.private) }

// parseKey is the inverse of marshal.
func parseKey(der []byte) (*Key, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("dpop: parse key: %w", err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("dpop: parse key: not a P-256 key")
	}
	return keyOf(priv)
}

// Proof signs a DPoP proof for a request (RFC 9449 §4.2): method, and the
// URL without query and fragment (htu); the hash of the access token
// presented with it (ath), if any; the server's nonce, if it gave one. Its
// jti is 128 random bits: "at least 96 bits of pseudorandom data".
func (k *Key) Proof(method, rawURL, accessToken, nonce string, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dpop: proof for %q: %w", rawURL, err)
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	var jti [16]byte
	rand.Read(jti[:])
	claims := struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		ATH   string `json:"ath,omitempty"`
		Nonce string `json:"nonce,omitempty"`
	}{JTI: base64.RawURLEncoding.EncodeToString(jti[:]), HTM: method, HTU: u.String(), IAT: now.Unix(), Nonce: nonce}
	if accessToken != "" {
		// "the base64url encoding of the SHA-256 hash of the ASCII encoding
		// of the associated access token's value"
		sum := sha256.Sum256([]byte(accessToken))
		claims.ATH = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: sign proof: %w", err)
	}
	return jws.CompactSerialize()
}

type keyContext struct{}

// WithKey returns ctx carrying key: the requests made with it get proofs
// signed with it (Transport).
func WithKey(ctx context.Context, key *Key) context.Context {
	return context.WithValue(ctx, keyContext{}, key)
}

// KeyFrom returns the key ctx carries, or nil.
func KeyFrom(ctx context.Context) *Key {
	k, _ := ctx.Value(keyContext{}).(*Key)
	return k
}
