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

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

var expiredToken = attack{name: "expired-token", title: "API call with an expired token",
	explain:   "Call the photos API with an access token the app held earlier in this flow, once its exp has passed.",
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

// callWithExpiredToken calls the API with the newest access token of this
// flow whose exp has passed: one the app held before a refresh.
func (r attackRun) callWithExpiredToken() error {
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
		return r.done(fmt.Sprintf("no access token of this flow has reached its exp yet: the first to expire does at %s, in %s, and from then on ImageHost refuses it. "+
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
