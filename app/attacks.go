package main

// Workshop mode's attack demonstrations. Each sends a deliberately broken
// request to the real ImageHost (or, for state, to the app's own callback)
// and records the real answer next to an explanation. Nothing here is a
// canned message: the inspector shows what ImageHost said.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
	"oauthdemo/app/imagehost"
	"oauthdemo/views"
)

// attack is one demonstration.
type attack struct {
	Name, Title, Explain string
	// Prevents names the check that should refuse it.
	Prevents string
}

// attacks is the list the inspector offers, in teaching order.
var attacks = []attack{
	{"replay-code", "Replay the authorization code",
		"Redeem this flow's code a second time, as someone who copied it from a log would.",
		"single-use codes (RFC 6749 §4.1.2); ImageHost also revokes the tokens issued for it"},
	{"forged-state", "Callback with a forged state",
		"Send the browser, with no login in progress, to the app's callback with a state the app never issued, as a login-CSRF attacker would.",
		"the app's state check (RFC 6749 §10.12)"},
	{"code-injection", "Inject a code from another login",
		"Start a login in this browser, then answer it with its own state but a code issued for another login (another nonce, no PKCE challenge), as an attacker injecting a code would.",
		"PKCE and the nonce check, each on its own (RFC 9700 §4.5.3)"},
	{"mix-up", "An answer claiming another issuer (mix-up)",
		"Send the browser to the app's callback with its own state, but an iss naming another authorization server, as in a mix-up attack, where a malicious server saw the request.",
		"the app's iss check (RFC 9207 §2.4)"},
	{"wrong-verifier", "Wrong PKCE verifier",
		"Get a fresh code through the browser, then redeem it with a code_verifier that does not match the challenge, as a thief of the code would.",
		"PKCE (RFC 7636 §4.6)"},
	{"redirect-uri", "redirect_uri off by one character",
		"Ask ImageHost's authorization endpoint to send the code to a redirect_uri one character away from the registered one.",
		"exact redirect URI matching (RFC 9700 §2.1)"},
	{"expired-token", "API call with an expired token",
		"Call the photos API with an access token the app held before its last refresh.",
		"the exp check (RFC 9068 §4)"},
	{"altered-signature", "API call with an altered signature",
		"Change one character of the access token's signature and call the API.",
		"the signature check (RFC 7515, RFC 9068 §4)"},
	{"read-token-write", "A photos.read token on a write",
		"Narrow a token to photos.read (RFC 6749 §6) and use it to upload.",
		"scope checks (RFC 6750 §3.1 insufficient_scope)"},
	{"reuse-refresh", "Reuse a rotated refresh token",
		"Send a refresh token that was already exchanged for its successor, as a thief holding an old copy would.",
		"refresh token rotation with reuse detection (RFC 9700 §4.14.2): the whole family is revoked"},
}

// attackViews lists the demonstrations for the inspector.
func attackViews() []views.Attack {
	var out []views.Attack
	for _, a := range attacks {
		out = append(out, views.Attack{Name: a.Name, Title: a.Title, Explain: a.Explain, Prevents: a.Prevents})
	}
	return out
}

// handleAttack serves POST /flow/attack/:name. In lab mode, with an
// attacker account configured, the login attacks use a real code that the
// attacker got for their own account.
func handleAttack(p *provider, g gallery, rec *flow.Recorder, lab *labSwitches, attacker string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var a attack
		for _, x := range attacks {
			if x.Name == c.Param("name") {
				a = x
			}
		}
		if a.Name == "" {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		bs := g.cs.get(c)
		flowID := bs.ensureFlowID()
		if err := g.cs.save(c, bs); err != nil {
			return err
		}
		ctx := flow.WithStep(flow.WithID(c.Request().Context(), flowID), flow.StepAttack)
		d, err := p.discover(ctx)
		if err != nil {
			return imageHostDown(err)
		}
		r := attackRun{c: c, ctx: ctx, p: p, d: d, g: g, rec: rec, flowID: flowID, attack: a, lab: lab}
		if lab != nil {
			r.attacker = attacker
		}
		switch a.Name {
		case "forged-state":
			return r.forgedState()
		case "code-injection":
			return r.codeInjection()
		case "mix-up":
			return r.mixUp()
		case "wrong-verifier":
			return r.wrongVerifier()
		}
		var outcome string
		switch a.Name {
		case "replay-code":
			outcome = r.replayCode()
		case "redirect-uri":
			outcome = r.redirectURI()
		case "expired-token":
			outcome = r.expiredToken()
		case "altered-signature":
			outcome = r.alteredSignature()
		case "read-token-write":
			outcome = r.readTokenWrite()
		case "reuse-refresh":
			outcome = r.reuseRefresh()
		}
		return r.done(outcome)
	}
}

