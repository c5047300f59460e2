package main

// The implicit grant, demonstrated (lab mode only): RFC 6749 §4.2, which
// RFC 9700 §2.1.2 tells clients not to use. Connect sends the browser to
// ImageHost with response_type=token; ImageHost's redirect brings the access
// token back in the fragment of implicitPath, a page of the app whose own
// script (legacy_implicit.js) reads location.hash and hands the token to the
// app. The page also loads a "third-party" script (legacy_analytics.js),
// which reads location.hash too and sends the address home, here to the
// app's recorder (handleAnalytics), where the inspector shows it.

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
	"oauthdemo/views"
)

// The scripts of the landing page.
var (
	//go:embed legacy_implicit.js
	implicitScript string
	//go:embed legacy_analytics.js
	analyticsScript string
)

// legacyImplicit marks the pending login of the implicit demonstration.
const legacyImplicit = "legacy-implicit"

// maxFragment bounds what the landing page and the analytics script may
// hand in: an answer of ImageHost's is well under 2 KiB.
const maxFragment = 8 << 10

// handleImplicitStart serves POST /lab/legacy/implicit: the browser goes to
// ImageHost's authorization endpoint with response_type=token (RFC 6749
// §4.2.1).
func handleImplicitStart(k legacyKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, flowID, err := recordedStep(c, k.cs, flow.StepImplicit)
		if err != nil {
			return err
		}
		d, err := k.p.discover(ctx)
		if err != nil {
			return imageHostDown(err)
		}
		// state still binds the answer to this browser (RFC 6749 §4.2.1,
		// §10.12). No nonce and no PKCE: no code will be redeemed with a
		// verifier, and no ID token comes.
		login := pendingLogin{State: oauth2.GenerateVerifier(), Started: k.p.now(), Attack: legacyImplicit}
		bs := k.cs.get(c)
		bs.setPendingLogin(login)
		if err := k.cs.save(c, bs); err != nil {
			return err
		}
		params := url.Values{"response_type": {"token"}, "client_id": {k.clientID}, "redirect_uri": {k.baseURL + implicitPath},
			"scope": {legacyScope}, "state": {login.State}}
		k.rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepImplicit, Channel: frontChannel,
			Request: flow.Message{Method: http.MethodGet, URL: d.oauth.Endpoint.AuthURL, Params: flow.ParamsOf(params.Encode())},
			Note: "response_type=token: the app asks ImageHost for the access token itself, in the redirect. No code_challenge and no nonce: " +
				"nothing will tie the token to this login. No client secret either: no code is redeemed, so the app never authenticates."})
		return c.Redirect(http.StatusSeeOther, d.oauth.Endpoint.AuthURL+"?"+params.Encode())
	}
}

// handleImplicitLanding serves GET /lab/legacy/implicit, where ImageHost's
// redirect lands. The server sees no fragment: the page is the same for
// every answer, and its script reads the fragment.
func handleImplicitLanding(k legacyKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		return render(c, http.StatusOK, views.LegacyImplicit(views.LegacyImplicitView{Page: basePage(c, k.cs, "The implicit grant")}))
	}
}

// handleImplicitToken serves POST /lab/legacy/implicit/token: the landing
// page's script hands over the fragment it read. The app checks what it
// can (state, iss), and tries the token at the photos API.
func handleImplicitToken(k legacyKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, flowID, err := recordedStep(c, k.cs, flow.StepImplicit)
		if err != nil {
			return err
		}
		raw := c.FormValue("fragment")
		if len(raw) > maxFragment {
			return redirectWithFlash(c, k.cs, "/flow#legacy", "Implicit grant: that is no answer of ImageHost's, it is too long.")
		}
		ex := k.rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepImplicit, Channel: frontChannel,
			Request: flow.Message{Method: http.MethodGet, URL: k.baseURL + implicitPath + "#" + raw, Params: flow.ParamsOf(raw)},
			Note: "ImageHost's redirect brought your browser to the app's page with its answer in the fragment. The page's own script read " +
				"location.hash and handed it to the app's server. The whole address, token included, is an entry of your browser's history."})
		bs := k.cs.get(c)
		login, inProgress := bs.takePendingLogin(k.p.now())
		if err := k.cs.save(c, bs); err != nil {
			return err
		}
		answer, _ := url.ParseQuery(raw)
		flash, note := k.useImplicitAnswer(ctx, answer, login, inProgress && login.Attack == legacyImplicit)
		ex.Note += " " + note
		k.rec.Replace(ctx, flowID, ex)
		return redirectWithFlash(c, k.cs, "/flow#legacy", "Implicit grant: "+flash)
	}
}

