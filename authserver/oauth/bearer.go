package oauth

import (
	"net/http"
	"strings"
)

// BearerToken extracts the access token from the Authorization header
// (RFC 6750 §2.1). Without a header it returns an Error with no code:
// RFC 6750 §3.1 says a request that has no authentication information
// "SHOULD NOT include an error code".
func BearerToken(r *http.Request) (string, *Error) {
	token, dpop, e := AccessToken(r)
	if e == nil && dpop {
		return "", InvalidRequest("the Authorization header must be \"Bearer <token>\"")
	}
	return token, e
}

// AccessToken extracts the access token from the Authorization header of
// a request to a resource that takes both bearer tokens (RFC 6750 §2.1)
// and DPoP-bound ones (RFC 9449 §7.1): dpop reports which scheme it came
// with. The scheme only says how the client presents the token; whether
// the token is bound to a key, and the proof, are the caller's to check.
// Without a header it returns an Error with no code, as BearerToken does.
func AccessToken(r *http.Request) (token string, dpop bool, e *Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		// RFC 6750 §2.3 / OAuth 2.1: no tokens in the query string.
		if r.URL.Query().Has("access_token") {
			return "", false, InvalidRequest("send the access token in the Authorization header, not in the URL")
		}
		return "", false, &Error{Status: http.StatusUnauthorized}
	}
	// RFC 9449 §7.2, Figure 19: two Authorization headers (Bearer and
	// DPoP) are "Multiple methods used to include access token".
	if len(r.Header.Values("Authorization")) > 1 {
		return "", false, InvalidRequest("send one Authorization header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	dpop = strings.EqualFold(scheme, "DPoP")
	if !ok || !(dpop || strings.EqualFold(scheme, "Bearer")) || token == "" || strings.ContainsAny(token, " \t") {
		return "", false, InvalidRequest("the Authorization header must be \"Bearer <token>\" or \"DPoP <token>\"")
	}
	return token, dpop, nil
}
