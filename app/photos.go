package main

// Steps 8-9 of the flow: the app calls ImageHost's photos API with the
// user's access token and shows the result. The browser never sees a token:
// even the image bytes come through the app.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/imagehost"
	"oauthdemo/app/photoedit"
	"oauthdemo/app/tokenstore"
	"oauthdemo/views"
)

// gallery is what the photo pages need.
type gallery struct {
	cs     cookieSessions
	store  *tokenstore.Store
	keeper *tokenKeeper
	api    imagehost.Client
	editor *photoedit.Editor
	log    *slog.Logger
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
func (g gallery) connection(c echo.Context) (connection, error) {
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
func (g gallery) forget(c echo.Context) browserSession {
	bs := g.cs.get(c)
	if id := bs.sessionID(); id != "" {
		g.store.Delete(c.Request().Context(), id)
	}
	bs.clearSessionID()
	return bs
}

// fail turns an error of the photo pages into the right answer.
func (g gallery) fail(c echo.Context, err error) error {
	var rc *reconnectError
	var api *imagehost.Error
	switch {
	case errors.Is(err, errNotConnected):
		return redirectWithFlash(c, g.cs, "/", "Connect with ImageHost to see your photos.")
	case errors.As(err, &rc):
		g.forget(c)
		return redirectWithFlash(c, g.cs, "/", rc.reason+" Connect again to continue.")
	case errors.Is(err, imagehost.ErrNotFound):
		return &pageError{status: http.StatusNotFound, title: "Photo not found",
			message: "That photo is not in your ImageHost library (any more).", retry: "/photos"}
	case errors.As(err, &api) && api.Status == http.StatusUnauthorized:
		// Still refused after a refresh: the grant is gone at ImageHost.
		return g.fail(c, &reconnectError{"ImageHost no longer accepts this app's access token (" + api.Description + ")."})
	case errors.As(err, &api) && api.Status == http.StatusForbidden:
		return &pageError{status: http.StatusForbidden, title: "ImageHost said no",
			message: "ImageHost did not allow this: " + api.Description + ".", retry: "/photos"}
	case errors.As(err, &api):
		return imageHostDown(err)
	}
	return err
}

// page fills the layout for a connected user.
func (g gallery) page(c echo.Context, conn connection, title string) views.Page {
	bs := g.cs.get(c)
	p := basePage(c, g.cs, title)
	p.UserName, p.Flashes, p.TokenRefreshed = conn.session.Name, bs.flashes(), conn.tokens.Refreshed
	return p
}

// handlePhotos serves GET /photos: the gallery.
func handlePhotos(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		list, err := g.api.List(c.Request().Context(), conn.tokens)
		if err != nil {
			return g.fail(c, err)
		}
		vm := views.PhotosView{Page: g.page(c, conn, "Your photos")}
		for _, p := range list {
			vm.Photos = append(vm.Photos, views.PhotoCard{ID: p.ID, Title: p.Title, Version: p.UpdatedAt.UnixNano(),
				Size: fmt.Sprintf("%.1f KB", float64(p.Size)/1024)})
		}
		if err := g.cs.save(c, g.cs.get(c)); err != nil { // the flashes were read
			return err
		}
		return render(c, http.StatusOK, views.Photos(vm))
	}
}

// handleImage serves GET /photos/:id/image: the bytes, fetched with the
// user's token and passed on as they come, so the browser needs no token to
// show them and the app holds no photo in memory.
func handleImage(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		body, contentType, err := g.api.OpenImage(c.Request().Context(), conn.tokens, c.Param("id"))
		if err != nil {
			return g.fail(c, err)
		}
		defer body.Close()
		if !strings.HasPrefix(contentType, "image/") {
			return imageHostDown(fmt.Errorf("photo served as %q", contentType))
		}
		c.Response().Header().Set("Cache-Control", "private, max-age=300")
		return c.Stream(http.StatusOK, contentType, body)
	}
}

// handleUpload serves POST /photos: a new photo, uploaded to ImageHost.
func handleUpload(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		fh, err := c.FormFile("file")
		if err != nil {
			return redirectWithFlash(c, g.cs, "/photos", "Choose an image to upload.")
		}
		tooLarge := fmt.Sprintf("That image is larger than %d MB, the most ImageHost keeps.", imagehost.MaxImageBytes>>20)
		if fh.Size > imagehost.MaxImageBytes {
			return redirectWithFlash(c, g.cs, "/photos", tooLarge)
		}
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, imagehost.MaxImageBytes+1))
		if err != nil {
			return err
		}
		if len(data) > imagehost.MaxImageBytes {
			return redirectWithFlash(c, g.cs, "/photos", tooLarge)
		}
		_, err = g.api.Upload(c.Request().Context(), conn.tokens, fh.Filename, data, c.FormValue("title"))
		var api *imagehost.Error
		if errors.As(err, &api) && api.Status >= 400 && api.Status < 500 && api.Status != http.StatusUnauthorized && api.Status != http.StatusForbidden {
			// ImageHost checks what an upload really is; say what it said.
			return redirectWithFlash(c, g.cs, "/photos", "ImageHost refused the upload: "+api.Description+".")
		} else if err != nil {
			return g.fail(c, err)
		}
		return redirectWithFlash(c, g.cs, "/photos", "Uploaded to ImageHost.")
	}
}

// handleDelete serves POST /photos/:id/delete.
func handleDelete(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		if err := g.api.Delete(c.Request().Context(), conn.tokens, c.Param("id")); err != nil {
			return g.fail(c, err)
		}
		return redirectWithFlash(c, g.cs, "/photos", "Deleted from ImageHost.")
	}
}
