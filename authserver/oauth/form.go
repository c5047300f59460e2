package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// ParseForm reads the parameters of a back-channel request (token,
// introspection, revocation): an application/x-www-form-urlencoded body
// (RFC 6749 §3.2), each parameter at most once. The caller limits the body
// size with http.MaxBytesReader.
func ParseForm(r *http.Request) (url.Values, *Error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, InvalidRequest("the request body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(CodeInvalidRequest, http.StatusRequestEntityTooLarge, "the request body is too large")
		}
		return nil, InvalidRequest("the request body could not be read")
	}
	return ParseParams(string(body))
}

// ParseParams parses a URL-encoded parameter string and enforces RFC 6749
// §3.1 and §3.2: "Request and response parameters MUST NOT be included more
// than once." Values must be valid UTF-8.
func ParseParams(raw string) (url.Values, *Error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, InvalidRequest("the parameters are not validly URL-encoded")
	}
	if e := CheckParams(v); e != nil {
		return nil, e
	}
	return v, nil
}

// CheckParams refuses repeated parameters and invalid UTF-8 in already
// parsed parameters.
func CheckParams(v url.Values) *Error {
	for k, vs := range v {
		if len(vs) > 1 {
			return InvalidRequest("parameter %q is included more than once", Truncate(k))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return InvalidRequest("parameters must be valid UTF-8")
		}
	}
	return nil
}

// Truncate keeps a client-supplied value short enough to echo in an
// error description, or replaces it.
func Truncate(s string) string {
	if len(s) > 40 || !utf8.ValidString(s) {
		return "(a parameter)"
	}
	return s
}
