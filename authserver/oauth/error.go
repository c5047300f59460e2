// Package oauth is ImageHost's protocol vocabulary: OAuth errors and the one
// writer per channel that sends them, PKCE, scopes, random values and hashes,
// and the checks an access token must pass.
package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Error codes from RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2,
// RFC 7009 §2.2.1, RFC 9449 §12.2 and OpenID Connect Core §3.1.2.6.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = "invalid_scope"
	CodeAccessDenied            = "access_denied"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeInvalidToken            = "invalid_token"
	CodeInsufficientScope       = "insufficient_scope"
	CodeInvalidRedirectURI      = "invalid_redirect_uri"
	CodeInvalidClientMetadata   = "invalid_client_metadata"
	CodeUnsupportedTokenType    = "unsupported_token_type"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeInteractionRequired     = "interaction_required"
	CodeRequestNotSupported     = "request_not_supported"
	CodeRequestURINotSupported  = "request_uri_not_supported"
	CodeRegistrationNotSupport  = "registration_not_supported"
	CodeInvalidDPoPProof        = "invalid_dpop_proof"
	CodeUseDPoPNonce            = "use_dpop_nonce"
)

// Error is an OAuth error response: a code from the RFCs, a description we
// wrote ourselves (safe to show to anyone), and the HTTP status to send.
// It never carries internal detail; that goes to the log.
type Error struct {
	Code        string
	Description string
	URI         string // error_uri: a page that explains the error
	// Scope is, for insufficient_scope, the scope the request needs
	// (RFC 6750 §3: the "scope" attribute of the challenge).
	Scope  string
	Status int
	// Basic marks an invalid_client error for a client that tried HTTP
	// Basic authentication: RFC 6749 §5.2 requires a WWW-Authenticate header.
	Basic bool
	// DPoP marks an error of a request that presented its access token
	// with the DPoP scheme (RFC 9449 §7.1): the DPoP challenge carries it.
	DPoP bool
	// Nonce, when set, goes out as the DPoP-Nonce header: the nonce the
	// client's next DPoP proof must carry (RFC 9449 §8, §9).
	Nonce string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// WithAbsoluteURI returns e with an error_uri that names one of the
// server's own pages ("/docs/...") made absolute against base, the issuer:
// the client shows the URI wherever it likes, and RFC 6749 §4.1.2.1 wants
// "a human-readable web page" a person can open from there.
func (e *Error) WithAbsoluteURI(base string) *Error {
	if !strings.HasPrefix(e.URI, "/") {
		return e
	}
	abs := *e
	abs.URI = base + e.URI
	return &abs
}

// Errorf builds an Error with the given code, status and description.
func Errorf(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// InvalidRequest is a 400 invalid_request.
func InvalidRequest(format string, args ...any) *Error {
	return Errorf(CodeInvalidRequest, http.StatusBadRequest, format, args...)
}

// InvalidGrant is a 400 invalid_grant (RFC 6749 §5.2).
func InvalidGrant(format string, args ...any) *Error {
	return Errorf(CodeInvalidGrant, http.StatusBadRequest, format, args...)
}

// InvalidClient is a 401 invalid_client (RFC 6749 §5.2).
func InvalidClient(basic bool) *Error {
	e := Errorf(CodeInvalidClient, http.StatusUnauthorized, "client authentication failed")
	e.Basic = basic
	return e
}

// ServerError is what a caller sees when something broke on our side.
func ServerError() *Error {
	return Errorf(CodeServerError, http.StatusInternalServerError, "the server could not complete the request")
}

// SetNoStore marks a response that carries tokens or credentials as not
// cacheable (RFC 6749 §5.1: "Cache-Control: no-store").
func SetNoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// WriteJSON writes v as a JSON body with no-store caching.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	SetNoStore(w)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the status is sent; a write error can only be logged by the caller's middleware
}

type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// RefusalObserver is a ResponseWriter that wants to know the OAuth error a
// response carries: ImageHost's metrics count refusals by their code. Each
// of the error writers below tells it, as http.Flusher is told to flush.
type RefusalObserver interface {
	ObserveRefusal(code string)
}

// ObserveRefusal tells w, if it is a RefusalObserver, that the response
// refuses with code. An empty code (a request without a token) is no
// refusal to count.
func ObserveRefusal(w http.ResponseWriter, code string) {
	if o, ok := w.(RefusalObserver); ok && code != "" {
		o.ObserveRefusal(code)
	}
}

// WriteError is the one writer for errors of the back-channel endpoints
// (token, introspection, revocation, registration): RFC 6749 §5.2 JSON.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.Nonce != "" {
		// RFC 9449 §8: "there MUST NOT be more than one DPoP-Nonce header".
		w.Header().Set("DPoP-Nonce", e.Nonce)
	}
	if e.Basic {
		// RFC 6749 §5.2: "If the client attempted to authenticate via the
		// Authorization request header field, the authorization server MUST
		// respond with an HTTP 401 ... and include the WWW-Authenticate
		// response header field matching the authentication scheme used".
		w.Header().Set("WWW-Authenticate", `Basic realm="imagehost", charset="UTF-8"`)
	}
	ObserveRefusal(w, e.Code)
	WriteJSON(w, e.Status, errorBody{e.Code, e.Description, e.URI})
}

