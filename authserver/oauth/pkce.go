package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// MethodS256 is the only PKCE method ImageHost accepts: RFC 9700 §2.1.1 says
// "Authorization servers MUST NOT allow clients to use plain", in effect,
// because plain leaks the verifier to whoever sees the authorization request.
const MethodS256 = "S256"

// ValidVerifier reports whether v has the form RFC 7636 §4.1 requires:
// code-verifier = 43*128unreserved.
func ValidVerifier(v string) bool {
	return len(v) >= 43 && len(v) <= 128 && unreserved(v)
}

// ValidChallenge reports whether c can be an S256 challenge: the base64url
// encoding, without padding, of a SHA-256 hash is exactly 43 characters.
func ValidChallenge(c string) bool {
	return len(c) == 43 && unreserved(c)
}

func unreserved(s string) bool {
	for _, r := range s {
		switch {
		case 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z', '0' <= r && r <= '9',
			r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return true
}

// S256Challenge computes BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))
// (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyPKCE performs the check of RFC 7636 §4.6: the server "calculates the
// code challenge from the received code_verifier and compares it with the
// previously associated code_challenge". The comparison is constant-time.
func VerifyPKCE(challenge, verifier string) bool {
	if !ValidVerifier(verifier) {
		return false
	}
	got := S256Challenge(verifier)
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
