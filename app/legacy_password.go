package main

// The password grant, demonstrated (lab mode only): RFC 6749 §4.3, which
// RFC 9700 §2.4 says MUST NOT be used. The app shows a form of its own that
// asks for the user's ImageHost username and password, and sends them to
// ImageHost's token endpoint for a token. The app's own recording shows the
// password arriving at its server and leaving it again: what every app that
// takes a password could keep.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/views"
)

// Bounds of what the form takes: ImageHost's usernames have at most 64
// characters, and no password needs more than a few hundred.
const (
	maxLegacyUsername = 64
	maxLegacyPassword = 1024
)

// handlePasswordForm serves GET /lab/legacy/password: the form that asks for
// the password.
func handlePasswordForm(k legacyKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		vm := views.LegacyPasswordView{Page: basePage(c, k.cs, "The password grant"), Issuer: k.p.issuer}
		bs := k.cs.get(c)
		vm.Flashes = bs.flashes()
		if err := k.cs.save(c, bs); err != nil {
			return err
		}
		return render(c, http.StatusOK, views.LegacyPassword(vm))
	}
}

// handlePasswordGrant serves POST /lab/legacy/password: the app takes the
// user's password and asks ImageHost for a token with it (RFC 6749 §4.3.2).
func handlePasswordGrant(k legacyKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		username, password := strings.TrimSpace(c.FormValue("username")), c.FormValue("password")
		if username == "" || password == "" || len(username) > maxLegacyUsername || len(password) > maxLegacyPassword {
			return redirectWithFlash(c, k.cs, passwordPath, "Type an ImageHost username and password.")
		}
		ctx, flowID, err := recordedStep(c, k.cs, flow.StepPassword)
		if err != nil {
			return err
		}
		// What the app's server received, as it arrived. The recorder keeps
		// it as it keeps every exchange: the inspector masks the password
		// until Reveal (this machine only); the exports always mask it.
		k.rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepPassword, Channel: frontChannel,
			Request: flow.Message{Method: http.MethodPost, URL: k.baseURL + passwordPath,
				Params: []flow.KV{{Name: "username", Value: username}, {Name: "password", Value: password}, {Name: "_csrf", Value: csrfToken(c)}}},
			Response: flow.Message{Status: http.StatusSeeOther},
			Note: "Your ImageHost password reached PhotoEditorApp's server in plain text, and the app's own recording kept it: masked on " +
				"this page until you press Reveal (this machine only), masked in the Markdown and HAR exports. An app you give your " +
				"password to can keep it, log it, and sign in as you anywhere; ImageHost cannot tell it from you."})
		d, err := k.p.discover(ctx)
		if err != nil {
			return imageHostDown(err)
		}
		// RFC 6749 §4.3.2: grant_type, username, password and scope; a
		// public client names itself with client_id (§3.2.1).
		form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password},
			"client_id": {k.clientID}, "scope": {legacyScope}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.oauth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := k.p.http.Do(req)
		if err != nil {
			return redirectWithFlash(c, k.cs, "/flow#legacy", "Password grant: "+unreachable(err))
		}
		if resp.StatusCode != http.StatusOK {
			return redirectWithFlash(c, k.cs, "/flow#legacy", "Password grant: "+answer(resp)+".")
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&tok)
		resp.Body.Close()
		if err != nil || tok.AccessToken == "" {
			return redirectWithFlash(c, k.cs, "/flow#legacy", "Password grant: ImageHost's answer held no access token.")
		}
		note := fmt.Sprintf("ImageHost gave the app a token for %q straight away: you saw no consent screen, and it could ask for no second factor.", tok.Scope)
		if ex, ok := k.rec.Last(ctx, flowID, flow.StepPassword, func(ex flow.Exchange) bool { return ex.Request.URL == d.oauth.Endpoint.TokenURL }); ok {
			ex.Note = "The app sent your username and password on to ImageHost's token endpoint. " + note
			k.rec.Replace(ctx, flowID, ex)
		}
		var flash string
		if photos, err := k.api.List(ctx, staticTokens(tok.AccessToken)); err != nil {
			flash = "the token did not work at the photos API: " + err.Error() + "."
		} else {
			flash = fmt.Sprintf("the token works: the photos API listed %d photo(s). The inspector shows what went wrong.", len(photos))
		}
		// The token goes again; the password the app received, it keeps.
		revoke(ctx, k.p, k.clientID, "", tok.AccessToken, "access_token")
		return redirectWithFlash(c, k.cs, "/flow#legacy", "Password grant: "+flash)
	}
}

// passwordFindings is the inspector's account of the password grant, from
// its recorded exchanges (already masked, unless revealed).
func passwordFindings(exchanges []flow.Exchange) views.LegacyGrant {
	g := views.LegacyGrant{Name: "password", Title: "The password grant (grant_type=password)",
		Deprecated: "RFC 9700 §2.4: “The resource owner password credentials grant MUST NOT be used. This grant type insecurely exposes " +
			"the credentials of the resource owner to the client.” OAuth 2.1 removed it.",
		Instead: "The authorization code grant (this app's Connect): you type your password only at ImageHost, on ImageHost's own page, " +
			"which can ask for a second factor and shows you what the app asks for before you allow it. The app gets a code, then a " +
			"token limited to what you allowed, and never your password."}
	if typed, anchor, ok := recorded(exchanges, func(ex flow.Exchange) bool {
		return ex.Request.Method == http.MethodPost && pathOf(ex.Request.URL) == passwordPath
	}); ok {
		g.Findings = append(g.Findings, views.LegacyFinding{Title: "Your password passed through the app's server.",
			Text: "The app's own recording has it, from " + typed.Request.Param("username") + "'s form (masked here and in the exports; Reveal, " +
				"on this machine only, shows it):", Value: typed.Request.Param("password"), Anchor: anchor})
	}
	if sent, anchor, ok := recorded(exchanges, func(ex flow.Exchange) bool { return ex.Request.Param("grant_type") == "password" }); ok {
		g.Findings = append(g.Findings, views.LegacyFinding{Title: "The app sent it on to ImageHost.",
			Text: "Its token request held the password, with the app's client_id and no secret:", Value: sent.Request.Param("password"), Anchor: anchor})
		if sent.Response.Status == http.StatusOK {
			g.Findings = append(g.Findings,
				views.LegacyFinding{Title: "No consent screen.", Text: "ImageHost answered the app directly with a token: the token " +
					"endpoint has no browser in which to ask you what the app may do.", Anchor: anchor},
				views.LegacyFinding{Title: "No MFA possible.", Text: "ImageHost hears only what the app forwards. A second factor, a " +
					"security key (WebAuthn, bound to ImageHost's own origin) or a sign-in with another provider cannot be asked for."})
		}
	}
	return g
}
