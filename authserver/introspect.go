package main

// Token introspection: RFC 7662. A resource server asks whether a token is
// active and what it allows. Any confidential client may ask, but only about
// its own tokens, unless the operator marked it as a resource server
// ("authserver clients set-resource-server"): a client registered in the
// console must not learn who is behind another app's token.

import (
	"net/http"

	"oauthdemo/authserver/oauth"
)

// introspection is RFC 7662 §2.2's response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	// Cnf is the key a DPoP-bound access token is bound to (RFC 9449 §6.2:
	// "the hash of the public key to which the token is bound is conveyed
	// to the protected resource as metainformation in a token introspection
	// response").
	Cnf *oauth.Confirmation `json:"cnf,omitempty"`
}

// handleIntrospect serves POST /introspect.
func handleIntrospect(tc tokenChecker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 7662 §2.1: "the endpoint MUST also require some form of
		// authorization to access this endpoint". Public clients have no
		// credentials, so they may not introspect.
		form, client, e := clientRequest(r, tc.store, tc.demo)
		if e == nil && client.Public() {
			e = oauth.InvalidClient(false)
		}
		if e != nil {
			oauth.WriteError(w, e)
			return
		}
		token := form.Get("token")
		if token == "" {
			oauth.WriteError(w, oauth.InvalidRequest("token is required"))
			return
		}
		// The token_type_hint only says where to look first (RFC 7662 §2.1);
		// both kinds are cheap to tell apart, so it is not needed.
		//
		// RFC 7662 §4: the server "SHOULD require protected resources to be
		// specifically authorized to call the introspection endpoint". A
		// client that is not learns about its own tokens only; of any other
		// it hears what §2.3 prescribes for "a token the protected resource
		// is not allowed to know about": "active" set to false.
		mayKnow := func(issuedTo string) bool { return issuedTo == client.ID || client.ResourceServer }
		resp := introspection{Active: false}
		claims, e := tc.check(r.Context(), token)
		switch {
		case e == nil && mayKnow(claims.ClientID):
			resp = introspection{Active: true, Scope: claims.Scope, ClientID: claims.ClientID, TokenType: "Bearer",
				Exp: claims.Expiry.Time().Unix(), Iat: claims.IssuedAt.Time().Unix(), Sub: claims.Subject,
				Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.ID, Cnf: claims.Confirmation}
			// RFC 9449 §6.2: "If the token_type member is included in the
			// introspection response, it MUST contain the value DPoP."
			if claims.BoundKey() != "" {
				resp.TokenType = oauth.TokenTypeDPoP
			}
			if u, err := tc.store.UserByID(r.Context(), claims.Subject); err == nil {
				resp.Username = u.Username
			}
		case e == nil:
			// Another client's access token: inactive, to this caller.
		case e.Status >= 500:
			oauth.WriteError(w, e)
			return
		default:
			// Not an access token; perhaps a refresh token, which is only
			// ever shown to the client that holds it.
			if rt, g, err := tc.store.RefreshToken(r.Context(), oauth.HashToken(token)); err == nil &&
				g.ClientID == client.ID && !g.Revoked() && rt.UsedAt.IsZero() && tc.now().Before(rt.ExpiresAt) {
				resp = introspection{Active: true, Scope: rt.Scope, ClientID: g.ClientID, TokenType: "refresh_token",
					Exp: rt.ExpiresAt.Unix(), Iat: rt.IssuedAt.Unix(), Sub: g.UserID, Iss: tc.issuer}
				if u, err := tc.store.UserByID(r.Context(), g.UserID); err == nil {
					resp.Username = u.Username
				}
			}
		}
		// RFC 7662 §2.2: for an inactive token, "the authorization server
		// ... SHOULD NOT include any additional information".
		oauth.WriteJSON(w, http.StatusOK, resp)
	})
}
