package main

// Lab mode, for workshops: switches that turn off one of ImageHost's
// defences at a time, so that the matching attack demonstration succeeds,
// and fails again once the switch is back on. Lab mode exists only when
// ImageHost is started with -lab, listens on loopback only, and says so on
// every page. Outside lab mode none of this is reachable.

import (
	"log/slog"
	"net/http"
	"sync"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
)

// labSwitches holds which defences are on. A nil *labSwitches (no lab
// mode) has every defence on.
type labSwitches struct {
	mu       sync.Mutex
	disabled map[string]bool
}

// The defences lab mode can turn off.
const (
	defencePKCE  = "pkce"
	defenceReuse = "refresh-reuse-detection"
	defenceDPoP  = "dpop"
	// Refusing a legacy grant is a defence too: on, as everywhere outside
	// lab mode, the grant is refused; off, the lab's legacy client
	// (lab_client.go), and no other, may use it.
	defenceNoImplicit = "refuse-implicit"
	defenceNoPassword = "refuse-password"
)

var labDefences = []pages.LabSwitch{
	{Name: defencePKCE, Title: "PKCE",
		Explain: "When off, ImageHost neither requires PKCE of public clients nor compares code_verifier with code_challenge. The wrong-verifier attack succeeds: a stolen code works without its verifier."},
	{Name: defenceReuse, Title: "Refresh token reuse detection",
		Explain: "When off, a refresh token that was already exchanged still works and nothing is revoked. The reuse attack succeeds: a thief's old copy keeps getting access tokens."},
	{Name: defenceDPoP, Title: "DPoP enforcement at the photos API and userinfo",
		Explain: "When off, an access token bound to the app's DPoP key (cnf.jkt) is taken as a plain bearer token: no proof, a proof of another key, or a proof used before all get in. The stolen-token attacks succeed: a token read from a log or a database works without the key."},
	{Name: defenceNoImplicit, Title: "Refusing the implicit grant (RFC 9700 §2.1.2)",
		Explain: "When off, the lab's legacy client (" + labLegacyClientID + ", and no other) may ask for response_type=token: ImageHost puts the access token itself in the fragment of its redirect. Connect the legacy way from PhotoEditorApp's lab page, and its flow inspector shows a script of the page reading the token."},
	{Name: defenceNoPassword, Title: "Refusing the password grant (RFC 9700 §2.4)",
		Explain: "When off, the lab's legacy client (" + labLegacyClientID + ", and no other) may send grant_type=password with a user's username and password. PhotoEditorApp's lab page then asks for your ImageHost password, and its flow inspector shows the password passing through the app."},
}

func newLabSwitches() *labSwitches { return &labSwitches{disabled: map[string]bool{}} }

// on reports whether a defence is on.
func (l *labSwitches) on(defence string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.disabled[defence]
}

func (l *labSwitches) set(defence string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.disabled[defence] = !on
}

// localOnly answers only local requests (clientaddr.go): from this
// machine's own browser, to a loopback name, passed on by no proxy.
// Listening on loopback is not enough. A page on another site can rebind
// its own host name to 127.0.0.1 (DNS rebinding), and the browser then lets
// it read what ImageHost answers, the lab's CSRF token included, and post
// a switch; such requests still carry the other site's name as their Host.
// And a reverse proxy on this machine carries requests from anywhere.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLocal(r) {
			errorPage(w, r, http.StatusForbidden, "The lab answers on this machine only",
				"Open it as http://localhost or http://127.0.0.1, on the machine that runs ImageHost.", oauth.CodeAccessDenied)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withLabBanner marks every request's context as lab mode, for the
// banner every page shows.
func withLabBanner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(pages.WithLab(r.Context())))
	})
}

// handleLab serves GET and POST /lab: the switches.
func handleLab(lab *labSwitches, forms formGuard, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || !forms.valid(r) {
				errorPage(w, r, http.StatusForbidden, "The form had expired", "Reload the lab page and try again.", oauth.CodeInvalidRequest)
				return
			}
			for _, d := range labDefences {
				if d.Name == r.PostForm.Get("defence") {
					on := r.PostForm.Get("on") == "true"
					lab.set(d.Name, on)
					log.WarnContext(r.Context(), "lab switch", "defence", d.Name, "on", on)
				}
			}
			http.Redirect(w, r, "/lab", http.StatusSeeOther)
			return
		}
		vm := pages.LabView{CSRF: forms.token(w, r)}
		for _, d := range labDefences {
			d.On = lab.on(d.Name)
			vm.Switches = append(vm.Switches, d)
		}
		render(w, r, http.StatusOK, pages.Lab(vm))
	})
}
