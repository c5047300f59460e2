package main

// Known browsers ("device cookies", OWASP's Authentication Cheat Sheet).
// The per-account limit on sign-in attempts stops a guesser, but anyone can
// trip it: five wrong passwords for bob and bob waits too. So a browser
// that has signed in to an account before holds a cookie that says so,
// signed by ImageHost, and its attempts for that account are counted
// against that cookie instead of against the account: a stranger can lock
// the account for every browser bob never used, not for his own. Whoever
// steals the cookie gets that one browser's limit, the account's, not
// more, and the per-address limit holds for everyone. The cookie counts
// for bob's account alone, named by its ID: a sign-in to another account
// with it clears that browser's count for that other account only.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// knownBrowserTTL is how long a browser stays known after it last signed in.
const knownBrowserTTL = 30 * 24 * time.Hour

// knownBrowsers reads and writes the known-browser cookie. The cookie names
// one account by its ID (the last one signed in to with this browser), and
// a random id for the browser, which its attempts are counted against.
// The account's ID, not its name: a name may come back on another account
// (one removed, another made), and a browser known to one account must
// count for no other.
type knownBrowsers struct {
	sign   signer
	cookie string // its name (cookieNames.knownBrowser)
	secure bool
	now    func() time.Time
}

// knownBrowserPurpose is what the cookie's signature is for. It names the
// account by ID; a cookie of the earlier kind (by username) is not one.
const knownBrowserPurpose = "known-browser"

// browserFor returns the id of the browser's known-browser cookie if it is
// for the account with ID userID and has not expired, else "".
func (d knownBrowsers) browserFor(r *http.Request, userID string) string {
	if userID == "" {
		return ""
	}
	for _, c := range r.CookiesNamed(d.cookie) {
		v, ok := d.sign.verify(knownBrowserPurpose, c.Value)
		if !ok {
			continue
		}
		parts := strings.Split(v, ".")
		if len(parts) != 3 {
			continue
		}
		id, err1 := base64.RawURLEncoding.DecodeString(parts[0])
		expires, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 == nil && err2 == nil && string(id) == userID && d.now().Unix() < expires {
			return parts[1]
		}
	}
	return ""
}

// browserOf returns browserFor the account that username names (in any
// case, as the store finds it), "" when there is none or the browser has no
// cookie. It fails only when the store does.
func (d knownBrowsers) browserOf(r *http.Request, accounts accountLookup, username string) (string, error) {
	if len(r.CookiesNamed(d.cookie)) == 0 {
		return "", nil
	}
	u, err := accounts.UserByUsername(r.Context(), username)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("known browser: %w", err)
	}
	return d.browserFor(r, u.ID), nil
}

// remember marks the browser as known for the account with ID userID, for
// knownBrowserTTL from now.
func (d knownBrowsers) remember(w http.ResponseWriter, userID string) {
	expires := d.now().Add(knownBrowserTTL)
	v := base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." + oauth.NewID() + "." + strconv.FormatInt(expires.Unix(), 10)
	http.SetCookie(w, &http.Cookie{Name: d.cookie, Value: d.sign.sign(knownBrowserPurpose, v), Path: "/", Expires: expires,
		MaxAge: int(knownBrowserTTL.Seconds()), HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode})
}
