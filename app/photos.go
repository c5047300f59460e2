package main

// Steps 8-9 of the flow: the app calls ImageHost's photos API with the
// user's access token and shows the result. The browser never sees a token:
// even the image bytes come through the app.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/imagehost"
	"oauthdemo/app/photoedit"
	"oauthdemo/views"
)

// photosAPI is what the photo pages ask of ImageHost's photos API
// (imagehost.Client).
type photosAPI interface {
	List(ctx context.Context, tokens imagehost.Tokens) ([]imagehost.Photo, error)
	OpenImage(ctx context.Context, tokens imagehost.Tokens, id string) (io.ReadCloser, string, error)
	Image(ctx context.Context, tokens imagehost.Tokens, id string) ([]byte, string, error)
	Upload(ctx context.Context, tokens imagehost.Tokens, filename string, data []byte, title string) (imagehost.Photo, error)
	Replace(ctx context.Context, tokens imagehost.Tokens, id, filename string, data []byte) (imagehost.Photo, error)
	Delete(ctx context.Context, tokens imagehost.Tokens, id string) error
}

// gallery is what the photo pages need: the user's connection, the photos
// API, and the editor.
type gallery struct {
	connections
	api    photosAPI
	editor *photoedit.Editor
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
		// Not even the browser's own cache keeps a photo: after Log out,
		// or a sign-out at ImageHost that the browser never hears of, the
		// next person at it would find the photos there. "no-store" holds
		// whichever way the session ends; Clear-Site-Data on Log out would
		// not reach the other ways, nor every browser.
		c.Response().Header().Set("Cache-Control", "private, no-store")
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
