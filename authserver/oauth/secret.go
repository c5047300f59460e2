package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// NewToken returns 256 bits from the system's CSPRNG, base64url-encoded: the
// form of every secret ImageHost hands out (codes, refresh tokens, client
// secrets, session cookies). RFC 6749 §10.10 asks that the probability of
// guessing one be at most 2^-128; this gives 2^-256.
func NewToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// NewID returns a 128-bit random identifier, for things that are not secret
// but must not be guessable or collide (ids of grants, photos, jti).
func NewID() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(16))
}

// HashToken returns SHA-256 of a high-entropy secret. A fast hash is the
// right tool here: with 256 random bits there is nothing to brute-force,
// unlike a password, which needs a slow hash (see package password). Slow
// hashing of client secrets is what makes some token endpoints crawl.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// TokenMatches compares a presented secret against a stored hash in
// constant time.
func TokenMatches(token string, hash []byte) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(HashToken(token), hash) == 1
}

// randomBytes reads n bytes from crypto/rand, which never fails (since Go 1.24
// it crashes the program rather than return predictable bytes).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