// attackRun is one demonstration under way.
type attackRun struct {
	c        echo.Context
	ctx      context.Context
	p        *provider
	d        *discovered
	g        gallery
	rec      *flow.Recorder
	flowID   string
	attack   attack
	lab      *labSwitches
	attacker string // "user:password" of the lab's attacker; "" outside lab mode
}

// done notes the outcome on the last recorded exchange and shows the inspector.
func (r attackRun) done(outcome string) error {
	if ex, ok := r.rec.Last(r.flowID, flow.StepAttack, nil); ok {
		r.rec.Update(r.flowID, ex.Seq, func(ex *flow.Exchange) { ex.Note = r.attack.Title + ": " + outcome })
	} else {
		r.rec.Add(r.flowID, flow.Exchange{Step: flow.StepAttack, Channel: "—", Note: r.attack.Title + ": " + outcome})
	}
	return redirectWithFlash(r.c, r.g.cs, "/flow#attack-result", r.attack.Title+": "+outcome)
}

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

func (r attackRun) postToken(form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, r.d.oauth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.p.clientID), url.QueryEscape(r.p.clientSecret))
	return r.p.http.Do(req)
}

func (r attackRun) callAPI(method, token string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, method, r.g.api.BaseURL, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return r.p.http.Do(req)
}

func (r attackRun) replayCode() string {
	ex, ok := r.rec.Last(r.flowID, flow.StepToken, func(ex flow.Exchange) bool { return ex.Request.Param("code") != "" })
	if !ok {
		return "no code exchange recorded in this flow yet: connect first."
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {ex.Request.Param("code")},
		"redirect_uri": {ex.Request.Param("redirect_uri")}, "code_verifier": {ex.Request.Param("code_verifier")}}
	resp, err := r.postToken(form)
	if err != nil {
		return "ImageHost could not be reached: " + err.Error()
	}
	return answer(resp) + ". The tokens issued for that code are revoked too: the app will ask you to connect again."
}

func (r attackRun) redirectURI() string {
	q := url.Values{"response_type": {"code"}, "client_id": {r.p.clientID}, "redirect_uri": {r.p.redirectURI + "x"},
		"scope": {"openid"}, "state": {"attack"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}}
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.d.oauth.Endpoint.AuthURL+"?"+q.Encode(), nil)
	if err != nil {
		return err.Error()
	}
	client := *r.p.http
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return "ImageHost could not be reached: " + err.Error()
	}
	where := "and showed an error page instead of redirecting anywhere"
	if loc := resp.Header.Get("Location"); loc != "" {
		where = "and redirected to " + loc
	}
	return answer(resp) + " " + where + "."
}

