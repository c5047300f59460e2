package main

// The app's forms, and what keeps another page from posting them. Two
// defences, each enough against most attackers on its own:
//
//  1. The browser says where a form comes from: Sec-Fetch-Site (Fetch
//     Metadata) or, in older browsers, Origin. A form from another origin
//     is refused (fromOwnOrigin). "Same site" is not enough: a page on
//     another port of the app's host, or on a sibling subdomain, is
//     same-site, so the user's SameSite=Lax session cookie goes with its
//     posts.
//  2. Every form carries a token kept in the browser's session cookie,
//     which the app encrypts and signs: no other page can read it, and a
//     token cookie that page sets for the app's host (cookies know no
//     ports) is not where the app looks. (The classic "double submit"
//     pattern, a token cookie compared with the form, falls to exactly
//     that: the page sets the cookie and the field to one value.)
//
// echo's CSRF middleware is the double-submit kind, and lets a same-site
// post through with it; this middleware takes its place.

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// csrfField is the forms' hidden field that carries the token.
const csrfField = "_csrf"

// csrfKey is where the request's token is kept in its echo.Context, for the
// pages' forms (render.go).
const csrfKey = "csrf"

// csrfProtection gives every page the browser's form token, and refuses a
// request that changes something (any method but GET, HEAD and OPTIONS)
// unless it comes from origin, the app's own, and carries that token.
// skip names the paths no browser form posts to, which carry their own
// proof (the back-channel logout's signed token).
func csrfProtection(cs cookieSessions, origin string, skip ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			for _, p := range skip {
				if c.Path() == p {
					return next(c)
				}
			}
			bs := cs.get(c)
			token, made := bs.csrfToken()
			if made {
				if err := cs.save(c, bs); err != nil {
					return err
				}
			}
			c.Set(csrfKey, token)
			switch req.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return next(c)
			}
			if !fromOwnOrigin(req, origin) {
				return &pageError{status: http.StatusForbidden, title: "This form came from another site",
					message: "PhotoEditorApp takes its forms only from its own pages. Go back to PhotoEditorApp and try again there.", retry: "/"}
			}
			if made || subtle.ConstantTimeCompare([]byte(c.FormValue(csrfField)), []byte(token)) != 1 {
				return &pageError{status: http.StatusForbidden, title: "The form had expired",
					message: "For your safety the form was refused. Go back, reload the page and try again.", retry: "/"}
			}
			return next(c)
		}
	}
}

// fromOwnOrigin reports whether a browser would have sent r from a page of
// origin (scheme://host[:port]), as far as the browser tells. Fetch
// Metadata's Sec-Fetch-Site is "same-origin" for the app's own pages and
// "none" for what the user did themselves (a bookmark, a reload);
// "same-site" and "cross-site" are another page's. A browser without it
// still sends Origin with a form post (RFC 6454 §7; "null" from an opaque
// origin). A request with neither comes from no browser, or one too old to
// tell: the form's token alone decides for it.
func fromOwnOrigin(r *http.Request, origin string) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	return o == "" || strings.EqualFold(o, origin)
}
