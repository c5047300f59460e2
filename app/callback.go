package main

// Steps 4-7 of the flow: ImageHost sends the browser back with a code; the
// app checks that this response answers its own request, redeems the code
// over the back channel, and verifies the ID token.

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

// newSessions is what the callback does with the session store.
type newSessions interface {
	Create(ctx context.Context, sess tokenstore.Session) error
	Delete(ctx context.Context, id string) error
}

// handleCallback serves GET /callback. The browser's pending login is used
// up whatever the answer; completeLogin decides; the new server-side
// session replaces the browser's old one.
func handleCallback(p *provider, cs cookieSessions, sessions newSessions, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		bs := cs.get(c)
		login, inProgress := bs.takePendingLogin(p.now())
		if err := cs.save(c, bs); err != nil {
			return err
		}
		sess, err := completeLogin(ctx, p, requestChecks(c), login, inProgress, c.QueryParams(), log)
		if err != nil {
			return err
		}
		// A new server-side session with a new id: whatever session id the
		// browser had before is not the one it has now (session fixation).
		if err := sessions.Create(ctx, sess); err != nil {
			return err
		}
		if old := bs.sessionID(); old != "" {
			sessions.Delete(ctx, old)
		}
		bs.setSessionID(sess.ID)
		bs.addFlash("Connected to ImageHost as " + sess.Name + ".")
		if err := cs.save(c, bs); err != nil {
			return err
		}
		log.InfoContext(ctx, "connected", "sub", sess.Subject)
		return c.Redirect(http.StatusSeeOther, "/photos")
	}
}

// completeLogin checks that the authorization response q answers this
// browser's login, redeems its code and verifies the ID token, in the order
// of RFC 6749 §4.1.2-§4.1.4 and OIDC Core §3.1.3.7, and returns the session
// it makes, not yet stored. chk says which of the app's checks run: all of
// them, outside lab mode. inProgress is false when the browser had no
// login under way.
func completeLogin(ctx context.Context, p *provider, chk checks, login pendingLogin, inProgress bool, q url.Values, log *slog.Logger) (tokenstore.Session, error) {
	var none tokenstore.Session
	// RFC 6749 §10.12: a callback must answer a login this browser
	// started. With none in progress there is no state to match.
	if !inProgress {
		if chk.state {
			return none, connectFailed(http.StatusBadRequest, "No connection to ImageHost was in progress in this browser, or it took too long: "+
				"this answer does not belong to a connection this browser started (state mismatch).")
		}
		// Lab mode: an answer nobody asked for is let in. With no login
		// in progress the app has no nonce and no PKCE verifier to hold
		// it against either: the state check was all that stood in the way.
		login = pendingLogin{}
	}
	d, err := p.discover(ctx)
	if err != nil {
		return none, imageHostDown(err)
	}

	// RFC 9207 §2.4: the client MUST compare iss with the issuer it
	// sent the request to, which defeats mix-up attacks.
	if iss := q.Get("iss"); chk.iss && iss != p.issuer && (iss != "" || d.issParameterSupported) {
		log.WarnContext(ctx, "callback from the wrong issuer", "iss", iss)
		return none, connectFailed(http.StatusBadRequest, "The answer did not come from ImageHost (wrong issuer).")
	}
	// RFC 6749 §10.12: the state must be exactly the one this browser
	// sent. A mismatch means someone else's login was pushed into this
	// browser (login CSRF). Compared in constant time.
	if chk.state && subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(login.State)) != 1 {
		log.WarnContext(ctx, "callback with a wrong state")
		return none, connectFailed(http.StatusBadRequest, "This answer does not belong to the connection this browser started (state mismatch).")
	}
	// RFC 6749 §4.1.2.1: errors come back as error (and a description).
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return none, connectFailed(http.StatusForbidden, "You chose not to connect PhotoEditorApp to ImageHost. Nothing was shared.")
		}
		msg := "ImageHost refused the connection (" + e + ")"
		if desc := q.Get("error_description"); desc != "" {
			msg += ": " + desc
		}
		return none, connectFailed(http.StatusBadGateway, msg+".")
	}
	code := q.Get("code")
	if code == "" {
		return none, connectFailed(http.StatusBadRequest, "ImageHost's answer had no authorization code.")
	}

	// Step 6: redeem the code with the client secret and the PKCE
	// verifier (RFC 7636 §4.5), over the back channel; with DPoP, and a
	// proof of the new session's own key, to which ImageHost binds the
	// tokens (dpop.go).
	key, err := p.keys.newKey()
	if err != nil {
		return none, err
	}
	tok, err := d.oauth.Exchange(p.withHTTP(flow.WithStep(p.keys.with(ctx, key), flow.StepToken)), code, login.tokenRequestOptions()...)
	if err != nil {
		return none, exchangeFailed(ctx, err, log)
	}
	// Step 7: the ID token. go-oidc checks its signature against the
	// JWKS, iss, aud (our client_id) and expiry ...
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := d.verifier.Verify(ctx, rawID)
	if err != nil {
		log.WarnContext(ctx, "ID token rejected", "err", err)
		return none, connectFailed(http.StatusBadGateway, "ImageHost's ID token did not verify.")
	}
	// ... and leaves the nonce to us (OIDC Core §3.1.3.7, step 11).
	if chk.nonce && subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(login.Nonce)) != 1 {
		log.WarnContext(ctx, "ID token with a wrong nonce")
		return none, connectFailed(http.StatusBadRequest, "The ID token was not issued for this login (nonce mismatch).")
	}
	var claims struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
		SID               string `json:"sid"`
	}
	if err := idToken.Claims(&claims); err != nil {
		return none, err
	}
	// OIDC Core §3.1.3.8: when the ID token carries at_hash, the access
	// token must hash to it.
	if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil && idToken.AccessTokenHash != "" {
		return none, connectFailed(http.StatusBadGateway, "The access token does not belong to the ID token (at_hash mismatch).")
	}

	now := p.now()
	sess := tokenstore.Session{ID: newSessionID(), Subject: idToken.Subject, Name: firstOf(claims.Name, claims.PreferredUsername, idToken.Subject),
		SID: claims.SID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID,
		Expiry: tok.Expiry, CreatedAt: now, UpdatedAt: now}
	if tok.Expiry.IsZero() {
		sess.Expiry = now.Add(time.Minute)
	}
	if err := p.keys.bind(&sess, key, tok); err != nil {
		return none, err
	}
	return sess, nil
}

// exchangeFailed is the page for a code exchange that did not give tokens.
// A refusal (RFC 6749 §5.2, a 4xx answer) means the answer the browser
// brought was wrong, not that ImageHost is: it is a 400 that says what
// ImageHost said. Anything else is ImageHost failing.
func exchangeFailed(ctx context.Context, err error, log *slog.Logger) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return imageHostDown(err)
	}
	log.WarnContext(ctx, "code exchange refused", "error", re.ErrorCode)
	status := http.StatusBadRequest
	if re.Response == nil || re.Response.StatusCode >= 500 {
		status = http.StatusBadGateway
	}
	return connectFailed(status, "ImageHost refused to exchange the code ("+re.ErrorCode+"): "+re.ErrorDescription)
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// newSessionID is 256 random bits.
func newSessionID() string { return oauth2.GenerateVerifier() }