// previousAccessToken is the newest access token the app held before its
// current one, from the recorded token responses.
func (r attackRun) previousAccessToken(current string) string {
	var tokens []string
	for _, ex := range r.rec.Exchanges(r.flowID) {
		if ex.Step != flow.StepToken && ex.Step != flow.StepRefresh {
			continue
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal([]byte(ex.Response.Body), &body) == nil && body.AccessToken != "" && body.AccessToken != current {
			tokens = append(tokens, body.AccessToken)
		}
	}
	if len(tokens) == 0 {
		return ""
	}
	return tokens[len(tokens)-1]
}

func (r attackRun) expiredToken() string {
	conn, err := r.g.connection(r.c)
	if err != nil {
		return "connect first."
	}
	old := r.previousAccessToken(conn.session.AccessToken)
	if old == "" {
		return "the app has not refreshed its access token yet, so it holds no older one. Click \"Expire my access token now\", open your photos, and try again."
	}
	resp, err := r.callAPI(http.MethodGet, old, nil, "")
	if err != nil {
		return "ImageHost could not be reached: " + err.Error()
	}
	if resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		return "ImageHost answered 200: that older token has not reached its own exp yet (the app only treated it as expired). Try again once it has."
	}
	return answer(resp) + "."
}

func (r attackRun) alteredSignature() string {
	conn, err := r.g.connection(r.c)
	if err != nil {
		return "connect first."
	}
	tok := conn.session.AccessToken
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || i+5 >= len(tok) {
		return "the access token is not a JWT."
	}
	// Flip one character in the middle of the signature.
	j := i + (len(tok)-i)/2
	flipped := byte('A')
	if tok[j] == 'A' {
		flipped = 'B'
	}
	resp, err := r.callAPI(http.MethodGet, tok[:j]+string(flipped)+tok[j+1:], nil, "")
	if err != nil {
		return "ImageHost could not be reached: " + err.Error()
	}
	return answer(resp) + "."
}

func (r attackRun) readTokenWrite() string {
	conn, err := r.g.connection(r.c)
	if err != nil {
		return "connect first."
	}
	// Narrow a token to photos.read with the refresh token, keeping the
	// rotated refresh token as the session's new one.
	mu := r.g.keeper.lock(conn.session.ID)
	mu.Lock()
	sess, err := r.g.store.Get(r.ctx, conn.session.ID)
	if err != nil || sess.RefreshToken == "" {
		mu.Unlock()
		return "the app holds no refresh token: connect again."
	}
	resp, err := r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sess.RefreshToken}, "scope": {"photos.read"}})
	if err != nil {
		mu.Unlock()
		return "ImageHost could not be reached: " + err.Error()
	}
	var narrowed struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	json.NewDecoder(resp.Body).Decode(&narrowed)
	resp.Body.Close()
	if narrowed.RefreshToken != "" {
		sess.RefreshToken = narrowed.RefreshToken
		sess.Refreshes++
		r.g.store.Save(r.ctx, sess)
	}
	mu.Unlock()
	if narrowed.AccessToken == "" {
		return fmt.Sprintf("ImageHost refused to narrow the token (%d).", resp.StatusCode)
	}
	resp, err = r.callAPI(http.MethodPost, narrowed.AccessToken, strings.NewReader("--x--\r\n"), "multipart/form-data; boundary=x")
	if err != nil {
		return "ImageHost could not be reached: " + err.Error()
	}
	return fmt.Sprintf("a token with scope %q, used to upload: %s.", narrowed.Scope, answer(resp))
}

func (r attackRun) reuseRefresh() string {
	conn, err := r.g.connection(r.c)
	if err != nil {
		return "connect first."
	}
	spent, ok := r.rec.Last(r.flowID, flow.StepRefresh, func(ex flow.Exchange) bool {
		return ex.Response.Status == http.StatusOK && ex.Request.Param("refresh_token") != ""
	})
	if !ok {
		// Rotate once, so that a spent refresh token exists.
		if _, err := conn.tokens.Refresh(flow.WithStep(r.ctx, flow.StepRefresh), conn.session.AccessToken); err != nil {
			return "the app could not refresh: " + err.Error()
		}
		if spent, ok = r.rec.Last(r.flowID, flow.StepRefresh, func(ex flow.Exchange) bool { return ex.Response.Status == http.StatusOK }); !ok {
			return "no refresh was recorded."
		}
	}
	resp, err := r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {spent.Request.Param("refresh_token")}})
	if err != nil {
		return "ImageHost could not be reached: " + err.Error()
	}
	if resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		return "ImageHost answered 200 and handed out new tokens for a spent refresh token: the attack succeeded (reuse detection is switched off)"
	}
	first := answer(resp)
	// And the newest refresh token, which the app still holds, is dead too.
	sess, err := r.g.store.Get(r.ctx, conn.session.ID)
	if err != nil || sess.RefreshToken == "" {
		return first + "."
	}
	resp, err = r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sess.RefreshToken}})
	if err != nil {
		return first + "."
	}
	return first + "; then the app's current refresh token: " + answer(resp) + ": the whole family is revoked, so the app will ask you to connect again."
}

