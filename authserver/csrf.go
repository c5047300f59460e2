package main

// ImageHost's forms, and the cookies behind them. A form that signs someone
// in, gives consent or changes an account must come from the user, on
// ImageHost's own page. Three defences stand in the way of a page that
// tries otherwise, each enough against most attackers on its own:
//
//  1. The browser says where a form comes from: Sec-Fetch-Site (Fetch
//     Metadata) or, in older browsers, Origin. A form from another origin is
//     refused (fromOwnOrigin). "Same site" is not enough: a page on another
//     port of ImageHost's host, or on a sibling subdomain, is same-site, so
//     the user's SameSite=Lax cookies go with its posts.
//  2. Every form carries a token only ImageHost can make: an HMAC, with a
//     key only ImageHost holds, over a random value in the browser's CSRF
//     cookie and the id of its login session. Such a page can set cookies
//     for ImageHost's host (cookies know no ports), but a value ImageHost
//     did not sign is ignored, and a signed one it took from its own
//     browser comes with a token for another session: the victim's session
//     id is unknown to it.
//  3. A pending authorization request is bound to a cookie of its own, also
//     signed, that the forms never show.
//
// Over TLS the cookies' names start with __Host- (RFC 6265bis §4.1.3.2):
// browsers then take them only from a secure origin, with Path=/ and no
// Domain, so no sibling subdomain can set one, and none can be shadowed by
// a cookie at a longer path.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"oauthdemo/authserver/oauth"
)

// csrfField is the forms' hidden field that carries the token.
const csrfField = "csrf_token"

// The names of ImageHost's cookies, served over plain HTTP.
const (
	sessionCookie      = "imagehost_session"
	csrfCookie         = "imagehost_csrf"
	browserCookie      = "imagehost_browser"
	knownBrowserCookie = "imagehost_known_browser"
	upstreamCookie     = "imagehost_upstream"
)

// cookieNames are the names of ImageHost's cookies.
type cookieNames struct {
	session      string // the login session (session.go)
	csrf         string // the random value form tokens are made from
	browser      string // the browser a pending authorization request is bound to
	knownBrowser string // a browser that signed in to an account before (knownbrowser.go)
	upstream     string // a sign-in through an upstream provider under way (upstream_login.go)
}

// newCookieNames returns the names, with the __Host- prefix when the
// cookies are Secure (served over TLS).
func newCookieNames(secure bool) cookieNames {
	prefix := ""
	if secure {
		prefix = "__Host-"
	}
	return cookieNames{session: prefix + sessionCookie, csrf: prefix + csrfCookie,
		browser: prefix + browserCookie, knownBrowser: prefix + knownBrowserCookie, upstream: prefix + upstreamCookie}
}

// signer signs values with the server's cookie key. Each use names its
// purpose, so a value signed for one cookie is worth nothing as another.
type signer struct{ key []byte }

// mac is HMAC-SHA256 over the purpose and the parts, each ended by a NUL
// (no part contains one), so that no two lists of parts sign alike.
func (s signer) mac(purpose string, parts ...string) string {
	h := hmac.New(sha256.New, s.key)
	for _, p := range append([]string{purpose}, parts...) {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// sign returns value with its signature for purpose: "value.signature".
func (s signer) sign(purpose, value string) string { return value + "." + s.mac(purpose, value) }

// verify returns the value of a signed string if ImageHost signed it for
// purpose.
func (s signer) verify(purpose, signed string) (string, bool) {
	i := strings.LastIndexByte(signed, '.')
	if i < 0 || len(signed) > 512 {
		return "", false
	}
	value := signed[:i]
	return value, hmac.Equal([]byte(signed[i+1:]), []byte(s.mac(purpose, value)))
}

// formGuard makes and checks the forms' tokens and the cookies behind
// them. The caller must have parsed the form before calling valid.
type formGuard struct {
	sign     signer
	names    cookieNames
	secure   bool
	sessions loginSessions // a signed-in browser's tokens are bound to its session
}

// setCookie sets one of ImageHost's cookies for the browser's session:
// HttpOnly, so no script reads it, and SameSite=Lax.
func (g formGuard) setCookie(w http.ResponseWriter, r *http.Request, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true,
		Secure: g.secure, SameSite: http.SameSiteLaxMode})
	// Later code in this request must see the new value.
	r.AddCookie(&http.Cookie{Name: name, Value: value})
}

