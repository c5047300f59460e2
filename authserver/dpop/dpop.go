// Package dpop checks DPoP proofs (RFC 9449): the JWT a client signs with
// a key of its own for each request, to show that it holds the key its
// tokens are bound to. A stolen access token, or refresh token of a public
// client, is then worth nothing without the key.
//
// The token endpoint (authserver/token_dpop.go) checks a proof and binds
// the tokens it issues to the proof's key; the protected resources (the
// photos API, userinfo) check the proof that comes with a bound token.
// Both go through Checker, which runs the twelve checks of RFC 9449 §4.3,
// asks for a server nonce (§8, §9; Nonces) and remembers every proof it
// accepted until it is too old to be accepted again (§11.1; a Replays
// store, shared by every instance on one database).
//
// The work a proof can ask for is bounded: it is at most MaxProofBytes
// long, its algorithm is one of oauth.DPoPAlgorithms (a signature check of
// tens of microseconds), an RSA key has at most 4,096 bits, and the
// replay store keeps a bounded number of proofs for a bounded time.
package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// Bounds of a proof.
const (
	// MaxProofBytes is the longest DPoP header taken: a proof signed with
	// a 4,096-bit RSA key is about 2 KiB.
	MaxProofBytes = 4 << 10
	// Window is how far a proof's iat may be from the server's clock, in
	// either direction. RFC 9449 §11.1: "servers MUST only accept DPoP
	// proofs for a limited time after their creation (preferably only for
	// a relatively brief period on the order of seconds or minutes)"; a
	// client's clock a little ahead is forgiven ("the server MAY accept
	// DPoP proofs that carry an iat time in the reasonably near future").
	Window = 60 * time.Second
	// maxRSABits bounds the work of an RSA signature check.
	minRSABits, maxRSABits = 2048, 4096
	maxJTI                 = 256 // characters
)

// HeaderName is the request header that carries a proof (RFC 9449 §4.1)
// and NonceHeader the response header that carries the server's nonce
// (§8).
const (
	HeaderName  = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// TypeProof is the "typ" of a DPoP proof. RFC 9449 §11.5: "Servers
// accepting signed DPoP proof JWTs MUST verify that the typ field is
// dpop+jwt in the headers of the JWTs to ensure that adversaries cannot use
// JWTs created for other purposes."
const TypeProof = "dpop+jwt"

// Replays remembers the proofs that were accepted. *sqlite.Store and
// *postgres.Store implement it (store.DPoPProofs).
type Replays interface {
	UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time, limit int) error
}

// Checker checks DPoP proofs for one server: the token endpoint or a
// protected resource.
type Checker struct {
	// Nonces are the server's nonces, which every proof must carry.
	Nonces *Nonces
	// Replays remembers accepted proofs, at most MaxProofs of them.
	Replays   Replays
	MaxProofs int
	Now       func() time.Time
}

// Proof is a proof that passed every check.
type Proof struct {
	// JKT is the thumbprint of the proof's key (RFC 7638, SHA-256,
	// base64url): what a token bound to it carries as cnf.jkt.
	JKT string
	// NextNonce is the nonce the client should use from now on, when the
	// one it sent is about to go: the response carries it (RFC 9449 §8.2).
	NextNonce string
}