// victimLogin starts a login in this browser, as Connect would, and
// returns it.
func (r attackRun) victimLogin(attack string) (pendingLogin, error) {
	login := pendingLogin{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(),
		Verifier: oauth2.GenerateVerifier(), Started: r.p.now(), Attack: attack}
	if !r.lab.on(checkPKCE) {
		login.Verifier = ""
	}
	bs := r.g.cs.get(r.c)
	bs.setPendingLogin(login)
	return login, r.g.cs.save(r.c, bs)
}

// forgedState is login CSRF (RFC 6749 §10.12): the attacker's page sends
// this browser, which has no login in progress, to the callback with a code
// and a state it never asked for. The code is made up, or in lab mode the
// attacker's own, got without nonce or PKCE. With no login in progress
// the app has no nonce or verifier to compare: only the state check stops it.
func (r attackRun) forgedState() error {
	bs := r.g.cs.get(r.c)
	bs.clearPendingLogin()
	if err := r.g.cs.save(r.c, bs); err != nil {
		return err
	}
	return r.answerCallback("stolen-or-made-up-code", oauth2.GenerateVerifier(), "", "",
		url.Values{"state": {"forged-" + oauth2.GenerateVerifier()[:8]}, "iss": {r.p.issuer}})
}

// codeInjection answers this browser's own login, with its own state, but
// with a code the attacker got for their own account in another login:
// another nonce and no PKCE challenge. PKCE stops it (ImageHost refuses a
// verifier for a code issued without a challenge, RFC 9700 §2.1.1), and so
// does the nonce check, each on its own (RFC 9700 §4.5.3).
func (r attackRun) codeInjection() error {
	login, err := r.victimLogin("")
	if err != nil {
		return err
	}
	return r.answerCallback("injected-code", oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), "",
		url.Values{"state": {login.State}, "iss": {r.p.issuer}})
}

// mixUp answers this browser's own login with an iss naming another
// server. In lab mode the code is the attacker's, got with this login's
// own state, nonce and PKCE challenge (a mix-up attacker sees the request),
// so only the iss check stands in the way.
func (r attackRun) mixUp() error {
	login, err := r.victimLogin("")
	if err != nil {
		return err
	}
	challenge := ""
	if login.Verifier != "" {
		challenge = oauth2.S256ChallengeFromVerifier(login.Verifier)
	}
	return r.answerCallback("made-up-code", login.State, login.Nonce, challenge,
		url.Values{"state": {login.State}, "iss": {"https://attacker.example"}})
}

// answerCallback sends this browser to the app's callback with answer and a
// code: madeUp, or in lab mode a real one the attacker got for their own
// account with the given state, nonce and PKCE challenge.
func (r attackRun) answerCallback(madeUp, state, nonce, challenge string, answer url.Values) error {
	code := madeUp
	if r.attacker != "" {
		var err error
		if code, err = r.attackerCode(state, nonce, challenge); err != nil {
			return redirectWithFlash(r.c, r.g.cs, "/flow", "The attacker could not get a code: "+err.Error())
		}
	}
	answer.Set("code", code)
	return r.c.Redirect(http.StatusSeeOther, "/callback?"+answer.Encode())
}

var attackerFields = regexp.MustCompile(`name="(csrf_token|request)" value="([^"]*)"`)