// WriteBearerError is the one writer for errors of endpoints protected by
// an access token (userinfo, photos API, registration): RFC 6750 §3.
// resourceMetadata, when set, points to RFC 9728 protected resource
// metadata. dpop says that the endpoint takes DPoP-bound tokens too
// (RFC 9449 §7.2): a DPoP challenge with the accepted algorithms follows
// the Bearer one, and carries the error when the request used the DPoP
// scheme (e.DPoP), as §7.2 recommends: "the corresponding challenge SHOULD
// be used to deliver error information".
func WriteBearerError(w http.ResponseWriter, e *Error, resourceMetadata string, dpop bool) {
	// RFC 6750 §3.1: a request without any token gets no error code.
	errorParams := func() []string {
		if e.Code == "" {
			return nil
		}
		params := []string{fmt.Sprintf("error=%q", e.Code)}
		if e.Description != "" {
			params = append(params, fmt.Sprintf("error_description=%q", strings.ReplaceAll(e.Description, `"`, "'")))
		}
		if e.Code == CodeInsufficientScope && e.Scope != "" {
			params = append(params, fmt.Sprintf("scope=%q", e.Scope))
		}
		return params
	}
	bearer := []string{`realm="imagehost"`}
	if !e.DPoP {
		bearer = append(bearer, errorParams()...)
	}
	if resourceMetadata != "" {
		bearer = append(bearer, fmt.Sprintf("resource_metadata=%q", resourceMetadata))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(bearer, ", "))
	if dpop {
		// RFC 9449 §7.1: "An algs parameter SHOULD be included to signal to
		// the client the JWS algorithms that are acceptable for the DPoP
		// proof JWT."
		challenge := []string{`realm="imagehost"`}
		if e.DPoP {
			challenge = append(challenge, errorParams()...)
		}
		challenge = append(challenge, fmt.Sprintf("algs=%q", strings.Join(DPoPAlgorithms(), " ")))
		w.Header().Add("WWW-Authenticate", "DPoP "+strings.Join(challenge, ", "))
	}
	if e.Nonce != "" {
		w.Header().Set("DPoP-Nonce", e.Nonce)
	}
	ObserveRefusal(w, e.Code)
	if e.Code == "" {
		SetNoStore(w)
		w.WriteHeader(e.Status)
		return
	}
	body := errorBody{Error: e.Code, ErrorDescription: e.Description}
	WriteJSON(w, e.Status, body)
}

// RedirectError is the one writer for errors of the authorization endpoint
// once client_id and redirect_uri are trusted (RFC 6749 §4.1.2.1): it sends
// the browser back to the client with error, state and iss (RFC 9207 §2).
// An error_uri of the issuer's own is made absolute.
func RedirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, issuer string, e *Error) {
	e = e.WithAbsoluteURI(issuer)
	ObserveRefusal(w, e.Code)
	q := url.Values{}
	q.Set("error", e.Code)
	if e.Description != "" {
		q.Set("error_description", e.Description)
	}
	if e.URI != "" {
		q.Set("error_uri", e.URI)
	}
	RedirectWithParams(w, r, redirectURI, q, state, issuer)
}

// RedirectWithParams adds params, state (when not empty) and iss to
// redirectURI's query, keeping the query the client registered, and redirects.
func RedirectWithParams(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state, issuer string) {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs were validated at registration
		http.Error(w, "invalid redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	// RFC 6749 §4.1.2: state is "REQUIRED if the "state" parameter was
	// present in the client authorization request. The exact value
	// received from the client."
	if state != "" {
		q.Set("state", state)
	}
	// RFC 9207 §2: "iss ... REQUIRED" in every authorization response, so
	// the client can tell which server answered (mix-up attacks, RFC 9700 §4.4).
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	SetNoStore(w)
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
