package main

// Token revocation: RFC 7009. A token bound to a DPoP key (RFC 9449) of a
// public client is revoked only with a proof of that key.

import (
	"net/http"

	"oauthdemo/authserver/dpop"
	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// handleRevoke serves POST /revoke. proofs are the token endpoint's DPoP
// checks, whose nonces it shares.
func handleRevoke(tc tokenChecker, proofs *dpop.Checker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, client, e := clientRequest(r, tc.store, tc.demo)
		if e != nil {
			oauth.WriteError(w, e)
			return
		}
		token := form.Get("token")
		if token == "" {
			oauth.WriteError(w, oauth.InvalidRequest("token is required"))
			return
		}
		ctx := r.Context()
		now := tc.now()
		// RFC 7009 §2.1: the server "first validates the client credentials
		// ... and then verifies whether the token was issued to the client
		// making the revocation request". Another client's token is left alone.
		if _, g, err := tc.store.RefreshToken(ctx, oauth.HashToken(token)); err == nil {
			if g.ClientID == client.ID {
				if e := proveBoundKey(r, proofs, tc.issuer, client, g.DPoPJKT); e != nil {
					oauth.WriteError(w, e)
					return
				}
				// RFC 7009 §2.1: revoking a refresh token should also
				// invalidate "all access tokens based on the same
				// authorization grant": revoking the grant does both.
				if err := tc.store.RevokeGrant(ctx, g.ID, "revoked by the client", now); err != nil {
					tc.log.ErrorContext(ctx, "revoke grant", "err", err)
					oauth.WriteError(w, oauth.ServerError())
					return
				}
				tc.log.InfoContext(ctx, "refresh token revoked", "client_id", client.ID, "grant_id", g.ID)
				tc.activity.record(ctx, g.UserID, client.ID, g.FlowRef, "revoked by the app", "the app revoked its refresh token, and with it the grant (RFC 7009)")
			}
		} else if claims, e := oauth.ParseAccessToken(token, tc.keys, tc.issuer, "", now); e == nil && claims.ClientID == client.ID {
			if e := proveBoundKey(r, proofs, tc.issuer, client, claims.BoundKey()); e != nil {
				oauth.WriteError(w, e)
				return
			}
			// RFC 7009 §2: servers "SHOULD support the revocation of access
			// tokens". The jti is recorded; the photos API refuses it from now on.
			if err := tc.store.RevokeAccessToken(ctx, claims.ID, now); err != nil {
				tc.log.ErrorContext(ctx, "revoke access token", "err", err)
				oauth.WriteError(w, oauth.ServerError())
				return
			}
			tc.log.InfoContext(ctx, "access token revoked", "client_id", client.ID, "jti", claims.ID)
			tc.activity.record(ctx, claims.Subject, client.ID, "", "access token revoked by the app", "jti "+claims.ID+" is refused from now on (RFC 7009)")
		}
		// RFC 7009 §2.2: "The authorization server responds with HTTP status
		// code 200 if the token has been revoked successfully or if the
		// client submitted an invalid token."
		oauth.SetNoStore(w)
		w.WriteHeader(http.StatusOK)
	})
}

// proveBoundKey checks that the revocation of a public client's token
// bound to the DPoP key jkt (a refresh token of its bound grant, or an
// access token with cnf.jkt) comes with a proof of that key, made for the
// revocation endpoint, with ImageHost's nonce, used once: checked as at the
// token endpoint (RFC 9449 §4.3, §8). A public client has no credentials,
// so whoever copied its refresh token could otherwise revoke the grant
// and sign the user out, which the token endpoint's binding check
// (checkRefreshBinding) refuses to let a thief do. A confidential client's
// tokens need no proof: its credentials constrain them (RFC 9449 §5).
//
// Without a good proof the answer is the error, 400 invalid_dpop_proof (or
// use_dpop_nonce with the nonce to use), not RFC 7009 §2.2's 200 for "an
// invalid token": the token is valid, the request is what falls short, and
// §2.2.1 answers such a request with an RFC 6749 §5.2 error. A 200 would
// tell a client that forgot its proof that the grant is gone while it
// lives on. The thief learns nothing from the 400: the token endpoint
// already says a bound refresh token needs a proof of its key.
func proveBoundKey(r *http.Request, proofs *dpop.Checker, issuer string, client store.Client, jkt string) *oauth.Error {
	if jkt == "" || !client.Public() {
		return nil
	}
	proof, e := proofs.Check(r, issuer+r.URL.Path, "", "")
	if e != nil {
		return e
	}
	if proof.JKT != jkt {
		return oauth.Errorf(oauth.CodeInvalidDPoPProof, http.StatusBadRequest, "the DPoP proof was made with another key than the one the token is bound to")
	}
	return nil
}