// attackerCode signs in at ImageHost as the lab's attacker, through its
// login and consent forms like a browser, and returns a code issued for the
// attacker's account to this app's redirect URI, without redeeming it.
func (r attackRun) attackerCode(state, nonce, challenge string) (string, error) {
	user, pw, _ := strings.Cut(r.attacker, ":")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: r.p.http.Transport, Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {r.p.clientID}, "redirect_uri": {r.p.redirectURI},
		"scope": {strings.Join(scopes, " ")}, "state": {state}}
	if nonce != "" {
		q.Set("nonce", nonce)
	}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	origin := r.p.issuer
	step := func(method, u string, form url.Values) (string, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(r.ctx, method, u, body)
		if err != nil {
			return "", "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.Header.Get("Location"), string(page), nil
	}
	fields := func(page string) url.Values {
		v := url.Values{}
		for _, m := range attackerFields.FindAllStringSubmatch(page, -1) {
			v.Set(m[1], m[2])
		}
		return v
	}
	loc, _, err := step(http.MethodGet, r.d.oauth.Endpoint.AuthURL+"?"+q.Encode(), nil)
	if err != nil || !strings.HasPrefix(loc, "/login") {
		return "", fmt.Errorf("authorize answered %q %v", loc, err)
	}
	_, page, err := step(http.MethodGet, origin+loc, nil)
	if err != nil {
		return "", err
	}
	f := fields(page)
	f.Set("username", user)
	f.Set("password", pw)
	if loc, _, err = step(http.MethodPost, origin+"/login", f); err != nil {
		return "", err
	}
	if strings.HasPrefix(loc, "/consent") {
		if _, page, err = step(http.MethodGet, origin+loc, nil); err != nil {
			return "", err
		}
		f = fields(page)
		f.Set("decision", "allow")
		if loc, _, err = step(http.MethodPost, origin+"/consent", f); err != nil {
			return "", err
		}
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("code") == "" {
		return "", fmt.Errorf("no code for the attacker (ended at %q)", loc)
	}
	return u.Query().Get("code"), nil
}

// wrongVerifier starts a real authorization through the browser, marked so
// that the callback redeems the code as a thief would: with a wrong
// verifier, or with none when lab mode has the app send no PKCE.
func (r attackRun) wrongVerifier() error {
	login, err := r.victimLogin("wrong-verifier")
	if err != nil {
		return err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(login.Nonce)}
	if login.Verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(login.Verifier))
	}
	return r.c.Redirect(http.StatusSeeOther, r.d.oauth.AuthCodeURL(login.State, opts...))
}

// wrongVerifierAttack redeems a fresh code with a verifier that does not
// match the challenge sent with it; the callback calls it for the
// wrong-verifier demonstration.
func wrongVerifierAttack(c echo.Context, p *provider, d *discovered, cs cookieSessions, rec *flow.Recorder, flowID, code string, withPKCE bool) error {
	ctx := flow.WithStep(flow.WithID(c.Request().Context(), flowID), flow.StepAttack)
	var opts []oauth2.AuthCodeOption
	outcome := "ImageHost accepted the wrong verifier: the attack succeeded, a stolen code was redeemed"
	if withPKCE {
		opts = append(opts, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	} else {
		outcome = "the code had no PKCE challenge (the app's PKCE is switched off), and ImageHost redeemed it without a verifier: the attack succeeded"
	}
	_, err := d.oauth.Exchange(p.withHTTP(ctx), code, opts...)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		outcome = fmt.Sprintf("ImageHost answered %d %s (%s)", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
	} else if err != nil {
		outcome = "ImageHost could not be reached: " + err.Error()
	}
	title := "Wrong PKCE verifier"
	if ex, ok := rec.Last(flowID, flow.StepAttack, nil); ok {
		rec.Update(flowID, ex.Seq, func(ex *flow.Exchange) { ex.Note = title + ": " + outcome + "." })
	}
	return redirectWithFlash(c, cs, "/flow", title+": "+outcome+".")
}
