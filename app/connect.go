package main

// Step 1-2 of the flow: the user clicks Connect with ImageHost, and the app
// sends the browser to ImageHost's authorization endpoint (RFC 6749 §4.1.1)
// with state, nonce and a PKCE challenge, remembering their secrets in the
// session cookie.

import (
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
)

// handleConnect serves POST /connect. It is a POST behind the CSRF check, so
// that another site cannot start a login in the user's browser.
func handleConnect(p *provider, cs cookieSessions) echo.HandlerFunc {
	return func(c echo.Context) error {
		d, err := p.discover(c.Request().Context())
		if err != nil {
			return imageHostDown(err)
		}
		// Each is 256 random bits, new for every login, never reused:
		//   state:    binds the callback to this browser (CSRF, RFC 6749 §10.12);
		//   nonce:    binds the ID token to this login (OIDC Core §3.1.2.1);
		//   verifier: PKCE; only its SHA-256 goes out now (RFC 7636 §4.1-4.2).
		login := pendingLogin{
			State:    oauth2.GenerateVerifier(),
			Nonce:    oauth2.GenerateVerifier(),
			Verifier: oauth2.GenerateVerifier(),
			Started:  p.now(),
		}
		bs := cs.get(c)
		bs.setPendingLogin(login)
		if err := cs.save(c, bs); err != nil {
			return err
		}
		authURL := d.oauth.AuthCodeURL(login.State, oauth2.S256ChallengeOption(login.Verifier), oidc.Nonce(login.Nonce))
		return c.Redirect(http.StatusSeeOther, authURL)
	}
}
