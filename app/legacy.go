package main

// Lab mode's legacy connects: the two grants OAuth 2.1 removed, run for real
// against ImageHost's lab client (ImageHost answers them in lab mode only,
// once its own switches allow), so that the room sees what goes wrong
// rather than reads it:
//
//   - the implicit grant (legacy_implicit.go): the access token arrives in
//     the fragment of a page's address, where the browser's history and
//     every script of the page can read it; a "third-party" script does;
//   - the password grant (legacy_password.go): the app takes the user's
//     ImageHost password and passes it on; its own recording shows it.
//
// Neither touches the app's own connection: Connect, the callback and the
// tokens the app keeps know nothing of them. Each records its exchanges at
// a step of its own, and legacyGrants turns them into the inspector's
// account of what went wrong, with the section of RFC 9700 that deprecates
// the grant and what the modern flow does instead.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/app/imagehost"
	"oauthdemo/views"
)

// The paths of the demonstrations, as routes.go lists them.
const (
	implicitPath  = "/lab/legacy/implicit" // also the lab client's redirect URI at ImageHost
	analyticsPath = "/lab/legacy/analytics"
	passwordPath  = "/lab/legacy/password"
)

// legacyScope is what the lab client asks for: enough to show that the
// token works.
const legacyScope = "photos.read"

// legacyKit is what the legacy demonstrations work with.
type legacyKit struct {
	p        *provider
	cs       cookieSessions
	rec      *flow.Recorder
	api      photoLister
	clientID string // ImageHost's lab client, public
	baseURL  string
}

// photoLister is what the demonstrations ask of the photos API: whether a
// token they got works.
type photoLister interface {
	List(ctx context.Context, tokens imagehost.Tokens) ([]imagehost.Photo, error)
}

// handleScript serves one of the demonstrations' scripts. The pages' CSP
// allows scripts from the app's own origin only, so they are files.
func handleScript(js string) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", []byte(js))
	}
}

// pathOf is the path of a recorded URL, "" if it is none.
func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// legacyGrants is the inspector's account of the legacy grants this
// browser ran, from the recorded exchanges as the inspector shows them
// (show masks them, unless revealed): for each grant that ran, what went
// wrong, with the recorded values that show it.
func legacyGrants(exchanges []flow.Exchange, show func(flow.Exchange) flow.Exchange) []views.LegacyGrant {
	var implicit, password []flow.Exchange
	for _, ex := range exchanges {
		switch ex.Step {
		case flow.StepImplicit:
			implicit = append(implicit, show(ex))
		case flow.StepPassword:
			password = append(password, show(ex))
		}
	}
	var out []views.LegacyGrant
	if len(implicit) > 0 {
		out = append(out, implicitFindings(implicit))
	}
	if len(password) > 0 {
		out = append(out, passwordFindings(password))
	}
	return out
}

// recorded finds the last of exchanges that matches ok, and its anchor.
func recorded(exchanges []flow.Exchange, ok func(flow.Exchange) bool) (flow.Exchange, string, bool) {
	for i := len(exchanges) - 1; i >= 0; i-- {
		if ok(exchanges[i]) {
			return exchanges[i], anchorOf(exchanges[i]), true
		}
	}
	return flow.Exchange{}, "", false
}

// anchorOf is an exchange's anchor on the inspector's page.
func anchorOf(ex flow.Exchange) string { return fmt.Sprintf("x%d", ex.Seq) }

// paramNames lists a message's parameter names.
func paramNames(m flow.Message) string {
	var names []string
	for _, kv := range m.Params {
		names = append(names, kv.Name)
	}
	return strings.Join(names, ", ")
}
