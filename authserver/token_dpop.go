package main

// DPoP at the token endpoint: RFC 9449 §5. A token request may carry a
// DPoP proof, a JWT the client signed with a key of its own; ImageHost
// checks it (package dpop) before any grant is looked at, and binds what it
// issues to the proof's key: the access token by its cnf.jkt claim (§6.1),
// and, for a public client, the refresh tokens of the grant (§5), which
// then need a proof of the same key at every refresh. A request without a
// proof gets bearer tokens, as before.

import (
	"context"
	"net/http"
	"time"

	"oauthdemo/authserver/dpop"
	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// dpopCheckers returns the DPoP checks of the token endpoint and of the
// protected resources (the photos API, userinfo). Each has nonces of its
// own (RFC 9449 §9: "nonces will be only accepted by the server that
// issued them"), made from the key in the store that every instance shares;
// both remember proofs in the store. In lab mode a switch turns the
// resources' enforcement off.
func dpopCheckers(cfg Config, st store.Store, keys *signing.KeySet, lab *labSwitches, now func() time.Time) (*dpop.Checker, dpop.Resource) {
	token := &dpop.Checker{Nonces: dpop.NewNonces(keys.CookieKey(), "the token endpoint", now), Replays: st, MaxProofs: cfg.MaxDPoPProofs, Now: now}
	resource := dpop.Resource{BaseURL: cfg.Issuer,
		Proofs: &dpop.Checker{Nonces: dpop.NewNonces(keys.CookieKey(), "the protected resources", now), Replays: st, MaxProofs: cfg.MaxDPoPProofs, Now: now}}
	if lab != nil {
		resource.Enforced = func() bool { return lab.on(defenceDPoP) }
	}
	return token, resource
}

// proofKey is where a token request's checked DPoP proof is kept in its
// context, for the grant that issues the tokens.
type proofKey struct{}

// checkDPoP checks the DPoP proof of a token request, if it has one, and
// returns the request with the proof in its context. RFC 9449 §5: "The
// DPoP HTTP header field MUST contain a valid DPoP proof JWT. If the DPoP
// proof is invalid, the authorization server issues an error response per
// Section 5.2 of [RFC6749] with invalid_dpop_proof as the value of the
// error parameter." It runs before the grant, so that a code is not spent
// on a request that must come again with ImageHost's nonce.
func (ti tokenIssuer) checkDPoP(r *http.Request) (*http.Request, *oauth.Error) {
	if len(r.Header.Values(dpop.HeaderName)) == 0 {
		return r, nil
	}
	proof, e := ti.dpop.Check(r, ti.mint.issuer+r.URL.Path, "", "")
	if e != nil {
		return r, e
	}
	return r.WithContext(context.WithValue(r.Context(), proofKey{}, proof)), nil
}

// proofOf returns the DPoP proof a token request came with, if any.
func proofOf(ctx context.Context) (dpop.Proof, bool) {
	p, ok := ctx.Value(proofKey{}).(dpop.Proof)
	return p, ok
}

// boundKey is the key the tokens of a request are bound to: the thumbprint
// of its proof's key, or "" for bearer tokens.
func boundKey(ctx context.Context) string {
	p, _ := proofOf(ctx)
	return p.JKT
}

// refreshBinding is the key a new grant's refresh tokens are bound to.
// RFC 9449 §5: "When an authorization server supporting DPoP issues a
// refresh token to a public client that presents a valid DPoP proof at the
// token endpoint, the refresh token MUST be bound to the respective public
// key." A confidential client's are not: "they are already
// sender-constrained with a different existing mechanism", its credentials.
func refreshBinding(ctx context.Context, client store.Client) string {
	if !client.Public() {
		return ""
	}
	return boundKey(ctx)
}

// checkRefreshBinding refuses a refresh token of a grant bound to a key
// unless the request proves that key. RFC 9449 §5: "The binding MUST be
// validated when the refresh token is later presented to get new access
// tokens. As a result, such a client MUST present a DPoP proof for the same
// key that was used to obtain the refresh token each time that refresh
// token is used to obtain a new access token." Whoever stole the refresh
// token alone is refused, and the grant is left alone: revoking it would
// let the thief sign the user out.
func checkRefreshBinding(ctx context.Context, g store.Grant) *oauth.Error {
	switch key := boundKey(ctx); {
	case g.DPoPJKT == "" || key == g.DPoPJKT:
		return nil
	case key == "":
		return oauth.InvalidGrant("the refresh token is bound to a DPoP key: send a DPoP proof made with that key")
	}
	return oauth.InvalidGrant("the refresh token is bound to another DPoP key than this proof's")
}

// tokenType is the token_type of an access token minted for a request:
// DPoP when it is bound to the proof's key. RFC 9449 §5: "A token_type of
// DPoP MUST be included in the access token response to signal to the
// client that the access token was bound to its DPoP key".
func tokenType(jkt string) string {
	if jkt != "" {
		return oauth.TokenTypeDPoP
	}
	return "Bearer"
}
