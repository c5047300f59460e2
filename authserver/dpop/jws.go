package dpop

// A proof's signature (RFC 7515) and its key (RFC 7517, RFC 7638), parsed
// once with the standard library. A proof is small and its header has one
// shape, {"typ", "alg", "jwk"}, so this is a few lines, where a general
// JOSE library decoded the header twice, and the key through a general JWK
// parser; a photos API call with a proof spent more time there than in the
// rest of the call but the signatures.
//
// It takes less than a general library would, never more: the compact form
// only, in the base64url alphabet without padding or line breaks; JSON
// objects whose members have distinct names, compared exactly; no crit;
// only the algorithms of oauth.DPoPAlgorithms, each with a public key of
// its own type, a point of the curve (for Ed25519, in its one encoding and
// of large order), an RSA key of bounded size. Members a proof has no use
// for (kid, x5c and the like) are ignored, as RFC 7515 §4 lets a recipient
// do; the key is the jwk's required members and nothing else, which is
// also all its thumbprint hashes.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"

	"oauthdemo/authserver/oauth"
)

// signedProof is a proof's compact JWS, decoded but not yet verified.
type signedProof struct {
	typ, alg string
	// key is the jwk header's public key, of the type alg needs:
	// *ecdsa.PublicKey (P-256), ed25519.PublicKey or *rsa.PublicKey.
	key crypto.PublicKey
	// jkt is key's JWK SHA-256 thumbprint (RFC 7638), base64url.
	jkt string
	// input is what the signature signs, the header and the payload as
	// they were sent (RFC 7515 §5.2 step 8).
	input     string
	payload   []byte
	signature []byte
}

// Why a proof does not parse; the checks (dpop.go) say it to the client.
var (
	errNotAJWS    = errors.New("the DPoP proof is not a JWT signed with one of " + strings.Join(oauth.DPoPAlgorithms(), ", "))
	errCritical   = errors.New("the DPoP proof's header has crit, naming extensions ImageHost does not understand")
	errNoKey      = errors.New("the DPoP proof has no usable jwk header")
	errPrivateKey = errors.New("the DPoP proof's jwk holds a private key: send the public key only, and make a new key pair")
	errRSASize    = errors.New("the DPoP proof's RSA key must have 2,048 to 4,096 bits")
	errWeakKey    = errors.New("the DPoP proof's Ed25519 key is a point of small order, or not in its one encoding: make a new key pair")
)

// base64URL is RFC 7515 §2's base64url: no padding, and (Strict) no
// unused bits set in the last character, so that each value has one
// encoding. decodeBase64URL also refuses the line breaks the decoder
// would skip.
var base64URL = base64.RawURLEncoding.Strict()

// parseProof decodes a compact JWS (RFC 7515 §7.1): three base64url parts,
// of which the header is a JSON object with an alg of
// oauth.DPoPAlgorithms and the public key of that algorithm as jwk. The
// header's names are compared exactly, as RFC 7515 §4 has them: a "TYP"
// is not a typ.
func parseProof(compact string) (signedProof, error) {
	var p signedProof
	// Nothing is decoded from a proof longer than any proof ImageHost
	// takes; the checks refuse it before this too.
	if len(compact) > MaxProofBytes {
		return p, errNotAJWS
	}
	header, rest, ok := strings.Cut(compact, ".")
	payload, signature, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(signature, ".") {
		return p, errNotAJWS
	}
	rawHeader, ok := decodeBase64URL(header)
	if !ok {
		return p, errNotAJWS
	}
	if p.payload, ok = decodeBase64URL(payload); !ok {
		return p, errNotAJWS
	}
	if p.signature, ok = decodeBase64URL(signature); !ok {
		return p, errNotAJWS
	}
	// RFC 7515 §4: "The Header Parameter names within the JOSE Header MUST
	// be unique; JWS parsers MUST either reject JWSs with duplicate Header
	// Parameter names or use a JSON parser that returns only the lexically
	// last duplicate member name". ImageHost rejects them.
	h, err := jsonObject(rawHeader)
	if err != nil {
		return p, errNotAJWS
	}
	// RFC 7515 §4.1.11: "If any of the listed extension Header Parameters
	// are not understood and supported by the recipient, then the JWS is
	// invalid." A proof needs none.
	if _, ok := h["crit"]; ok {
		return p, errCritical
	}
	if json.Unmarshal(h["alg"], &p.alg) != nil || !isDPoPAlgorithm(p.alg) {
		return p, errNotAJWS
	}
	json.Unmarshal(h["typ"], &p.typ) // checked by the caller: "" when absent or not a string
	if p.key, p.jkt, err = parseJWK(h["jwk"], p.alg); err != nil {
		return p, err
	}
	p.input = compact[:len(header)+1+len(payload)]
	return p, nil
}

