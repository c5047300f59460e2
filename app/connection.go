package main

// The signed-in user's connection to ImageHost, as each request finds it,
// and what the pages say when it is missing or gone.

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"oauthdemo/app/imagehost"
	"oauthdemo/app/tokenstore"
	"oauthdemo/views"
)

// connectedSessions is what finding a connection does with the session
// store.
type connectedSessions interface {
	Get(ctx context.Context, id string) (tokenstore.Session, error)
	Delete(ctx context.Context, id string) error
}

// connections finds the signed-in user's connection to ImageHost for a
// request: the session id in the cookie, the server-side session, and its
// tokens. Every page that acts for the user starts here.
type connections struct {
	cs     cookieSessions
	store  connectedSessions
	keeper *tokenKeeper
}

// connection is the signed-in user's session during one request.
type connection struct {
	session tokenstore.Session
	tokens  *sessionTokens
}

// errNotConnected sends the browser to the home page to connect.
var errNotConnected = errors.New("not connected")

// connection finds the request's ImageHost session. A session ended from
// outside (back-channel logout) is dead here, though its cookie lives on.
func (g connections) connection(c echo.Context) (connection, error) {
	bs := g.cs.get(c)
	id := bs.sessionID()
	if id == "" {
		return connection{}, errNotConnected
	}
	sess, err := g.store.Get(c.Request().Context(), id)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return connection{}, &reconnectError{"Your session has ended."}
	} else if err != nil {
		return connection{}, err
	}
	if sess.EndedReason != "" {
		return connection{}, &reconnectError{sess.EndedReason}
	}
	return connection{session: sess, tokens: g.keeper.forSession(id)}, nil
}

// forget drops the browser's dead server-side session and its id in the
// cookie; the caller saves the cookie.
func (g connections) forget(c echo.Context) browserSession {
	bs := g.cs.get(c)
	if id := bs.sessionID(); id != "" {
		g.store.Delete(c.Request().Context(), id)
	}
	bs.clearSessionID()
	return bs
}

// fail turns an error of the photo pages into the right answer.
func (g connections) fail(c echo.Context, err error) error {
	var rc *reconnectError
	var api *imagehost.Error
	var refused *oauth2.RetrieveError
	switch {
	case errors.Is(err, errNotConnected):
		return redirectWithFlash(c, g.cs, "/", "Connect with ImageHost to see your photos.")
	case errors.As(err, &rc):
		g.forget(c)
		return redirectWithFlash(c, g.cs, "/", rc.reason+" Connect again to continue.")
	case errors.Is(err, imagehost.ErrNotFound):
		return photoNotFound()
	case errors.As(err, &api) && api.Status == http.StatusUnauthorized && api.Code == "invalid_token":
		// RFC 6750 §3.1 invalid_token, still, after the refresh that
		// imagehost.Client tried: the grant is gone at ImageHost. (A
		// refresh ImageHost refused with invalid_grant is a
		// reconnectError already, tokens.go.)
		return g.fail(c, &reconnectError{"ImageHost no longer accepts this app's access token (" + api.Description + ")."})
	case errors.As(err, &api) && api.Status == http.StatusUnauthorized, errors.As(err, &refused):
		// Refused for this request, not for the grant: a DPoP proof
		// ImageHost did not take (invalid_dpop_proof, or use_dpop_nonce
		// asked again; RFC 9449 §7.1, §9), at the photos API or at the
		// token endpoint. The tokens are still good, so the session
		// stays: were it ended here, whatever makes the app send a proof
		// ImageHost refuses (a clock that drifted, a request crafted from
		// outside) would sign the user out.
		return &pageError{status: http.StatusBadGateway, title: "ImageHost refused the request", retry: "/photos", cause: err,
			message: "ImageHost did not accept PhotoEditorApp's request. You are still connected; please try again in a moment."}
	case errors.As(err, &api) && api.Status == http.StatusForbidden:
		return &pageError{status: http.StatusForbidden, title: "ImageHost said no",
			message: "ImageHost did not allow this: " + api.Description + ".", retry: "/photos"}
	case errors.As(err, &api) && api.Status == http.StatusServiceUnavailable:
		// ImageHost's photos API has no room for another photo just now.
		c.Response().Header().Set("Retry-After", "5")
		return &pageError{status: http.StatusServiceUnavailable, title: "ImageHost is busy",
			message: "ImageHost has many photos on their way just now. Please try again in a moment.", retry: "/photos", cause: err}
	case errors.As(err, &api):
		// Any other answer (a 5xx, a 429) leaves the session as it is too.
		return imageHostDown(err)
	}
	return err
}

// page fills the layout for a connected user.
func (g connections) page(c echo.Context, conn connection, title string) views.Page {
	bs := g.cs.get(c)
	p := basePage(c, g.cs, title)
	p.UserName, p.Flashes, p.TokenRefreshed = conn.session.Name, bs.flashes(), conn.tokens.Refreshed
	return p
}
