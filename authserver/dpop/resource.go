package dpop

// DPoP at a protected resource: RFC 9449 §7. A token bound to a key is
// good only with the DPoP scheme and a proof of that key, made for this
// request. The photos API and userinfo both use Resource.

import (
	"net/http"

	"oauthdemo/authserver/oauth"
)

// Resource is how a protected resource checks tokens bound to a key.
type Resource struct {
	// Proofs checks the proofs, with the resource's own nonces.
	Proofs *Checker
	// BaseURL is the public URL the resource's paths hang off, the
	// issuer's: what a proof's htu names.
	BaseURL string
	// Enforced, when set, is lab mode's switch: false lets a bound token
	// through as a plain bearer token, proof or not. Nil: always enforced.
	Enforced func() bool
}

// Check enforces RFC 9449 §7 for a request that presented a verified
// access token, raw, with the DPoP scheme or the Bearer one; jkt is the
// thumbprint of the key the token is bound to (its cnf.jkt), or "" for a
// bearer token. It returns the nonce the client should use from now on,
// when the one it used is about to go, for the response's DPoP-Nonce
// header. Errors are 401s; those of a request that used the DPoP scheme
// are marked for the DPoP challenge (§7.2).
func (res Resource) Check(r *http.Request, raw string, dpopScheme bool, jkt string) (nonce string, e *oauth.Error) {
	if res.Enforced != nil && !res.Enforced() {
		return "", nil // lab mode: the binding is ignored
	}
	switch {
	case jkt == "" && !dpopScheme:
		return "", nil // a bearer token, presented as one
	case jkt == "":
		e := oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the access token is not bound to a DPoP key: send it with the Bearer scheme")
		e.DPoP = true
		return "", e
	case !dpopScheme:
		// §7.2: "such a protected resource MUST reject a DPoP-bound access
		// token received as a bearer token per [RFC6750]." Otherwise
		// whoever stole the token could use it without the key: the
		// downgrade.
		return "", oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized,
			"the access token is bound to a DPoP key (cnf.jkt): send it with the DPoP scheme and a proof made with that key")
	}
	// §7.1: "For such an access token, a resource server MUST check that a
	// DPoP proof was also received in the DPoP header field of the HTTP
	// request, check the DPoP proof according to the rules in Section 4.3,
	// and check that the public key of the DPoP proof matches the public
	// key to which the access token is bound per Section 6." "The resource
	// server MUST NOT grant access to the resource unless all checks are
	// successful."
	proof, e := res.Proofs.Check(r, res.BaseURL+r.URL.Path, raw, jkt)
	if e != nil {
		// §7.1 and §9: at a resource, these are 401s with a DPoP challenge.
		if e.Status == http.StatusBadRequest {
			e.Status = http.StatusUnauthorized
		}
		e.DPoP = true
		return "", e
	}
	return proof.NextNonce, nil
}
