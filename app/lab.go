package main

// Lab mode, for workshops: switches that turn off one of the app's own
// checks at a time (state, nonce, iss, PKCE), so that an attack
// demonstration of the inspector succeeds, and fails again once the switch
// is back on. It exists only when the app is started with -lab, listens on
// loopback only, and says so on every page.

import (
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"oauthdemo/views"
)

// The app's defences lab mode can turn off.
const (
	checkState = "state"
	checkNonce = "nonce"
	checkISS   = "iss"
	checkPKCE  = "pkce"
)

var labChecks = []views.LabSwitch{
	{Name: checkState, Title: "state check (RFC 6749 §10.12)",
		Explain: "When off, the callback accepts any state, even with no login in progress: a callback this browser never asked for gets in. Watch “Callback with a forged state” succeed (login CSRF)."},
	{Name: checkNonce, Title: "nonce check (OIDC Core §3.1.3.7)",
		Explain: "When off, the callback accepts an ID token issued for another login. PKCE stops the same attack on its own (RFC 9700 §4.5.3): switch both off to watch “Inject a code from another login” succeed."},
	{Name: checkISS, Title: "iss check (RFC 9207)",
		Explain: "When off, the callback accepts an answer that says it came from another issuer. Watch “An answer claiming another issuer” succeed (mix-up)."},
	{Name: checkPKCE, Title: "PKCE (RFC 7636)",
		Explain: "When off, the app sends no code_challenge and no code_verifier: a code is worth as much to whoever holds it. Watch “Wrong PKCE verifier” succeed; with the nonce check off too, “Inject a code from another login”."},
}

// labSwitches holds which checks are on.
type labSwitches struct {
	mu       sync.Mutex
	disabled map[string]bool
}

func newLabSwitches() *labSwitches { return &labSwitches{disabled: map[string]bool{}} }

func (l *labSwitches) on(check string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.disabled[check]
}

func (l *labSwitches) set(check string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.disabled[check] = !on
}

// checks is the one policy value Connect and the callback consult: which of
// the app's own checks run for this request. Outside lab mode every one
// does; in lab mode it is read from the switches once per request, so a
// switch flipped halfway through a request does not split it.
type checks struct{ state, iss, nonce, pkce bool }

// allChecks is the policy outside lab mode.
var allChecks = checks{state: true, iss: true, nonce: true, pkce: true}

// checksKey is where the request's policy is kept in its echo.Context.
const checksKey = "checks"

// labPolicy fixes each request's checks from the lab switches.
func labPolicy(lab *labSwitches) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(checksKey, checks{state: lab.on(checkState), iss: lab.on(checkISS), nonce: lab.on(checkNonce), pkce: lab.on(checkPKCE)})
			return next(c)
		}
	}
}

// requestChecks is the request's policy: allChecks unless lab mode set one.
func requestChecks(c echo.Context) checks {
	if chk, ok := c.Get(checksKey).(checks); ok {
		return chk
	}
	return allChecks
}

// labBanner marks every page as served in lab mode.
func labBanner(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set("lab", true)
		return next(c)
	}
}

// localOnly answers only a local request (source.go): from this machine,
// naming it by a loopback name or address, passed on by no proxy. The lab's
// page holds a CSRF token, and a DNS-rebinding page that could read it
// could switch a defence off; a reverse proxy on this machine would carry
// anyone's request.
func localOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !isLocal(c) {
			return &pageError{status: http.StatusForbidden, title: "Lab switches are local",
				message: "The lab's switches answer only at this machine's own address, such as http://localhost.", retry: "/"}
		}
		return next(c)
	}
}

// handleLab serves GET and POST /lab; legacy says whether it offers the
// legacy grants' connects (legacy.go).
func handleLab(cs cookieSessions, lab *labSwitches, legacy bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodPost {
			for _, ch := range labChecks {
				if ch.Name == c.FormValue("check") {
					lab.set(ch.Name, c.FormValue("on") == "true")
				}
			}
			return c.Redirect(http.StatusSeeOther, "/lab")
		}
		vm := views.LabView{Page: basePage(c, cs, "Lab switches"), Legacy: legacy}
		for _, ch := range labChecks {
			ch.On = lab.on(ch.Name)
			vm.Switches = append(vm.Switches, ch)
		}
		return render(c, http.StatusOK, views.Lab(vm))
	}
}
