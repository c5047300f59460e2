package main

// The lab's attacker: a person with an ImageHost account of their own
// (PHOTOEDITOR_LAB_ATTACKER), who signs in there through its forms, as a
// browser would, to get a real code for their own account.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ImageHost's login and consent forms, as the attacker fills them in: the
// hidden fields both carry, and the fields the attacker types or clicks.
// They are ImageHost's names (its pages), not the app's: should ImageHost
// rename one, the attacker's sign-in stops here, and the lab test says so.
const (
	formCSRFToken = "csrf_token" // ImageHost's CSRF token, in both forms
	formRequest   = "request"    // the pending authorization request, in both forms
	formUsername  = "username"
	formPassword  = "password"
	formDecision  = "decision" // the consent form's button
	formAllow     = "allow"
)

var hiddenFormFields = regexp.MustCompile(`name="(` + formCSRFToken + `|` + formRequest + `)" value="([^"]*)"`)

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
	hidden := func(page string) url.Values {
		v := url.Values{}
		for _, m := range hiddenFormFields.FindAllStringSubmatch(page, -1) {
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
	f := hidden(page)
	f.Set(formUsername, user)
	f.Set(formPassword, pw)
	if loc, _, err = step(http.MethodPost, origin+"/login", f); err != nil {
		return "", err
	}
	if strings.HasPrefix(loc, "/consent") {
		if _, page, err = step(http.MethodGet, origin+loc, nil); err != nil {
			return "", err
		}
		f = hidden(page)
		f.Set(formDecision, formAllow)
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
