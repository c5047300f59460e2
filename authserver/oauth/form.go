package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
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
// than once." Values must be valid UTF-8 without NUL (CheckParams).
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

// CheckParams refuses repeated parameters, and parameters that are not
// UTF-8 text, in already parsed parameters.
//
// RFC 6749 §3.1 and Appendix A: parameters are UTF-8, and no parameter's
// syntax admits %x00 (client_id, state and code are VSCHARs, %x20-7E;
// username and password UNICODECHARNOCRLF; redirect_uri a URI). Refused
// here, once for every OAuth endpoint, such a value never reaches the
// store, where PostgreSQL's text could not hold it and SQLite would.
func CheckParams(v url.Values) *Error {
	for k, vs := range v {
		if len(vs) > 1 {
			return InvalidRequest("parameter %q is included more than once", Truncate(k))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return InvalidRequest("parameters must be valid UTF-8")
		}
		if strings.ContainsRune(k, 0) || strings.ContainsRune(vs[0], 0) {
			return InvalidRequest("parameters must not contain NUL")
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
