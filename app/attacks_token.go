package main

// Attacks at ImageHost's token endpoint: a code redeemed twice or with the
// wrong PKCE verifier, and a refresh token used after its rotation. Each
// runs on a grant of its own, got through the browser (ownLogin), so the
// revocations it provokes never reach the user's connection.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

var replayCode = attack{name: "replay-code", title: "Replay the authorization code",
	explain:   "Get a code through your browser, redeem it as the app would, then redeem it a second time, as someone who copied it from a log would.",
	stoppedBy: "single-use codes (RFC 6749 §4.1.2); ImageHost also revokes the tokens issued for it",
	run:       attackRun.ownLogin, callback: attackRun.replay}

var wrongVerifier = attack{name: "wrong-verifier", title: "Wrong PKCE verifier",
	explain:   "Get a fresh code through the browser, then redeem it with a code_verifier that does not match the challenge, as a thief of the code would.",
	stoppedBy: "PKCE (RFC 7636 §4.6)",
	run:       attackRun.ownLogin, callback: attackRun.redeemWithWrongVerifier}

var reuseRefresh = attack{name: "reuse-refresh", title: "Reuse a rotated refresh token",
	explain:   "Send a refresh token that was already exchanged for its successor, as a thief holding an old copy would.",
	stoppedBy: "refresh token rotation with reuse detection (RFC 9700 §4.14.2): the whole family is revoked",
	run:       attackRun.ownLogin, callback: attackRun.reuseSpentRefreshToken}

// ownGrantNote ends the outcome of a demonstration on a grant of its own.
const ownGrantNote = " Your own connection is untouched: the demonstration ran on a grant of its own."

// replay redeems the code of the demonstration's own login, then again.
func (r attackRun) replay(login pendingLogin, code string) error {
	tok, err := r.redeem(login, code)
	if err != nil {
		return r.done("ImageHost did not redeem the demonstration's own code the first time: " + err.Error())
	}
	resp, err := r.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {r.p.redirectURI}, "code_verifier": {login.Verifier}})
	if err != nil {
		return r.done(unreachable(err))
	}
	outcome := answer(resp)
	// RFC 6749 §4.1.2: the server "SHOULD revoke (when possible) all
	// tokens previously issued based on that authorization code". The
	// access token of the first redemption shows whether it did.
	if resp, err = r.callAPI(http.MethodGet, tok.AccessToken, nil, ""); err == nil {
		outcome += "; then the access token the first redemption got, at the photos API: " + answer(resp)
	}
	return r.done(outcome + "." + ownGrantNote)
}

// redeemWithWrongVerifier redeems the code of the demonstration's own
// login as a thief would: with a verifier that does not match the
// challenge, or with none when lab mode has the app send no PKCE.
func (r attackRun) redeemWithWrongVerifier(login pendingLogin, code string) error {
	outcome := "ImageHost accepted the wrong verifier: the attack succeeded, a stolen code was redeemed"
	var opts []oauth2.AuthCodeOption
	if login.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	} else {
		outcome = "the code had no PKCE challenge (the app's PKCE is switched off), and ImageHost redeemed it without a verifier: the attack succeeded"
	}
	tok, err := r.d.oauth.Exchange(r.p.withHTTP(r.ctx), code, opts...)
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		outcome = fmt.Sprintf("ImageHost answered %d %s (%s)", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
	case err != nil:
		outcome = unreachable(err)
	default:
		r.revokeGrant(tok.RefreshToken) // what the thief got goes again
	}
	return r.done(outcome + ".")
}

// reuseSpentRefreshToken rotates the refresh token of the demonstration's
// own grant once, as the app would, then sends the spent one again.
func (r attackRun) reuseSpentRefreshToken(login pendingLogin, code string) error {
	tok, err := r.redeem(login, code)
	if err != nil {
		return r.done("ImageHost did not redeem the demonstration's own code: " + err.Error())
	}
	spent := tok.RefreshToken
	current, err := r.refresh(spent)
	if err != nil {
		return r.done("the first refresh failed: " + err.Error())
	}
	resp, err := r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {spent}})
	if err != nil {
		return r.done(unreachable(err))
	}
	if resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		r.revokeGrant(current)
		return r.done("ImageHost answered 200 and handed out new tokens for a spent refresh token: the attack succeeded (reuse detection is switched off)")
	}
	outcome := answer(resp)
	// And the refresh token that replaced it, which the rightful client
	// holds, is dead too.
	if resp, err = r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {current}}); err == nil {
		outcome += "; then the refresh token that replaced it: " + answer(resp) + ": the whole family is revoked"
	}
	return r.done(outcome + "." + ownGrantNote)
}

// refresh redeems a refresh token and returns its successor.
func (r attackRun) refresh(refreshToken string) (string, error) {
	resp, err := r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(answer(resp))
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || body.RefreshToken == "" {
		return "", errors.New("ImageHost's answer had no refresh token")
	}
	return body.RefreshToken, nil
}

// revokeGrant revokes a demonstration's grant by its refresh token (RFC
// 7009 §2.1), so that it leaves nothing behind.
func (r attackRun) revokeGrant(refreshToken string) {
	if refreshToken != "" {
		revoke(r.ctx, r.p, r.p.clientID, r.p.clientSecret, refreshToken, "refresh_token")
	}
}
