package main

import (
	"crypto/subtle"
	"net/http"

	"oauthdemo/authserver/oauth"
)

// csrfCookie holds a random per-browser value. Every form carries the same
// value in a hidden field; a forged cross-site form cannot, because another
// site can neither read this cookie nor our pages. This is the "double
// submit" pattern; SameSite=Lax on the cookie is the second line of defence.
const (
	csrfCookie = "imagehost_csrf"
	csrfField  = "csrf_token"
)

// csrfToken returns the browser's CSRF value, setting the cookie when the
// browser has none yet.
func csrfToken(w http.ResponseWriter, r *http.Request, secure bool) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := oauth.NewToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	// Later code in this request (browserHash) must see the new value.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return v
}

// validCSRF reports whether the submitted form's token matches the cookie.
// The caller must have parsed the form.
func validCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get(csrfField))) == 1
}

// browserHash identifies the browser (by its CSRF cookie) without storing
// the cookie itself; pending authorization requests are bound to it.
func browserHash(r *http.Request) []byte {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return nil
	}
	return oauth.HashToken(c.Value)
}
