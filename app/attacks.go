package main

// Workshop mode's attack demonstrations. Each sends a deliberately broken
// request to the real ImageHost (or, for state and iss, to the app's own
// callback) and records the real answer next to an explanation. Nothing
// here is a canned message: the inspector shows what ImageHost said.
//
// An attack is one entry of a table: its name, its title, what stops it,
// and the function its button runs. They live in one file per family
// (attacks_callback.go, attacks_token.go, attacks_api.go, attacks_dpop.go),
// and attacks() lists them for the inspector and for the button's route. A
// demonstration that needs a code of its own sends the browser through
// ImageHost's authorization endpoint with a login marked with its name; the
// code comes back to its callback function (attackCallbacks), never into the
// app's own callback, and spends a grant of its own, so that no
// demonstration breaks the user's connection or another demonstration.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
	"oauthdemo/app/imagehost"
	"oauthdemo/views"
)

// attack is one demonstration.
type attack struct {
	name, title string
	explain     string // what it does, as the attacker would
	stoppedBy   string // the check that refuses it, with its RFC
	// run is what its button does.
	run func(r attackRun) error
	// callback, when set, finishes the demonstration with the code ImageHost
	// sent back for the login run started with r.ownLogin.
	callback func(r attackRun, login pendingLogin, code string) error
}

// attacks lists the demonstrations, in teaching order.
func attacks() []attack {
	return []attack{replayCode, forgedState, codeInjection, mixUp, wrongVerifier, redirectURI,
		expiredToken, alteredSignature, readTokenWrite, reuseRefresh,
		stolenTokenNoProof, stolenTokenOtherKey, replayedProof}
}

// attackNamed finds a demonstration by name.
func attackNamed(name string) (attack, bool) {
	for _, a := range attacks() {
		if a.name == name {
			return a, true
		}
	}
	return attack{}, false
}

// attackViews lists the demonstrations for the inspector.
func attackViews() []views.Attack {
	var out []views.Attack
	for _, a := range attacks() {
		out = append(out, views.Attack{Name: a.name, Title: a.title, Explain: a.explain, Prevents: a.stoppedBy})
	}
	return out
}

// attackKit is what the demonstrations work with.
type attackKit struct {
	p         *provider
	conns     connections
	rec       *flow.Recorder
	photosAPI string // the photos API's URL
	attacker  string // the lab's attacker account, "user:password"; "" outside lab mode
	// expiry is the client whose access tokens live a second, for the
	// expired-token demonstration; its id is "" when none is configured.
	expiry clientCredentials
}

// clientCredentials are a client's id and secret (RFC 6749 §2.3.1).
type clientCredentials struct{ id, secret string }

// attackRun is one demonstration under way.
type attackRun struct {
	attackKit
	attack  attack
	c       echo.Context
	ctx     context.Context // the browser's flow, at step "!"
	d       *discovered
	flowID  string
	lastSeq int // the flow's last "!" exchange before this run
}

// handleAttack serves POST /flow/attack/:name.
func handleAttack(kit attackKit) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, ok := attackNamed(c.Param("name"))
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		r, err := kit.start(c, a)
		if err != nil {
			return err
		}
		return a.run(r)
	}
}

// attackCallbacks wraps the app's callback: the answer to a demonstration's
// own login goes to that demonstration; every other answer, to the app.
// The demonstration's login answers only with its own state, as any login
// does (RFC 6749 §10.12).
func attackCallbacks(kit attackKit) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			bs := kit.conns.cs.get(c)
			pending, _ := bs.pendingLogin()
			a, ok := attackNamed(pending.Attack)
			if !ok || a.callback == nil {
				return next(c)
			}
			login, inProgress := bs.takePendingLogin(kit.p.now())
			if err := kit.conns.cs.save(c, bs); err != nil {
				return err
			}
			q := c.QueryParams()
			if !inProgress || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(login.State)) != 1 {
				return connectFailed(http.StatusBadRequest, "This answer does not belong to the connection this browser started (state mismatch).")
			}
			r, err := kit.start(c, a)
			if err != nil {
				return err
			}
			if q.Get("code") == "" {
				return r.done(fmt.Sprintf("ImageHost sent no code for the demonstration's own login (error %q).", q.Get("error")))
			}
			return a.callback(r, login, q.Get("code"))
		}
	}
}

