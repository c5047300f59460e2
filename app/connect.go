package main

// Step 1-2 of the flow: the user clicks Connect with ImageHost, and the app
// sends the browser to ImageHost's authorization endpoint (RFC 6749 §4.1.1)
// with state, nonce and a PKCE challenge, remembering their secrets in the
// session cookie.

import (
	"net/http"
	"net/url"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
)

// handleConnect serves POST /connect. It is a POST behind the CSRF check, so
// that another site cannot start a login in the user's browser.
func handleConnect(p *provider, cs cookieSessions, rec *flow.Recorder, lab *labSwitches, baseURL string) echo.HandlerFunc {
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
		opts := []oauth2.AuthCodeOption{oidc.Nonce(login.Nonce), oauth2.S256ChallengeOption(login.Verifier)}
		if !lab.on(checkPKCE) {
			login.Verifier, opts = "", opts[:1] // lab mode: no PKCE
		}
		bs := cs.get(c)
		bs.setPendingLogin(login)
		flowID := bs.ensureFlowID()
		if err := cs.save(c, bs); err != nil {
			return err
		}
		authURL := d.oauth.AuthCodeURL(login.State, opts...)

		// Workshop mode: the two front-channel steps, as the browser sees them.
		front := "front channel (browser)"
		rec.Add(flowID, flow.Exchange{Step: flow.StepConnect, Channel: front,
			Request:  flow.Message{Method: http.MethodPost, URL: baseURL + "/connect", Params: []flow.KV{{Name: "_csrf", Value: csrfToken(c)}}},
			Response: flow.Message{Status: http.StatusSeeOther, Headers: []flow.KV{{Name: "Location", Value: authURL}}},
			Note:     "The app made a new state, nonce and PKCE verifier, and keeps them in your encrypted session cookie."})
		if u, err := url.Parse(authURL); err == nil {
			query := u.RawQuery
			u.RawQuery = ""
			rec.Add(flowID, flow.Exchange{Step: flow.StepAuthorize, Channel: front,
				Request: flow.Message{Method: http.MethodGet, URL: u.String(), Params: flow.ParamsOf(query)},
				Note:    "Your browser carries this request to ImageHost. The PKCE code_verifier stays with the app: only its SHA-256, the code_challenge, travels."})
		}
		return c.Redirect(http.StatusSeeOther, authURL)
	}
}
