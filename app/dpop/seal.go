package dpop

// A session's key at rest: the token store holds it sealed, so that a copy
// of the store (a backup, a dump of the sessions table) gives the tokens
// without the key they are bound to, which makes them useless.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealedPrefix marks a sealed key, and the way it was sealed.
const sealedPrefix = "v1."

// Sealer seals keys with AES-256-GCM, under a key of its own derived from
// a secret of the app's: the session cookies' encryption key, which every
// instance of the app shares. Each sealed key is bound to its session: the
// session's id is the additional data, so a sealed key moved to another
// session's row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a sealer whose key is derived from secret, which must
// be random and 32 bytes or more, as the session encryption key is.
func NewSealer(secret []byte) *Sealer {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("PhotoEditorApp: sealing sessions' DPoP keys"))
	// A 32-byte key makes an AES-256 cipher, and AES's block size GCM:
	// neither can fail.
	block, _ := aes.NewCipher(mac.Sum(nil))
	aead, _ := cipher.NewGCM(block)
	return &Sealer{aead: aead}
}

// Seal returns key sealed for the session sessionID.
func (s *Sealer) Seal(key *Key, sessionID string) (string, error) {
	der, err := key.marshal()
	if err != nil {
		return "", fmt.Errorf("dpop: seal: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	sealed := s.aead.Seal(nonce, nonce, der, []byte(sessionID))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open returns the key that Seal sealed for sessionID.
func (s *Sealer) Open(sealed, sessionID string) (*Key, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, errors.New("dpop: not a sealed key")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errors.New("dpop: not a sealed key")
	}
	der, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(sessionID))
	if err != nil {
		return nil, errors.New("dpop: the key does not open: sealed for another session, or with another secret")
	}
	return parseKey(der)
}