// claims are a proof's claims (RFC 9449 §4.2).
type claims struct {
	JTI      string           `json:"jti"`
	HTM      string           `json:"htm"`
	HTU      string           `json:"htu"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ATH      string           `json:"ath"`
	Nonce    string           `json:"nonce"`
}

// parseClaims decodes a proof's claims by their exact names, and refuses a
// claims set with a name in it twice. RFC 7519 §4: "The Claim Names within
// a JWT Claims Set MUST be unique; JWT parsers MUST either reject JWTs with
// duplicate Claim Names or use a JSON parser that returns only the
// lexically last duplicate member name"; and encoding/json alone would
// take an "HTM" for htm.
func parseClaims(payload []byte) (claims, error) {
	var cl claims
	members, err := jsonObject(payload)
	if err != nil {
		return cl, err
	}
	for _, c := range []struct {
		name string
		into any
	}{{"jti", &cl.JTI}, {"htm", &cl.HTM}, {"htu", &cl.HTU}, {"iat", &cl.IssuedAt}, {"ath", &cl.ATH}, {"nonce", &cl.Nonce}} {
		if raw, ok := members[c.name]; ok {
			if err := json.Unmarshal(raw, c.into); err != nil {
				return cl, fmt.Errorf("claim %s: %w", c.name, err)
			}
		}
	}
	return cl, nil
}

// Check checks the DPoP proof of r. htu is the URI the client must have
// signed: the server's public URL of the endpoint, without query (the
// issuer's, not the one the request reached, which a proxy may have
// changed). At a protected resource, accessToken is the token presented
// with the proof, whose hash the proof's ath must be, and boundTo the
// thumbprint of the key that token is bound to, which must be the proof's;
// at the token endpoint both are "". The proof is remembered once it passed
// every check, so a proof refused for another reason does not spend its
// jti.
//
// Errors are RFC 9449 §5's: invalid_dpop_proof, or use_dpop_nonce with the
// nonce to use, and invalid_token for a proof of another key (§7.1,
// Figure 16), all with status 400; at a protected resource the caller makes
// them 401 (§7.1).
func (c *Checker) Check(r *http.Request, htu, accessToken, boundTo string) (Proof, *oauth.Error) {
	p, jti, iat, e := c.verify(r, htu, accessToken)
	if e != nil {
		return p, e
	}
	// §4.3 check 12, second half: "confirm that the public key to which the
	// access token is bound matches the public key from the DPoP proof."
	// §6: "Resource servers supporting DPoP MUST ensure that the public key
	// from the DPoP proof matches the one bound to the access token."
	if accessToken != "" && p.JKT != boundTo {
		return p, oauth.Errorf(oauth.CodeInvalidToken, http.StatusBadRequest,
			"the DPoP proof was made with another key than the one the access token is bound to")
	}
	if e := c.remember(r.Context(), p.JKT, jti, iat); e != nil {
		return p, e
	}
	return p, nil
}

// verify runs the checks of RFC 9449 §4.3 but the last (replay): it
// returns the proof, and the jti and iat that remembering it needs.
func (c *Checker) verify(r *http.Request, htu, accessToken string) (Proof, string, time.Time, *oauth.Error) {
	var none Proof
	invalid := func(desc string) (Proof, string, time.Time, *oauth.Error) {
		return none, "", time.Time{}, oauth.Errorf(oauth.CodeInvalidDPoPProof, http.StatusBadRequest, "%s", desc)
	}
	// RFC 9449 §4.3, check 1: "There is not more than one DPoP HTTP
	// request header field."
	values := r.Header.Values(HeaderName)
	switch {
	case len(values) == 0:
		return invalid("the request has no DPoP proof (a DPoP header)")
	case len(values) > 1:
		return invalid("the request has more than one DPoP header")
	case len(values[0]) > MaxProofBytes:
		return invalid("the DPoP proof is too long")
	}
	// Check 2: "The DPoP HTTP request header field value is a single and
	// well-formed JWT." Check 5: "The alg JOSE Header Parameter indicates a
	// registered asymmetric digital signature algorithm ..., is not none,
	// is supported by the application, and is acceptable per local
	// policy": oauth.DPoPAlgorithms, and no other. Check 3 for the header:
	// the jwk, a public key of that algorithm, and check 7: "The jwk JOSE
	// Header Parameter does not contain a private key" (jws.go).
	proof, err := parseProof(values[0])
	if err != nil {
		return invalid(err.Error())
	}
	// Check 4: "The typ JOSE Header Parameter has the value dpop+jwt."
	if proof.typ != TypeProof {
		return invalid("the DPoP proof's typ must be dpop+jwt")
	}
	// Check 6: "The JWT signature verifies with the public key contained
	// in the jwk JOSE Header Parameter."
	if !proof.verify() {
		return invalid("the DPoP proof's signature does not verify with its jwk")
	}
	cl, err := parseClaims(proof.payload)
	if err != nil {
		return invalid("the DPoP proof's claims are malformed")
	}
	// Check 3 for the payload: "All required claims per Section 4.2 are
	// contained in the JWT": jti, htm, htu, iat, and at a protected
	// resource ath.
	switch {
	case cl.JTI == "" || cl.HTM == "" || cl.HTU == "" || cl.IssuedAt == nil:
		return invalid("the DPoP proof lacks one of jti, htm, htu and iat")
	case len(cl.JTI) > maxJTI:
		// RFC 9449 §11.1: "a server that is tracking jti values should
		// reject DPoP proof JWTs with unnecessarily large jti values".
		return invalid("the DPoP proof's jti is too long")
	// Check 8: "The htm claim matches the HTTP method of the current
	// request."
	case cl.HTM != r.Method:
		return invalid("the DPoP proof was made for another HTTP method (htm)")
	// Check 9: "The htu claim matches the HTTP URI value for the HTTP
	// request in which the JWT was received, ignoring any query and
	// fragment parts."
	case !SameURI(cl.HTU, htu):
		return invalid("the DPoP proof was made for another URI (htu)")
	}
	// Check 12, first half: "ensure that the value of the ath claim
	// equals the hash of that access token".
	if accessToken != "" && cl.ATH != TokenHash(accessToken) {
		return invalid("the DPoP proof was made for another access token (ath)")
	}
	// Check 11: "The creation time of the JWT ... is within an acceptable
	// window".
	now := c.Now()
	iat := cl.IssuedAt.Time()
	if iat.Before(now.Add(-Window)) || iat.After(now.Add(Window)) {
		return invalid("the DPoP proof was made too long ago, or in the future (iat): check the clock")
	}
	// Check 10: "If the server provided a nonce value to the client, the
	// nonce claim matches the server-provided nonce value." ImageHost
	// provides one to every client, at its first proof: RFC 9449 §11.3 "A
	// server MUST NOT accept any DPoP proofs without the nonce claim when a
	// DPoP nonce has been provided to the client."
	next, ok := c.Nonces.Check(cl.Nonce)
	if !ok {
		e := oauth.Errorf(oauth.CodeUseDPoPNonce, http.StatusBadRequest, "ImageHost requires a nonce of its own in the DPoP proof: use the DPoP-Nonce header's")
		e.Nonce = next
		return none, "", time.Time{}, e
	}
	return Proof{JKT: proof.jkt, NextNonce: next}, cl.JTI, iat, nil
}

// remember records the proof, so that it is accepted once. RFC 9449 §11.1:
// "servers can store the jti value of each DPoP proof for the time window
// in which the respective DPoP proof JWT would be accepted to prevent
// multiple uses of the same DPoP proof". It is kept as a hash of the key's
// thumbprint and the jti ("or store only a hash thereof"), until the proof
// would be refused for its age anyway.
func (c *Checker) remember(ctx context.Context, jkt, jti string, iat time.Time) *oauth.Error {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	err := c.Replays.UseDPoPProof(ctx, sum[:], iat.Add(Window), c.Now(), c.MaxProofs)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrAlreadyUsed):
		return oauth.Errorf(oauth.CodeInvalidDPoPProof, http.StatusBadRequest, "the DPoP proof was used before (its jti): make a new proof for each request")
	case errors.Is(err, store.ErrQuotaExceeded):
		return oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable, "ImageHost is receiving too many DPoP proofs; try again shortly")
	}
	return oauth.ServerError()
}

// TokenHash is a proof's ath for an access token: "the result of a
// base64url encoding ... the SHA-256 [SHS] hash of the ASCII encoding of
// the associated access token's value" (RFC 9449 §4.2).
func TokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameURI reports whether a proof's htu names the URI want, ignoring query
// and fragment (RFC 9449 §4.3, check 9), after the normalization the RFC
// asks for: "servers SHOULD employ syntax-based normalization (Section
// 6.2.2 of [RFC3986]) and scheme-based normalization (Section 6.2.3 of
// [RFC3986]) before comparing the htu claim". Scheme and host compare
// without case, a default port is the same as none, an empty path is "/",
// and percent-encodings compare decoded.
func SameURI(htu, want string) bool {
	a, ok := normalize(htu)
	b, ok2 := normalize(want)
	return ok && ok2 && a == b
}

func normalize(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") { // an IPv6 literal
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}
