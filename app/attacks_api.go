package main

// Attacks at ImageHost's photos API: a token past its exp, a token with an
// altered signature, and a token narrowed to photos.read used to write. The
// API checks every token as RFC 9068 §4 and RFC 6750 §3.1 say.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

var expiredToken = attack{name: "expired-token", title: "API call with an expired token",
	explain: "Get an access token from a client of the demo's whose tokens live one second, wait until its exp has passed " +
		"(a second or two: this button takes that long), then call the photos API with it.",
	stoppedBy: "the exp check (RFC 9068 §4)",
	run:       attackRun.callWithExpiredToken}

var alteredSignature = attack{name: "altered-signature", title: "API call with an altered signature",
	explain:   "Change one character of the access token's signature and call the API.",
	stoppedBy: "the signature check (RFC 7515, RFC 9068 §4)",
	run:       attackRun.callWithAlteredSignature}

var readTokenWrite = attack{name: "read-token-write", title: "A photos.read token on a write",
	explain:   "Narrow a token to photos.read (RFC 6749 §6) and use it to upload.",
	stoppedBy: "scope checks (RFC 6750 §3.1 insufficient_scope)",
	run:       attackRun.writeWithReadToken}

// How long the expired-token demonstration waits: past the token's exp
// by expiryMargin (exp is in whole seconds, and ImageHost refuses from exp
// on, by its own clock), and never longer than maxExpiryWait, in case the
// expiry client was given longer-lived tokens.
const (
	expiryMargin  = 250 * time.Millisecond
	maxExpiryWait = 5 * time.Second
)

