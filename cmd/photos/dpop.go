package main

// DPoP (RFC 9449): the command's tokens bound to a key pair of its own. A
// public client has no secret, so its refresh token alone would let
// whoever copies the credentials file act for the user for weeks; bound to
// a key, the refresh token and the access tokens need the key too. Each
// sign-in makes a new key, kept beside the credentials file (dpop-key.pem,
// readable by the user only); every token request and every call of the
// photos API carries a proof signed with it, and a server's nonce (§8, §9)
// is learnt from its answer and sent again at once.
//
// The command imports nothing of ImageHost's or PhotoEditorApp's: this is
// its own DPoP client, a few lines over go-jose.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// proofKey is the command's DPoP key: ES256.
type proofKey struct {
	private *ecdsa.PrivateKey
	signer  jose.Signer
}

func newProofKey() (*proofKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("DPoP key: %w", err)
	}
	return proofKeyOf(priv)
}

func proofKeyOf(priv *ecdsa.PrivateKey) (*proofKey, error) {
	// The header carries typ dpop+jwt and the public key as jwk (RFC 9449
	// §4.2); go-jose embeds the public part only.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, fmt.Errorf("DPoP key: %w", err)
	}
	return &proofKey{private: priv, signer: signer}, nil
}

// proof signs a proof for a request: its method, its URL without query
// and fragment, the access token sent with it (ath), the server's nonce.
func (k *proofKey) proof(method, u, accessToken, nonce string) (string, error) {
	u, _, _ = strings.Cut(u, "?")
	u, _, _ = strings.Cut(u, "#")
	var jti [16]byte
	rand.Read(jti[:])
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign a DPoP proof: %w", err)
	}
	return jws.CompactSerialize()
}

// keyFile is the file beside the credentials that holds the key.
func keyFile(credentials string) string {
	return filepath.Join(filepath.Dir(credentials), "dpop-key.pem")
}

// saveKey writes the key as PKCS #8 PEM, readable by the user only, in
// the credentials' directory (which save made 0700), renamed into place.
func (k *proofKey) save(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return fmt.Errorf("save the DPoP key: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".dpop-key-*") // created 0600
	if err != nil {
		return fmt.Errorf("save the DPoP key: %w", err)
	}
	defer os.Remove(f.Name())
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("save the DPoP key: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("save the DPoP key: %w", err)
	}
	return os.Rename(f.Name(), path)
}

// loadKey reads the key. One that others may read is refused: it must be
// taken as leaked, and the tokens bound to it with it.
func loadKey(path string) (*proofKey, error) { return readKey(path, true) }

// readKey reads the key, refusing one that others may read if private is
// set.
func readKey(path string, private bool) (*proofKey, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the tokens are bound to a DPoP key, and %s is gone: run photos login", path)
	} else if err != nil {
		return nil, fmt.Errorf("read the DPoP key: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("read the DPoP key: %w", err)
	} else if mode := info.Mode().Perm(); private && runtime.GOOS != "windows" && mode&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read by others (mode %04o): the key may have leaked; run photos logout, then photos login", path, mode)
	}
	data, err := io.ReadAll(io.LimitReader(f, 16<<10))
	if err != nil {
		return nil, fmt.Errorf("read the DPoP key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is damaged: run photos login", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if err != nil || !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s is not a P-256 key: run photos login", path)
	}
	return proofKeyOf(priv)
}

type proofKeyContext struct{}

// withProofKey returns ctx carrying key: requests made with it get proofs.
func withProofKey(ctx context.Context, key *proofKey) context.Context {
	if key == nil {
		return ctx
	}
	return context.WithValue(ctx, proofKeyContext{}, key)
}

// dpopTransport adds a proof to each request whose context carries a key,
// and sends it once more with the nonce a server asks for: a token
// endpoint's 400 use_dpop_nonce (§8), a resource's 401 whose DPoP challenge
// says use_dpop_nonce (§9). The nonces are kept per server for the
// command's run.
type dpopTransport struct {
	next http.RoundTripper

	mu     sync.Mutex
	nonces map[string]string // by origin and "token" or "resource"
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, _ := req.Context().Value(proofKeyContext{}).(*proofKey)
	if key == nil {
		return t.next.RoundTrip(req)
	}
	token, server := "", req.URL.Scheme+"://"+req.URL.Host+" token"
	if scheme, at, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "DPoP") {
		token, server = at, req.URL.Scheme+"://"+req.URL.Host+" resource"
	}
	send := func(nonce string) (*http.Response, error) {
		proof, err := key.proof(req.Method, req.URL.String(), token, nonce)
		if err != nil {
			return nil, err
		}
		r := req.Clone(req.Context())
		if req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		r.Header.Set("DPoP", proof)
		return t.next.RoundTrip(r)
	}
	t.mu.Lock()
	nonce := t.nonces[server]
	t.mu.Unlock()
	resp, err := send(nonce)
	if err != nil {
		return nil, err
	}
	next := resp.Header.Get("DPoP-Nonce")
	if next == "" {
		return resp, nil
	}
	t.mu.Lock()
	if t.nonces == nil {
		t.nonces = map[string]string{}
	}
	t.nonces[server] = next
	t.mu.Unlock()
	if next == nonce || (req.Body != nil && req.GetBody == nil) || !askedForNonce(resp) {
		return resp, nil
	}
	resp.Body.Close()
	return send(next)
}

// askedForNonce reports whether resp refused its request for want of the
// server's nonce; the body it reads is put back.
func askedForNonce(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, challenge := range resp.Header.Values("WWW-Authenticate") {
			if strings.HasPrefix(strings.ToLower(challenge), "dpop ") && strings.Contains(challenge, `error="use_dpop_nonce"`) {
				return true
			}
		}
	case http.StatusBadRequest:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxJSONBytes))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(body, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}
