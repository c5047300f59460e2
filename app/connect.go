package main

// Step 1-2 of the flow: the user clicks Connect with ImageHost, and the app
// sends the browser to ImageHost's authorization endpoint (RFC 6749 §4.1.1)
// with state, nonce and a PKCE challenge, remembering their secrets in the
// session cookie.

import (
	"net/http"
	"time"

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
		login := newPendingLogin(p.now(), requestChecks(c))
		bs := cs.get(c)
		bs.setPendingLogin(login)
		if err := cs.save(c, bs); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, d.oauth.AuthCodeURL(login.State, login.authCodeOptions()...))
	}
}

// newPendingLogin makes the secrets of a new login. Each is 256 random
// bits, new for every login, never reused:
//   - state:    binds the callback to this browser (CSRF, RFC 6749 §10.12);
//   - nonce:    binds the ID token to this login (OIDC Core §3.1.2.1);
//   - verifier: PKCE; only its SHA-256 goes out now (RFC 7636 §4.1-4.2).
//
// With chk.pkce off (lab mode) the login has no verifier.
func newPendingLogin(now time.Time, chk checks) pendingLogin {
	login := pendingLogin{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Started: now}
	if chk.pkce {
		login.Verifier = oauth2.GenerateVerifier()
	}
	return login
}

// authCodeOptions are the authorization request's parameters beyond
// client_id, redirect_uri, scope and state: the nonce, and the PKCE
// challenge with its method, S256 (RFC 7636 §4.3).
func (l pendingLogin) authCodeOptions() []oauth2.AuthCodeOption {
	opts := []oauth2.AuthCodeOption{oidc.Nonce(l.Nonce)}
	if l.Verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(l.Verifier))
	}
	return opts
}
