package main

// Steps 4-7 of the flow: ImageHost sends the browser back with a code; the
// app checks that this response answers its own request, redeems the code
// over the back channel, and verifies the ID token.

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

// handleCallback serves GET /callback.
func handleCallback(p *provider, cs cookieSessions, store *tokenstore.Store, rec *flow.Recorder, lab *labSwitches, baseURL string, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		ctx := c.Request().Context()
		q := c.QueryParams()
		bs := cs.get(c)
		// Workshop mode: the callback as it arrived (before the code
		// exchange it causes), and, once decided, what the app made of it.
		flowID := bs.flowID()
		var attackNote string // set when this callback serves an attack demonstration
		var skipped []string  // checks lab mode switched off
		seq := rec.Add(flowID, flow.Exchange{Step: flow.StepCallback, Channel: "front channel (browser)",
			Request: flow.Message{Method: http.MethodGet, URL: baseURL + "/callback", Params: flow.ParamsOf(c.Request().URL.RawQuery)}})
		defer rec.Update(flowID, seq, func(ex *flow.Exchange) {
			ex.Response = flow.Message{Status: http.StatusSeeOther, Headers: []flow.KV{{Name: "Location", Value: "/photos"}}}
			ex.Note = "state matched, iss is ImageHost, the code was redeemed, and the ID token's signature, iss, aud, expiry and nonce checked out."
			if len(skipped) > 0 {
				ex.Note = "LAB MODE, skipped: " + strings.Join(skipped, ", ") + ". " + ex.Note
			}
			var pe *pageError
			if attackNote != "" {
				ex.Response.Headers[0].Value, ex.Note = "/flow", attackNote
			} else if errors.As(err, &pe) {
				ex.Response, ex.Note = flow.Message{Status: pe.status}, "Refused: "+pe.message
			} else if err != nil {
				ex.Response, ex.Note = flow.Message{Status: http.StatusInternalServerError}, "The app failed."
			}
		})
		login, ok := bs.pendingLogin()
		inProgress := ok && p.now().Sub(login.Started) <= pendingLoginTTL
		// Whatever happens next, this login's state, nonce and verifier are
		// used up: a second callback with them must fail.
		bs.clearPendingLogin()
		if err := cs.save(c, bs); err != nil {
			return err
		}
		// RFC 6749 §10.12: a callback must answer a login this browser
		// started. With none in progress there is no state to match.
		if !inProgress {
			if lab.on(checkState) {
				return connectFailed(http.StatusBadRequest, "No connection to ImageHost was in progress in this browser, or it took too long: "+
					"this answer does not belong to a connection this browser started (state mismatch).")
			}
			// Lab mode: an answer nobody asked for is let in. With no login
			// in progress the app has no nonce and no PKCE verifier to hold
			// it against either: the state check was all that stood in the way.
			login = pendingLogin{}
			skipped = append(skipped, "the state check (no login was in progress)")
		}
		d, err := p.discover(ctx)
		if err != nil {
			return imageHostDown(err)
		}

		// RFC 9207 §2.4: the client MUST compare iss with the issuer it
		// sent the request to, which defeats mix-up attacks.
		if !lab.on(checkISS) {
			skipped = append(skipped, "the iss check")
		} else if iss := q.Get("iss"); iss != p.issuer && (iss != "" || d.issParameterSupported) {
			log.WarnContext(ctx, "callback from the wrong issuer", "iss", iss)
			return connectFailed(http.StatusBadRequest, "The answer did not come from ImageHost (wrong issuer).")
		}
		// RFC 6749 §10.12: the state must be exactly the one this browser
		// sent. A mismatch means someone else's login was pushed into this
		// browser (login CSRF). Compared in constant time.
		if !lab.on(checkState) {
			if inProgress {
				skipped = append(skipped, "the state check")
			}
		} else if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(login.State)) != 1 {
			log.WarnContext(ctx, "callback with a wrong state")
			return connectFailed(http.StatusBadRequest, "This answer does not belong to the connection this browser started (state mismatch).")
		}
		// RFC 6749 §4.1.2.1: errors come back as error (and a description).
		if e := q.Get("error"); e != "" {
			if e == "access_denied" {
				return connectFailed(http.StatusForbidden, "You chose not to connect PhotoEditorApp to ImageHost. Nothing was shared.")
			}
			msg := "ImageHost refused the connection (" + e + ")"
			if desc := q.Get("error_description"); desc != "" {
				msg += ": " + desc
			}
			return connectFailed(http.StatusBadGateway, msg+".")
		}
		code := q.Get("code")
		if code == "" {
			return connectFailed(http.StatusBadRequest, "ImageHost's answer had no authorization code.")
		}

		if login.Attack == "wrong-verifier" {
			attackNote = "A workshop demonstration: the app redeems this code with a wrong PKCE verifier (the exchange marked !)."
			return wrongVerifierAttack(c, p, d, cs, rec, flowID, code, login.Verifier != "")
		}

		// Step 6: redeem the code with the client secret and the PKCE
		// verifier (RFC 7636 §4.5), over the back channel.
		var opts []oauth2.AuthCodeOption
		if login.Verifier != "" {
			opts = append(opts, oauth2.VerifierOption(login.Verifier))
		}
		tok, err := d.oauth.Exchange(p.withHTTP(flow.WithStep(ctx, flow.StepToken)), code, opts...)
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				log.WarnContext(ctx, "code exchange refused", "error", re.ErrorCode)
				return connectFailed(http.StatusBadGateway, "ImageHost refused to exchange the code ("+re.ErrorCode+"): "+re.ErrorDescription)
			}
			return imageHostDown(err)
		}
		// Step 7: the ID token. go-oidc checks its signature against the
		// JWKS, iss, aud (our client_id) and expiry ...
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := d.verifier.Verify(ctx, rawID)
		if err != nil {
			log.WarnContext(ctx, "ID token rejected", "err", err)
			return connectFailed(http.StatusBadGateway, "ImageHost's ID token did not verify.")
		}
		// ... and leaves the nonce to us (OIDC Core §3.1.3.7, step 11).
		if !lab.on(checkNonce) {
			skipped = append(skipped, "the nonce check")
		} else if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(login.Nonce)) != 1 {
			log.WarnContext(ctx, "ID token with a wrong nonce")
			return connectFailed(http.StatusBadRequest, "The ID token was not issued for this login (nonce mismatch).")
		}
		var claims struct {
			Name              string `json:"name"`
			PreferredUsername string `json:"preferred_username"`
			SID               string `json:"sid"`
		}
		if err := idToken.Claims(&claims); err != nil {
			return err
		}
		if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil && idToken.AccessTokenHash != "" {
			return connectFailed(http.StatusBadGateway, "The access token does not belong to the ID token (at_hash mismatch).")
		}

		// A new server-side session with a new id: whatever session id the
		// browser had before is not the one it has now (session fixation).
		now := p.now()
		sess := tokenstore.Session{ID: newSessionID(), Subject: idToken.Subject, Name: firstOf(claims.Name, claims.PreferredUsername, idToken.Subject),
			SID: claims.SID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID,
			Expiry: tok.Expiry, CreatedAt: now, UpdatedAt: now}
		if tok.Expiry.IsZero() {
			sess.Expiry = now.Add(time.Minute)
		}
		if err := store.Save(ctx, sess); err != nil {
			return err
		}
		if old := bs.sessionID(); old != "" {
			store.Delete(ctx, old)
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