// signedCookie returns the value of the first cookie named name that
// ImageHost signed for purpose. A browser may send several cookies of one
// name (another page of the site may have set one at a longer path); the
// ones ImageHost did not sign are ignored.
func (g formGuard) signedCookie(r *http.Request, name, purpose string) (string, bool) {
	for _, c := range r.CookiesNamed(name) {
		if v, ok := g.sign.verify(purpose, c.Value); ok {
			return v, true
		}
	}
	return "", false
}

// token returns the token for a form on this page, setting the browser's
// CSRF cookie first when it has no valid one.
func (g formGuard) token(w http.ResponseWriter, r *http.Request) string {
	nonce, ok := g.signedCookie(r, g.names.csrf, "csrf")
	if !ok {
		nonce = oauth.NewToken()
		g.setCookie(w, r, g.names.csrf, g.sign.sign("csrf", nonce))
	}
	return g.sign.mac("form", nonce, g.sessionID(r))
}

// valid reports whether the posted form carries the token ImageHost made
// for this browser's CSRF cookie and its current login session.
func (g formGuard) valid(r *http.Request) bool {
	nonce, ok := g.signedCookie(r, g.names.csrf, "csrf")
	return ok && hmac.Equal([]byte(r.PostForm.Get(csrfField)), []byte(g.sign.mac("form", nonce, g.sessionID(r))))
}

// sessionID is the id of the browser's valid login session, "" if none.
func (g formGuard) sessionID(r *http.Request) string {
	if who, ok := g.sessions.current(r); ok {
		return who.session.ID
	}
	return ""
}

// bindBrowser returns what a new pending authorization request is bound
// to: the hash of the browser's binding cookie, set first when the browser
// has no valid one. Only the hash is stored.
func (g formGuard) bindBrowser(w http.ResponseWriter, r *http.Request) []byte {
	signed := ""
	for _, c := range r.CookiesNamed(g.names.browser) {
		if _, ok := g.sign.verify("browser", c.Value); ok {
			signed = c.Value
			break
		}
	}
	if signed == "" {
		signed = g.sign.sign("browser", oauth.NewToken())
		g.setCookie(w, r, g.names.browser, signed)
	}
	return oauth.HashToken(signed)
}

// sameBrowser reports whether r comes from the browser a pending request
// was bound to: one of its binding cookies hashes to browserHash.
func (g formGuard) sameBrowser(r *http.Request, browserHash []byte) bool {
	for _, c := range r.CookiesNamed(g.names.browser) {
		if oauth.TokenMatches(c.Value, browserHash) {
			return true
		}
	}
	return false
}

// fromOwnOrigin reports whether a browser would have sent r from a page of
// origin (scheme://host[:port]), as far as the browser tells. Fetch
// Metadata's Sec-Fetch-Site is "same-origin" for ImageHost's own pages and
// "none" for what the user did themselves (a bookmark, a reload); "same-site"
// and "cross-site" are another page's. A browser without it still sends
// Origin with a form post (RFC 6454 §7; "null" from an opaque origin). A
// request with neither comes from no browser, or one too old to tell: the
// form's token alone decides for it.
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

// sameOriginOnly refuses a request whose browser says it comes from a page
// of another origin than origin; browser-facing forms that change
// something go through it. The back channel does not: a single-page app
// calls /token from its own origin, by design.
func sameOriginOnly(origin string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromOwnOrigin(r, origin) {
			errorPage(w, r, http.StatusForbidden, "This form came from another site",
				"ImageHost takes its forms only from its own pages. Go back to ImageHost and try again there.", oauth.CodeAccessDenied)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originOf returns the origin of an absolute URL, scheme://host[:port],
// without a default port, as browsers send it in Origin.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	host := u.Host
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		host = u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(host)
}