// useImplicitAnswer checks the answer as far as the implicit grant allows,
// tries its token at the photos API and revokes it. It says how that went,
// briefly for the page and in full for the recording.
func (k legacyKit) useImplicitAnswer(ctx context.Context, answer url.Values, login pendingLogin, inProgress bool) (flash, note string) {
	switch {
	case !inProgress || subtle.ConstantTimeCompare([]byte(answer.Get("state")), []byte(login.State)) != 1:
		flash = "refused: this answer does not belong to a login this browser started (state mismatch)."
		return flash, flash
	case answer.Get("error") != "":
		flash = fmt.Sprintf("ImageHost refused: %s (%s).", answer.Get("error"), answer.Get("error_description"))
		return flash, flash
	case answer.Get("iss") != k.p.issuer:
		// RFC 9207 §2.4: the client MUST check iss when the server sends it.
		flash = "refused: the answer names another issuer (mix-up)."
		return flash, flash
	case answer.Get("access_token") == "":
		flash = "ImageHost's answer held no access token."
		return flash, flash
	}
	token := answer.Get("access_token")
	note = "state matched and iss is ImageHost, but nothing ties the token to this login: a token stolen from anyone's login would pass the same checks."
	if photos, err := k.api.List(ctx, staticTokens(token)); err != nil {
		flash = "the token did not work at the photos API: " + err.Error() + "."
	} else {
		flash = fmt.Sprintf("the token works: the photos API listed %d photo(s). The inspector shows what went wrong.", len(photos))
	}
	note += " At the photos API, " + flash
	if answer.Has("refresh_token") {
		note += " ImageHost sent a refresh token, which RFC 6749 §4.2.2 forbids."
	} else {
		note += " No refresh token (RFC 6749 §4.2.2): when it expires, the app must send you through ImageHost again."
	}
	// A public client revokes with its client_id alone (RFC 7009 §2.1).
	if err := revoke(ctx, k.p, k.clientID, "", token, "access_token"); err == nil {
		note += " The app then revoked it, to leave nothing behind; until then the copies in your history and at the analytics script's server worked too."
	}
	return flash, note
}

// handleAnalytics serves GET /lab/legacy/analytics: the "third-party"
// script's beacon, an image request carrying the page's whole address. A
// real one would go to its owner's server; this one goes to the recorder of
// the browser's flow, and, as its owner would, tries the token it found.
func handleAnalytics(k legacyKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Only a page of the app's own, in a browser with a recording: a
		// beacon from another site's page records nothing, and makes the
		// app call nothing.
		flowID := k.cs.get(c).flowID()
		if site := c.Request().Header.Get("Sec-Fetch-Site"); flowID == "" || (site != "" && site != "same-origin") {
			return pixel(c)
		}
		page := c.QueryParam("page")
		if len(page) > maxFragment {
			return pixel(c)
		}
		ctx := flow.WithStep(flow.WithID(c.Request().Context(), flowID), flow.StepImplicit)
		found, _ := url.ParseQuery(pageFragment(page))
		ex := k.rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepImplicit, Channel: "a script of the page, to its own server",
			Request: flow.Message{Method: http.MethodGet, URL: k.baseURL + analyticsPath,
				Params: append([]flow.KV{{Name: "page", Value: page}}, flow.ParamsOf(pageFragment(page))...)},
			Response: flow.Message{Status: http.StatusOK, Headers: []flow.KV{{Name: "Content-Type", Value: "image/gif"}}},
			Note: "A script the page loaded (/lab/legacy/analytics.js, standing for any analytics, ads or chat script, or a compromised " +
				"library) read location.hash and sent the page's address home as a tracking pixel, access token included. " +
				"Here “home” is the app's recorder; on the web it is someone else's server."})
		if token := found.Get("access_token"); token != "" {
			if photos, err := k.api.List(ctx, staticTokens(token)); err != nil {
				ex.Note += " With it, the script's owner called the photos API as you: " + err.Error() + "."
			} else {
				ex.Note += fmt.Sprintf(" With it, the script's owner called the photos API as you: ImageHost listed %d photo(s).", len(photos))
			}
			k.rec.Replace(ctx, flowID, ex)
		}
		return pixel(c)
	}
}

