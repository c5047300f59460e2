package oauth

// The parts of DPoP (RFC 9449) that are vocabulary: the algorithms a proof
// may be signed with, the access token's confirmation claim, the header
// names. Checking a proof is package dpop's.

import "slices"

// dpopAlgorithms are the JWS algorithms ImageHost accepts for DPoP proofs.
// RFC 9449 §11.6: "Implementers MUST ensure that only asymmetric digital
// signature algorithms (such as ES256) that are deemed secure can be used
// for signing DPoP proofs. In particular, the algorithm none MUST NOT be
// allowed." Each costs tens of microseconds to verify, and an RSA key is
// held to 4,096 bits (package dpop): the work a proof asks of the server
// is bounded.
var dpopAlgorithms = []string{"ES256", "EdDSA", "PS256", "RS256"}

// DPoPAlgorithms returns the algorithms a DPoP proof may be signed with,
// for discovery (dpop_signing_alg_values_supported, RFC 9449 §5.1) and the
// DPoP challenge's algs (§7.1).
func DPoPAlgorithms() []string { return slices.Clone(dpopAlgorithms) }

// Confirmation is the "cnf" claim of an access token bound to a key
// (RFC 7800): for DPoP, the key's JWK SHA-256 thumbprint (RFC 9449 §6.1:
// "jkt: JWK SHA-256 Thumbprint confirmation method").
type Confirmation struct {
	JKT string `json:"jkt"`
}

// TokenTypeDPoP is the token_type of an access token bound to the
// client's DPoP key. RFC 9449 §5: "A token_type of DPoP MUST be included
// in the access token response to signal to the client that the access
// token was bound to its DPoP key".
const TokenTypeDPoP = "DPoP"
