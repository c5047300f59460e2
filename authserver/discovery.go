package main

// Metadata documents: OpenID Connect Discovery 1.0 §3, RFC 8414 (OAuth 2.0
// Authorization Server Metadata), RFC 9728 (Protected Resource Metadata)
// and the JWKS itself (RFC 7517).

import (
	"encoding/json"
	"net/http"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/signing"
)

// serverMetadata builds the discovery document. One document serves both
// well-known URLs: RFC 8414 §3 reuses OpenID's member names.
func serverMetadata(cfg Config) map[string]any {
	iss := cfg.Issuer
	md := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"device_authorization_endpoint":                  iss + "/device_authorization", // RFC 8628 §4
		"userinfo_endpoint":                              iss + "/userinfo",
		"jwks_uri":                                       iss + "/jwks",
		"introspection_endpoint":                         iss + "/introspect",
		"revocation_endpoint":                            iss + "/revoke",
		"end_session_endpoint":                           iss + "/logout",
		"scopes_supported":                               oauth.KnownScopes(),
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials", oauth.GrantTypeDeviceCode},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{signing.RS256},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{oauth.MethodS256},
		"dpop_signing_alg_values_supported":              oauth.DPoPAlgorithms(), // RFC 9449 §5.1
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"claims_supported":                               []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "idp", "name", "preferred_username", "email", "email_verified"},
		"authorization_response_iss_parameter_supported": true, // RFC 9207 §3
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"service_documentation":                          iss + "/docs/dropped-grants",
	}
	if cfg.InitialAccessToken != "" {
		md["registration_endpoint"] = iss + "/register"
	}
	return md
}

// resourceMetadata is the photos API's RFC 9728 §2 document.
func resourceMetadata(cfg Config) map[string]any {
	return map[string]any{
		"resource":                              cfg.resource(),
		"resource_name":                         "ImageHost Photos API",
		"authorization_servers":                 []string{cfg.Issuer},
		"scopes_supported":                      []string{oauth.ScopePhotosRead, oauth.ScopePhotosWrite},
		"bearer_methods_supported":              []string{"header"},
		"resource_signing_alg_values_supported": []string{signing.ES256},
		// RFC 9728 §2: the algorithms of DPoP proofs the API takes; it takes
		// bearer tokens too, so DPoP-bound ones are not required.
		"dpop_signing_alg_values_supported": oauth.DPoPAlgorithms(),
		"dpop_bound_access_tokens_required": false,
	}
}

// handleJSONDocument serves a document that is the same for everyone.
func handleJSONDocument(doc map[string]any) http.Handler {
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // maps of strings, bools and string slices always marshal
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(body)
	})
}

// handleJWKS serves the public signing keys.
func handleJWKS(keys *signing.KeySet) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short caching: after a rotation clients must see the new key soon.
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(keys.JWKS())
	})
}