// pageFragment is the fragment of a page's address, as it was written.
func pageFragment(page string) string {
	u, err := url.Parse(page)
	if err != nil {
		return ""
	}
	return u.EscapedFragment()
}

// pixel answers a beacon with a transparent 1×1 GIF, as tracking pixels do.
func pixel(c echo.Context) error {
	var buf bytes.Buffer
	img := image.NewPaletted(image.Rect(0, 0, 1, 1), []color.Color{color.Transparent})
	if err := gif.Encode(&buf, img, nil); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/gif", buf.Bytes())
}

// implicitFindings is the inspector's account of the implicit grant, from
// its recorded exchanges (already masked, unless revealed).
func implicitFindings(exchanges []flow.Exchange) views.LegacyGrant {
	g := views.LegacyGrant{Name: "implicit", Title: "The implicit grant (response_type=token)",
		Deprecated: "RFC 9700 §2.1.2: clients SHOULD NOT use the implicit grant (response type “token”): its tokens leak, can be replayed, " +
			"and cannot be bound to the client. OAuth 2.1 removed it.",
		Instead: "The authorization code grant with PKCE (this app's Connect): the browser carries only a short-lived, single-use code, " +
			"which the app redeems over the back channel with its client secret and the PKCE verifier. No token touches a URL, the " +
			"browser's history or a script of the page; PKCE and the ID token's nonce catch an injected code; a refresh token keeps the " +
			"connection going without another trip through the browser."}
	authorize, authAnchor, started := recorded(exchanges, func(ex flow.Exchange) bool { return ex.Request.Param("response_type") == "token" })
	landing, landAnchor, landed := recorded(exchanges, func(ex flow.Exchange) bool {
		return pathOf(ex.Request.URL) == implicitPath && ex.Request.Param("access_token") != ""
	})
	beacon, beaconAnchor, read := recorded(exchanges, func(ex flow.Exchange) bool {
		return pathOf(ex.Request.URL) == analyticsPath && ex.Request.Param("access_token") != ""
	})
	if landed {
		g.Findings = append(g.Findings,
			views.LegacyFinding{Title: "The access token is in the URL.", Text: "ImageHost's redirect put it in the fragment of the app's page:",
				Value: landing.Request.URL, Anchor: landAnchor},
			views.LegacyFinding{Title: "It is in your browser's history.", Text: "That address, token and all, is an entry of it: " +
				"press Back after leaving the page, or open the history, and it is there for anyone at this browser later, and wherever " +
				"the history is synced. The answer carried:", Value: paramNames(landing.Request), Anchor: landAnchor})
	}
	if read {
		g.Findings = append(g.Findings, views.LegacyFinding{Title: "A script the page loaded read it.",
			Text:  "/lab/legacy/analytics.js read location.hash and sent the address home; its owner used the token. What it sent:",
			Value: beacon.Request.Param("page"), Anchor: beaconAnchor})
	}
	if landed || read {
		answer := landing.Request
		if !landed {
			answer = beacon.Request
		}
		if answer.Param("refresh_token") == "" {
			g.Findings = append(g.Findings, views.LegacyFinding{Title: "No refresh token.",
				Text: "RFC 6749 §4.2.2: the server “MUST NOT issue a refresh token”. When the token expires, the user goes through ImageHost again."})
		}
	}
	if started {
		g.Findings = append(g.Findings,
			views.LegacyFinding{Title: "No client authentication.", Text: "No code is redeemed, so the app never proves who it is: the request held only",
				Value: "client_id=" + authorize.Request.Param("client_id") + ", no secret, no code_challenge", Anchor: authAnchor},
			views.LegacyFinding{Title: "No way to detect injection.", Text: "Nothing in the answer ties the token to this login: there is no code " +
				"to redeem with a PKCE verifier, and no ID token with a nonce. state says only that this browser started a login; a token stolen " +
				"from someone else's login, put in this fragment with this browser's state, passes every check the app can make."})
	}
	return g
}
