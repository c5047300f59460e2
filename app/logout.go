package main

// Ending the connection, from either side:
//   - Disconnect: the app revokes its tokens at ImageHost (RFC 7009), forgets
//     the session, and clears the browser's recorded flow, which holds them.
//   - Log out: Disconnect, then RP-Initiated Logout at ImageHost, which ends
//     the user's ImageHost session too.
//   - Back-channel logout: ImageHost tells the app that the user signed out
//     there or revoked the app (OIDC Back-Channel Logout 1.0).

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

// endedSessions is what ending a connection does with the session store.
type endedSessions interface {
	Get(ctx context.Context, id string) (tokenstore.Session, error)
	Delete(ctx context.Context, id string) error
	End(ctx context.Context, subject, sid, reason string) (int64, error)
}

// handleDisconnect serves POST /disconnect.
func handleDisconnect(p *provider, cs cookieSessions, store endedSessions, rec *flow.Recorder, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		endLocalSession(c, p, cs, store, rec, log)
		return redirectWithFlash(c, cs, "/", "Disconnected: PhotoEditorApp no longer has access to your ImageHost photos.")
	}
}

// handleLogout serves POST /logout.
func handleLogout(p *provider, cs cookieSessions, store endedSessions, rec *flow.Recorder, baseURL string, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess := endLocalSession(c, p, cs, store, rec, log)
		if err := cs.save(c, cs.get(c)); err != nil {
			return err
		}
		d, err := p.discover(c.Request().Context())
		if err != nil || d.endSessionURL == "" {
			return redirectWithFlash(c, cs, "/", "Signed out of PhotoEditorApp.")
		}
		// RP-Initiated Logout §2: id_token_hint tells ImageHost who is
		// leaving; post_logout_redirect_uri must be registered.
		q := url.Values{"client_id": {p.clientID}, "post_logout_redirect_uri": {baseURL + "/"}}
		if sess.IDToken != "" {
			q.Set("id_token_hint", sess.IDToken)
		}
		return c.Redirect(http.StatusSeeOther, d.endSessionURL+"?"+q.Encode())
	}
}

// endLocalSession revokes the session's tokens at ImageHost, forgets the
// session, and clears the browser's recorded flow; it returns what the
// session was.
//
// On a shared or projected laptop the next person must find nothing usable:
// the recording holds every token of the flow (Reveal shows them), so it
// goes, and the flow id with it; the tokens themselves stop working at
// ImageHost.
func endLocalSession(c echo.Context, p *provider, cs cookieSessions, store endedSessions, rec *flow.Recorder, log *slog.Logger) tokenstore.Session {
	ctx := c.Request().Context()
	bs := cs.get(c)
	id := bs.sessionID()
	bs.clearSessionID()
	flowID := bs.flowID()
	bs.clearFlowID()
	defer rec.Reset(ctx, flowID) // last: the revocations below are recorded in it

	if id == "" {
		return tokenstore.Session{}
	}
	sess, err := store.Get(ctx, id)
	if err != nil {
		return sess
	}
	ctx = flow.WithStep(ctx, flow.StepRevoke)
	// RFC 7009 §2.1: revoking the refresh token revokes the grant, and so
	// every access token issued under it, at least for whoever asks
	// ImageHost; the access token goes on its deny list too, for a resource
	// server that checks it.
	for _, t := range []struct{ token, hint string }{{sess.RefreshToken, "refresh_token"}, {sess.AccessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		if err := revoke(ctx, p, p.clientID, p.clientSecret, t.token, t.hint); err != nil {
			log.WarnContext(ctx, "revoke token", "token_type_hint", t.hint, "err", err)
		}
	}
	if err := store.Delete(ctx, id); err != nil {
		log.WarnContext(ctx, "delete session", "err", err)
	}
	return sess
}

// revoke asks ImageHost to revoke a token the client clientID holds (RFC
// 7009 §2.1); hint is "refresh_token" or "access_token". Revoking a refresh
// token also ends the access tokens of the same grant. The caller's ctx
// says which step of the flow this is.
func revoke(ctx context.Context, p *provider, clientID, clientSecret, token, hint string) error {
	d, err := p.discover(ctx)
	if err != nil {
		return err
	}
	if d.revocationURL == "" {
		return errors.New("ImageHost has no revocation endpoint")
	}
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if clientSecret == "" {
		// A public client has no secret: it names itself (RFC 6749 §2.3).
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.revocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("revocation answered " + resp.Status)
	}
	return nil
}

// backchannelLogoutEvent is the event a logout token must carry (§2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// handleBackchannelLogout serves POST /backchannel-logout: ImageHost, server
// to server, with a signed logout token (OIDC Back-Channel Logout §2.5).
func handleBackchannelLogout(p *provider, store endedSessions, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		c.Response().Header().Set("Cache-Control", "no-store")
		fail := func(desc string) error {
			log.WarnContext(ctx, "back-channel logout refused", "reason", desc)
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": desc})
		}
		d, err := p.discover(ctx)
		if err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		}
		// §2.6: validate it like an ID token: signature, iss, aud, iat/exp ...
		token, err := d.verifier.Verify(ctx, c.FormValue("logout_token"))
		if err != nil {
			return fail("the logout token did not verify")
		}
		var claims struct {
			SID    string                     `json:"sid"`
			Events map[string]json.RawMessage `json:"events"`
			Nonce  *string                    `json:"nonce"`
		}
		if err := token.Claims(&claims); err != nil {
			return fail("the logout token's claims are malformed")
		}
		// ... then what makes it a logout token: the event, no nonce, and
		// a sub or sid to say whose session ends.
		if _, ok := claims.Events[backchannelLogoutEvent]; !ok {
			return fail("the logout token lacks the back-channel logout event")
		}
		if claims.Nonce != nil {
			return fail("a logout token must not contain a nonce")
		}
		if token.Subject == "" && claims.SID == "" {
			return fail("the logout token names neither sub nor sid")
		}
		reason := "You were signed out at ImageHost, or PhotoEditorApp's access was revoked there."
		n, err := store.End(ctx, token.Subject, claims.SID, reason)
		if err != nil {
			return err
		}
		log.InfoContext(ctx, "back-channel logout", "sub", token.Subject, "sid", claims.SID, "sessions", n)
		return c.NoContent(http.StatusOK)
	}
}