// callWithExpiredToken calls the API with a token past its exp. The app
// cannot make a token expire sooner (ImageHost signs exp = now + lifetime),
// so it asks a client of the demo's whose tokens live a second (client
// credentials, photos.read only), waits out that second, and calls.
// Without such a client it falls back on a token of this flow's past.
func (r attackRun) callWithExpiredToken() error {
	if r.expiry.id == "" {
		return r.callWithRecordedExpiredToken()
	}
	cc := clientcredentials.Config{ClientID: r.expiry.id, ClientSecret: r.expiry.secret, TokenURL: r.d.oauth.Endpoint.TokenURL, AuthStyle: r.d.oauth.Endpoint.AuthStyle}
	tok, err := cc.Token(r.p.withHTTP(r.ctx))
	var refused *oauth2.RetrieveError
	switch {
	case errors.As(err, &refused):
		return r.done(fmt.Sprintf("ImageHost gave the client %s no token (%d %s): is it seeded, with this secret?",
			r.expiry.id, refused.Response.StatusCode, refused.ErrorCode))
	case err != nil:
		return r.done(unreachable(err))
	}
	_, _, exp := decodeJWT(tok.AccessToken)
	if exp == 0 {
		return r.done("the expiry client's access token has no exp.")
	}
	wait := time.Unix(exp, 0).Add(expiryMargin).Sub(r.p.now())
	if wait > maxExpiryWait {
		return r.done(fmt.Sprintf("the expiry client's token lives until %s, longer than this demonstration waits (%s); its tokens should live a second.",
			time.Unix(exp, 0).Format("15:04:05"), maxExpiryWait))
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
	resp, err := r.callAPI(http.MethodGet, tok.AccessToken, nil, "")
	if err != nil {
		return r.done(unreachable(err))
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	return r.done(fmt.Sprintf("a token of %s that lived a second, sent once its exp (%s) had passed, after a wait of %s: %s; WWW-Authenticate: %s",
		r.expiry.id, time.Unix(exp, 0).Format("15:04:05"), max(wait, 0).Round(100*time.Millisecond), answer(resp), challenge))
}

// callWithRecordedExpiredToken calls the API with the newest access token
// of this flow whose exp has passed: one the app held before a refresh.
func (r attackRun) callWithRecordedExpiredToken() error {
	if _, err := r.conns.connection(r.c); err != nil {
		return r.done("connect first.")
	}
	now := r.p.now()
	var expired string
	var soonest time.Time
	for _, ex := range r.rec.Exchanges(r.ctx, r.flowID) {
		if ex.Step != flow.StepToken && ex.Step != flow.StepRefresh {
			continue
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal([]byte(ex.Response.Body), &body) != nil || body.AccessToken == "" {
			continue
		}
		_, _, exp := decodeJWT(body.AccessToken)
		switch expiry := time.Unix(exp, 0); {
		case exp == 0:
		case !now.Before(expiry):
			expired = body.AccessToken
		case soonest.IsZero() || expiry.Before(soonest):
			soonest = expiry
		}
	}
	if expired == "" {
		if soonest.IsZero() {
			return r.done("this flow has recorded no access token yet: connect first.")
		}
		return r.done(fmt.Sprintf("no access token of this flow has reached its exp yet (no expiry client is configured: PHOTOEDITOR_EXPIRY_CLIENT_ID and _SECRET; the demo sets them): "+
			"the first to expire does at %s, in %s, and from then on ImageHost refuses it. "+
			"Press again after that (the countdown under \"Tokens the app holds\" shows the current one's).",
			soonest.Format("15:04:05"), soonest.Sub(now).Round(time.Second)))
	}
	resp, err := r.callAPI(http.MethodGet, expired, nil, "")
	if err != nil {
		return r.done(unreachable(err))
	}
	return r.done(answer(resp) + ".")
}

// callWithAlteredSignature flips one character in the middle of the access
// token's signature.
func (r attackRun) callWithAlteredSignature() error {
	conn, err := r.conns.connection(r.c)
	if err != nil {
		return r.done("connect first.")
	}
	tok := conn.session.AccessToken
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || i+5 >= len(tok) {
		return r.done("the access token is not a JWT.")
	}
	j := i + (len(tok)-i)/2
	flipped := byte('A')
	if tok[j] == 'A' {
		flipped = 'B'
	}
	resp, err := r.callAPI(http.MethodGet, tok[:j]+string(flipped)+tok[j+1:], nil, "")
	if err != nil {
		return r.done(unreachable(err))
	}
	return r.done(answer(resp) + ".")
}

// errNoRefreshToken: the session holds no refresh token to narrow.
var errNoRefreshToken = errors.New("no refresh token")

// writeWithReadToken narrows the session's access to photos.read with its
// refresh token, keeping the rotated refresh token as the session's new
// one, and uploads with the narrowed access token.
func (r attackRun) writeWithReadToken() error {
	conn, err := r.conns.connection(r.c)
	if err != nil {
		return r.done("connect first.")
	}
	var narrowed struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	refused := ""    // ImageHost's refusal
	var netErr error // no answer from ImageHost
	err = r.conns.keeper.update(r.ctx, conn.session.ID, func(sess *tokenstore.Session) error {
		if sess.RefreshToken == "" {
			return errNoRefreshToken
		}
		resp, err := r.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sess.RefreshToken}, "scope": {"photos.read"}})
		if err != nil {
			netErr = err
			return nil
		}
		if resp.StatusCode != http.StatusOK {
			refused = answer(resp)
			return nil
		}
		defer resp.Body.Close()
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&narrowed)
		if narrowed.RefreshToken != "" {
			sess.RefreshToken = narrowed.RefreshToken // rotated: the old one is spent
			sess.Refreshes++
		}
		return nil
	})
	var rc *reconnectError
	switch {
	case errors.Is(err, errNoRefreshToken):
		return r.done("the app holds no refresh token: connect again.")
	case errors.As(err, &rc):
		return r.done(rc.reason + " Connect again to run this demonstration.")
	case err != nil:
		return err
	case netErr != nil:
		return r.done(unreachable(netErr))
	case refused != "":
		return r.done(fmt.Sprintf("ImageHost refused to narrow the token: %s. The app's grant is no longer good at ImageHost: connect again to run this demonstration.", refused))
	case narrowed.AccessToken == "":
		return r.done("ImageHost's answer had no access token.")
	}
	resp, err := r.callAPI(http.MethodPost, narrowed.AccessToken, strings.NewReader("--x--\r\n"), "multipart/form-data; boundary=x")
	if err != nil {
		return r.done(unreachable(err))
	}
	return r.done(fmt.Sprintf("a token with scope %q, used to upload: %s.", narrowed.Scope, answer(resp)))
}
