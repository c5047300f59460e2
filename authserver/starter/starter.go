// Package starter writes the starter program the developer console offers
// for an app: one Go file that signs its user in at ImageHost with the
// authorization code flow, as a workshop's first client would, done right
// (random state bound to the browser, PKCE S256, a nonce and the ID token
// verified with go-oidc, the access token refreshed when it expires, the
// photos listed). It is made from a text/template with the app's client_id,
// the issuer and the loopback redirect URI filled in; never its secret,
// which the program reads from IMAGEHOST_CLIENT_SECRET or asks for.
//
// starter_test.go renders the template and compiles the result, so that it
// never rots.
package starter

import (
	_ "embed"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/template"
)

// source is the program's template. Its actions are between [[ and ]],
// since the program itself holds an HTML template with {{ and }}.
//
//go:embed starter.go.tmpl
var source string

// App is what the program is made for.
type App struct {
	Issuer      string // ImageHost's issuer URL
	ClientID    string
	ClientName  string
	RedirectURI string // a loopback URI the app registered: where the program listens
}

// Fits reports whether the program can listen at redirectURI: an http URI
// on a loopback address with a port (RFC 8252 §7.3), with a plain path of
// its own, neither "/" nor "/login", and no query.
func Fits(redirectURI string) bool {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme != "http" || u.Port() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return false
	}
	if u.Path == "" || u.Path == "/" || u.Path == "/login" || u.RawPath != "" {
		return false
	}
	for _, r := range u.Path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-_.", r)) {
			return false
		}
	}
	return true
}

// Write writes the program for app to w. Every value reaches the program as
// a quoted Go string, so none can add code to it; the redirect URI must fit
// (Fits).
func Write(w io.Writer, app App) error {
	if !Fits(app.RedirectURI) {
		return fmt.Errorf("starter: the program cannot listen at %q", app.RedirectURI)
	}
	u, _ := url.Parse(app.RedirectURI)
	program, err := template.New("starter.go").Delims("[[", "]]").Parse(source)
	if err != nil {
		return fmt.Errorf("starter: %w", err)
	}
	return program.Execute(w, struct {
		App
		Listen string
	}{app, u.Host})
}
