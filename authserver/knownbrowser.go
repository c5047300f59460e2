package main

// Known browsers ("device cookies", OWASP's Authentication Cheat Sheet).
// The per-account limit on sign-in attempts stops a guesser, but anyone can
// trip it: five wrong passwords for bob and bob waits too. So a browser
// that has signed in to an account before holds a cookie that says so,
// signed by ImageHost, and its attempts for that account are counted
// against that cookie instead of against the account: a stranger can lock
// the account for every browser bob never used, not for his own. Whoever
// steals the cookie gets that one browser's limit, the account's, not
// more, and the per-address limit holds for everyone.

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
)

// knownBrowserTTL is how long a browser stays known after it last signed in.
const knownBrowserTTL = 30 * 24 * time.Hour

// knownBrowsers reads and writes the known-browser cookie. The cookie names
// one account (the last one signed in to with this browser) and a random id
// for the browser, which its attempts are counted against.
type knownBrowsers struct {
	sign   signer
	cookie string // its name (cookieNames.knownBrowser)
	secure bool
	now    func() time.Time
}

// browserFor returns the id of the browser's known-browser cookie if it is
// for username (in any case) and has not expired, else "".
func (d knownBrowsers) browserFor(r *http.Request, username string) string {
	for _, c := range r.CookiesNamed(d.cookie) {
		v, ok := d.sign.verify("device", c.Value)
		if !ok {
			continue
		}
		parts := strings.Split(v, ".")
		if len(parts) != 3 {
			continue
		}
		name, err1 := base64.RawURLEncoding.DecodeString(parts[0])
		expires, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 == nil && err2 == nil && strings.EqualFold(string(name), username) && d.now().Unix() < expires {
			return parts[1]
		}
	}
	return ""
}

// remember marks the browser as known for username, for knownBrowserTTL from now.
func (d knownBrowsers) remember(w http.ResponseWriter, username string) {
	expires := d.now().Add(knownBrowserTTL)
	v := base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(username))) + "." + oauth.NewID() + "." + strconv.FormatInt(expires.Unix(), 10)
	http.SetCookie(w, &http.Cookie{Name: d.cookie, Value: d.sign.sign("device", v), Path: "/", Expires: expires,
		MaxAge: int(knownBrowserTTL.Seconds()), HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode})
}
