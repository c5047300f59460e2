package main

// Attacks on the authorization response: answers pushed into the app's
// callback that it did not ask for, and a redirect_uri off by a character.
// The app's own checks (state, iss, nonce, PKCE) and ImageHost's exact
// redirect URI matching stop them.

import (
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

var forgedState = attack{name: "forged-state", title: "Callback with a forged state",
	explain:   "Send the browser, with no login in progress, to the app's callback with a state the app never issued, as a login-CSRF attacker would.",
	stoppedBy: "the app's state check (RFC 6749 §10.12)",
	run:       attackRun.forgeState}

var codeInjection = attack{name: "code-injection", title: "Inject a code from another login",
	explain:   "Start a login in this browser, then answer it with its own state but a code issued for another login (another nonce, no PKCE challenge), as an attacker injecting a code would.",
	stoppedBy: "PKCE and the nonce check, each on its own (RFC 9700 §4.5.3)",
	run:       attackRun.injectCode, callback: attackRun.injectHarvestedCode}

var mixUp = attack{name: "mix-up", title: "An answer claiming another issuer (mix-up)",
	explain:   "Send the browser to the app's callback with its own state, but an iss naming another authorization server, as in a mix-up attack, where a malicious server saw the request.",
	stoppedBy: "the app's iss check (RFC 9207 §2.4)",
	run:       attackRun.mixUpIssuers}

var redirectURI = attack{name: "redirect-uri", title: "redirect_uri off by one character",
	explain:   "Ask ImageHost's authorization endpoint to send the code to a redirect_uri one character away from the registered one.",
	stoppedBy: "exact redirect URI matching (RFC 9700 §2.1)",
	run:       attackRun.bendRedirectURI}

// forgeState is login CSRF (RFC 6749 §10.12): the attacker's page sends
// this browser, which has no login in progress, to the callback with a code
// and a state it never asked for. The code is made up, or in lab mode the
// attacker's own, got without nonce or PKCE. With no login in progress
// the app has no nonce or verifier to compare: only the state check stops it.
func (r attackRun) forgeState() error {
	bs := r.conns.cs.get(r.c)
	bs.clearPendingLogin()
	if err := r.conns.cs.save(r.c, bs); err != nil {
		return err
	}
	code, err := r.attackersCode("stolen-or-made-up-code", oauth2.GenerateVerifier(), "", "")
	if err != nil {
		return r.attackerFailed(err)
	}
	return r.answerCallback(code, url.Values{"state": {"forged-" + oauth2.GenerateVerifier()[:8]}, "iss": {r.p.issuer}})
}

// injectCode answers this browser's own login, with its own state, but with
// a code of another login: another nonce and no PKCE challenge. PKCE stops
// it (ImageHost refuses a verifier for a code issued without a challenge,
// RFC 9700 §2.1.1), and so does the nonce check, each on its own (RFC 9700
// §4.5.3). In lab mode the code is the attacker's, for their own account;
// otherwise it comes from a second login of this browser at ImageHost,
// which the demonstration starts now (injectHarvestedCode takes it on).
func (r attackRun) injectCode() error {
	if r.attacker == "" {
		return r.authorize(pendingLogin{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(),
			Started: r.p.now(), Attack: r.attack.name}) // no verifier: no PKCE challenge
	}
	code, err := r.attackerCode(oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), "")
	if err != nil {
		return r.attackerFailed(err)
	}
	return r.injectHarvestedCode(pendingLogin{}, code)
}

// injectHarvestedCode starts this browser's login, as Connect would, and
// answers it with code, issued for another login.
func (r attackRun) injectHarvestedCode(_ pendingLogin, code string) error {
	login, err := r.victimLogin()
	if err != nil {
		return err
	}
	return r.answerCallback(code, url.Values{"state": {login.State}, "iss": {r.p.issuer}})
}

// mixUpIssuers answers this browser's own login with an iss naming another
// server. In lab mode the code is the attacker's, got with this login's
// own state, nonce and PKCE challenge (a mix-up attacker sees the request),
// so only the iss check stands in the way.
func (r attackRun) mixUpIssuers() error {
	login, err := r.victimLogin()
	if err != nil {
		return err
	}
	challenge := ""
	if login.Verifier != "" {
		challenge = oauth2.S256ChallengeFromVerifier(login.Verifier)
	}
	code, err := r.attackersCode("made-up-code", login.State, login.Nonce, challenge)
	if err != nil {
		return r.attackerFailed(err)
	}
	return r.answerCallback(code, url.Values{"state": {login.State}, "iss": {"https://attacker.example"}})
}

// bendRedirectURI asks for a code to be sent one character away from the
// registered redirect URI. ImageHost must neither redirect there nor to
// the registered one: it shows an error page (RFC 6749 §4.1.2.1).
func (r attackRun) bendRedirectURI() error {
	q := url.Values{"response_type": {"code"}, "client_id": {r.p.clientID}, "redirect_uri": {r.p.redirectURI + "x"},
		"scope": {"openid"}, "state": {"attack"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}}
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.d.oauth.Endpoint.AuthURL+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	client := *r.p.http
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return r.done(unreachable(err))
	}
	where := "and showed an error page instead of redirecting anywhere"
	if loc := resp.Header.Get("Location"); loc != "" {
		where = "and redirected to " + loc
	}
	return r.done(answer(resp) + " " + where + ".")
}

// victimLogin starts a login in this browser, as Connect would, and
// returns it.
func (r attackRun) victimLogin() (pendingLogin, error) {
	login := newPendingLogin(r.p.now(), requestChecks(r.c))
	bs := r.conns.cs.get(r.c)
	bs.setPendingLogin(login)
	return login, r.conns.cs.save(r.c, bs)
}

// attackersCode is the code an attack pushes into the callback: madeUp,
// or in lab mode a real one the attacker got for their own account with
// the given state, nonce and PKCE challenge.
func (r attackRun) attackersCode(madeUp, state, nonce, challenge string) (string, error) {
	if r.attacker == "" {
		return madeUp, nil
	}
	return r.attackerCode(state, nonce, challenge)
}

// attackerFailed shows the inspector with why the attacker got no code.
func (r attackRun) attackerFailed(err error) error {
	return redirectWithFlash(r.c, r.conns.cs, "/flow", "The attacker could not get a code: "+err.Error())
}

// answerCallback sends this browser to the app's callback with answer and
// code.
func (r attackRun) answerCallback(code string, answer url.Values) error {
	answer.Set("code", code)
	return r.c.Redirect(http.StatusSeeOther, "/callback?"+answer.Encode())
}
