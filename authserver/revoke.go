package main

// Token revocation: RFC 7009.

import (
	"net/http"

	"oauthdemo/authserver/oauth"
)

// handleRevoke serves POST /revoke.
func handleRevoke(tc tokenChecker) http.Handler {
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