func isDPoPAlgorithm(alg string) bool {
	for _, a := range oauth.DPoPAlgorithms() {
		if a == alg {
			return true
		}
	}
	return false
}

// parseJWK decodes the public key of a proof's jwk header (RFC 7517),
// which must be a key for alg: an EC key on P-256 for ES256 (RFC 7518
// §6.2), an OKP key on Ed25519 for EdDSA (RFC 8037 §2), an RSA key of
// 2,048 to 4,096 bits for RS256 and PS256 (RFC 7518 §6.3). It returns the
// key and its thumbprint.
func parseJWK(raw json.RawMessage, alg string) (crypto.PublicKey, string, error) {
	// RFC 7517 §4: "The member names within a JWK MUST be unique; JWK
	// parsers MUST either reject JWKs with duplicate member names or use a
	// JSON parser that returns only the lexically last duplicate member
	// name".
	members, err := jsonObject(raw)
	if err != nil {
		return nil, "", errNoKey
	}
	// RFC 9449 §4.3 check 7: "The jwk JOSE Header Parameter does not
	// contain a private key": the private members of RFC 7518 §6.2.2,
	// §6.3.2, §6.4 and of RFC 8037 §2.
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := members[private]; ok {
			return nil, "", errPrivateKey
		}
	}
	text := func(name string) string {
		var s string
		json.Unmarshal(members[name], &s) // "" when absent or not a string
		return s
	}
	// octets is a member's value decoded, or nil when it is not base64url:
	// the part of a bad value decoded before its fault stands for no key.
	octets := func(name string) []byte {
		b, ok := decodeBase64URL(text(name))
		if !ok {
			return nil
		}
		return b
	}
	kty, crv := text("kty"), text("crv")
	switch {
	case alg == "ES256" && kty == "EC" && crv == "P-256":
		// RFC 7518 §6.2.1.2: x is "the full coordinate size", 32 bytes for
		// P-256, and so is y.
		x, y := octets("x"), octets("y")
		if len(x) != 32 || len(y) != 32 {
			return nil, "", errNoKey
		}
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil { // not a point of the curve
			return nil, "", errNoKey
		}
		return key, thumbprint(`{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`), nil
	case alg == "EdDSA" && kty == "OKP" && crv == "Ed25519":
		x := octets("x")
		if len(x) != ed25519.PublicKeySize {
			return nil, "", errNoKey
		}
		if weakEd25519(x) {
			return nil, "", errWeakKey
		}
		return ed25519.PublicKey(x), thumbprint(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(x) + `"}`), nil
	case (alg == "RS256" || alg == "PS256") && kty == "RSA":
		nb, eb := octets("n"), octets("e")
		if nb == nil || eb == nil {
			return nil, "", errNoKey
		}
		n, e := new(big.Int).SetBytes(nb), new(big.Int).SetBytes(eb)
		// An RSA public exponent is odd and greater than 1 (RFC 8017
		// §3.1); 65537 in practice, and ImageHost takes no more than 31
		// bits, what the standard library's verification takes.
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, "", errNoKey
		}
		if n.BitLen() < minRSABits || n.BitLen() > maxRSABits {
			return nil, "", errRSASize
		}
		// RFC 7638 §3.2: the members' values in their canonical form, the
		// integers in the fewest octets (RFC 7518 §6.3.1.1).
		return &rsa.PublicKey{N: n, E: int(e.Int64())},
			thumbprint(`{"e":"` + b64(e.Bytes()) + `","kty":"RSA","n":"` + b64(n.Bytes()) + `"}`), nil
	}
	return nil, "", errNoKey
}

// ed25519SmallOrder are the encodings of the Ed25519 points of small order
// (their order divides the cofactor, 8), with the sign bit of x clear:
// libsodium's list (ge25519_has_small_order). In order: y = 0 (order 4),
// 1 (the identity), the two y of the points of order 8, p-1 (order 2), and
// p and p+1, encodings of 0 and 1 that are not canonical.
var ed25519SmallOrder = [][32]byte{
	{},
	{0x01},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	ed25519Field(-1),
	ed25519Field(0),
	ed25519Field(1),
}

