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
	h := r.Header.Get("Authorization")
	if h == "" {
		// RFC 6750 §2.3 / OAuth 2.1: no tokens in the query string.
		if r.URL.Query().Has("access_token") {
			return "", InvalidRequest("send the access token in the Authorization header, not in the URL")
		}
		return "", &Error{Status: http.StatusUnauthorized}
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", InvalidRequest("the Authorization header must be \"Bearer <token>\"")
	}
	return token, nil
}