// start prepares a run: the browser's flow id, and ImageHost's endpoints.
func (k attackKit) start(c echo.Context, a attack) (attackRun, error) {
	ctx, flowID, err := recordedStep(c, k.conns.cs, flow.StepAttack)
	if err != nil {
		return attackRun{}, err
	}
	d, err := k.p.discover(ctx)
	if err != nil {
		return attackRun{}, imageHostDown(err)
	}
	last, _ := k.rec.Last(ctx, flowID, flow.StepAttack, nil)
	return attackRun{attackKit: k, attack: a, c: c, ctx: ctx, d: d, flowID: flowID, lastSeq: last.Seq}, nil
}

// done notes the outcome on this run's last recorded exchange and shows
// the inspector.
func (r attackRun) done(outcome string) error {
	note := r.attack.title + ": " + outcome
	if ex, ok := r.rec.Last(r.ctx, r.flowID, flow.StepAttack, func(ex flow.Exchange) bool { return ex.Seq > r.lastSeq }); ok {
		ex.Note = note
		r.rec.Replace(r.ctx, r.flowID, ex)
	} else {
		r.rec.Add(r.ctx, r.flowID, flow.Exchange{Step: flow.StepAttack, Channel: "—", Note: note})
	}
	return redirectWithFlash(r.c, r.conns.cs, "/flow#attack-result", note)
}

// ownLogin sends the browser through ImageHost's authorization endpoint
// for a login of the demonstration's own, as Connect would; ImageHost's
// answer goes to the demonstration's callback.
func (r attackRun) ownLogin() error {
	login := newPendingLogin(r.p.now(), requestChecks(r.c))
	login.Attack = r.attack.name
	return r.authorize(login)
}

// authorize makes login this browser's login under way and sends the
// browser to ImageHost's authorization endpoint with it.
func (r attackRun) authorize(login pendingLogin) error {
	bs := r.conns.cs.get(r.c)
	bs.setPendingLogin(login)
	if err := r.conns.cs.save(r.c, bs); err != nil {
		return err
	}
	return r.c.Redirect(http.StatusSeeOther, r.d.oauth.AuthCodeURL(login.State, login.authCodeOptions()...))
}

// redeem exchanges the code of the demonstration's own login, as the app's
// callback would (RFC 6749 §4.1.3), and returns the tokens of the grant it
// makes.
func (r attackRun) redeem(login pendingLogin, code string) (*oauth2.Token, error) {
	return r.d.oauth.Exchange(r.p.withHTTP(r.ctx), code, login.tokenRequestOptions()...)
}

// unreachable is the outcome when ImageHost did not answer.
func unreachable(err error) string { return "ImageHost could not be reached: " + err.Error() }

// answer summarizes a response of ImageHost: status and error code, from
// the JSON body or the WWW-Authenticate header.
func answer(resp *http.Response) string {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(body, &e)
	if h := resp.Header.Get("WWW-Authenticate"); e.Error == "" && h != "" {
		e.Error, e.Description = imagehost.AuthParam(h, "error"), imagehost.AuthParam(h, "error_description")
	}
	if e.Error == "" && strings.Contains(string(body), "invalid_request") {
		e.Error = "invalid_request"
	}
	s := fmt.Sprintf("ImageHost answered %d", resp.StatusCode)
	if e.Error != "" {
		s += " " + e.Error
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

// postToken sends a request to ImageHost's token endpoint as the app.
func (r attackRun) postToken(form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, r.d.oauth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.p.clientID), url.QueryEscape(r.p.clientSecret))
	return r.p.http.Do(req)
}

// callAPI calls the photos API with a bearer token.
func (r attackRun) callAPI(method, token string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, method, r.photosAPI, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return r.p.http.Do(req)
}
