package oauth

import (
	"net/http"
	"net/url"
)

// RedirectWithFragment is RedirectWithParams for the implicit grant, which
// ImageHost answers in lab mode only: params, state (when not empty) and iss
// go in redirectURI's fragment, not its query. RFC 6749 §4.2.2: the
// parameters are added "to the fragment component of the redirection URI
// using the "application/x-www-form-urlencoded" format". The browser keeps
// a fragment to itself, so the client's server never sees it; every script
// of the page it lands on does.
func RedirectWithFragment(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state, issuer string) {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs were validated at registration
		http.Error(w, "invalid redirect URI", http.StatusInternalServerError)
		return
	}
	f := url.Values{}
	for k, vs := range params {
		f[k] = vs
	}
	if state != "" {
		f.Set("state", state)
	}
	// RFC 9207 §2: iss goes with every authorization response, this one too.
	f.Set("iss", issuer)
	// A redirect URI has no fragment of its own (RFC 6749 §3.1.2).
	u.Fragment, u.RawFragment = "", ""
	SetNoStore(w)
	http.Redirect(w, r, u.String()+"#"+f.Encode(), http.StatusSeeOther)
}

// FragmentError is RedirectError for the implicit grant. RFC 6749
// §4.2.2.1: the error parameters, too, are added "to the fragment component
// of the redirection URI".
func FragmentError(w http.ResponseWriter, r *http.Request, redirectURI, state, issuer string, e *Error) {
	e = e.WithAbsoluteURI(issuer)
	f := url.Values{"error": {e.Code}}
	if e.Description != "" {
		f.Set("error_description", e.Description)
	}
	if e.URI != "" {
		f.Set("error_uri", e.URI)
	}
	RedirectWithFragment(w, r, redirectURI, f, state, issuer)
}