// ed25519Field is the little-endian encoding of p+delta, p = 2^255-19,
// for a small delta: 0xed+delta, then 0xff thirty times, then 0x7f.
func ed25519Field(delta int) [32]byte {
	var b [32]byte
	b[0] = byte(0xed + delta)
	for i := 1; i < 31; i++ {
		b[i] = 0xff
	}
	b[31] = 0x7f
	return b
}

// weakEd25519 reports whether x, a 32-byte Ed25519 public key, is one no
// proof should be taken from: a point of small order, or an encoding of y
// that is not canonical. RFC 8032's verification (§5.1.7) does not
// exclude points of small order, and the standard library's takes them:
// under such a key a signature nobody made verifies (with the identity,
// R = identity and S = 0, for every message). Whoever sent one holds no
// private key, and a token bound to its thumbprint is anyone's. The
// standard library also takes an encoding of y of p or more, which RFC
// 8032 §5.1.3 refuses ("If the resulting value is >= p, decoding fails"):
// a second encoding of a point, so one key with two thumbprints.
func weakEd25519(x []byte) bool {
	y := [32]byte(x)
	y[31] &= 0x7f // the sign of x: a point of the list is refused with either
	// y >= p: the top byte 0x7f, the thirty below it 0xff, the lowest at
	// least 0xed.
	nonCanonical := y[31] == 0x7f && y[0] >= 0xed
	for _, b := range y[1:31] {
		nonCanonical = nonCanonical && b == 0xff
	}
	return nonCanonical || slices.Contains(ed25519SmallOrder, y)
}

// jsonObject decodes a JSON object into its members, unless a name is
// there twice, or the text is anything but one object. Names compare
// after JSON's escapes are decoded, so "\u0061lg" is alg and a second alg.
func jsonObject(data []byte) (map[string]json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return nil, errors.New("not a JSON object")
	}
	// json.Unmarshal keeps the last of two members of one name: then
	// there are more members in the text than in the map.
	if countMembers(data) != len(members) {
		return nil, errors.New("a JSON member named twice")
	}
	return members, nil
}

// countMembers counts the members of data, a JSON object that
// json.Unmarshal took: the commas at its first level outside strings, and
// one more unless it is empty.
func countMembers(data []byte) int {
	commas, depth, empty := 0, 0, true
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
			if depth == 1 { // a name
				empty = false
			}
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ',' && depth == 1:
			commas++
		}
	}
	if empty {
		return 0
	}
	return commas + 1
}

// decodeBase64URL decodes s, which must be base64url (RFC 7515 §2) and
// nothing else: no padding, no line breaks, no spaces.
func decodeBase64URL(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	b, err := base64URL.DecodeString(s)
	return b, err == nil
}

// thumbprint is RFC 7638's: the base64url SHA-256 hash of the key's
// required members, in lexicographic order, with no whitespace, which
// the caller wrote.
func thumbprint(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// verify checks the proof's signature with its own key (RFC 9449 §4.3
// check 6), as RFC 7518 §3 defines each algorithm. parseProof made sure
// the key is one for alg.
func (p signedProof) verify() bool {
	switch key := p.key.(type) {
	case *ecdsa.PublicKey: // ES256: R and S, 32 bytes each, not DER (RFC 7518 §3.4)
		if p.alg != "ES256" || len(p.signature) != 64 {
			return false
		}
		digest := sha256.Sum256([]byte(p.input))
		r, s := new(big.Int).SetBytes(p.signature[:32]), new(big.Int).SetBytes(p.signature[32:])
		return ecdsa.Verify(key, digest[:], r, s)
	case ed25519.PublicKey: // EdDSA (RFC 8037 §3.1)
		return p.alg == "EdDSA" && ed25519.Verify(key, []byte(p.input), p.signature)
	case *rsa.PublicKey:
		digest := sha256.Sum256([]byte(p.input))
		switch p.alg {
		case "PS256": // RFC 7518 §3.5: the salt as long as the hash
			return rsa.VerifyPSS(key, crypto.SHA256, digest[:], p.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		case "RS256":
			return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], p.signature) == nil
		}
	}
	return false
}
