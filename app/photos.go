package main

// Steps 8-9 of the flow: the app calls ImageHost's photos API with the
// user's access token and shows the result. The browser never sees a token:
// even the image bytes come through the app.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/semaphore"

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
	Upload(ctx context.Context, tokens imagehost.Tokens, filename string, data io.ReaderAt, size int64, title string) (imagehost.Photo, error)
	Replace(ctx context.Context, tokens imagehost.Tokens, id, filename string, data io.ReaderAt, size int64) (imagehost.Photo, error)
	Delete(ctx context.Context, tokens imagehost.Tokens, id string) error
}

// gallery is what the photo pages need: the user's connection, the photos
// API, the editor, and the cap on photos passing through.
type gallery struct {
	connections
	api       photosAPI
	editor    *photoedit.Editor
	transfers *transfers
}

// Photos on their way through the app, between the browser and ImageHost,
// hold bytes of the app's: an upload its whole body, spooled to a
// temporary file past spoolInMemory, and a photo passed on to the browser
// the buffers it streams through (streamHolds), never the photo itself.
// Together they may hold transferBytes; nobody waits longer than
// transferWait for their share, then the answer is 503 "busy". Without
// them, 16 uploads of 8 MB at once took the app to 329 MiB (e2e
// TestAppPhotoBursts); with them, to 20.
const (
	transferBytes = 64 << 20
	transferWait  = 5 * time.Second
	spoolInMemory = 64 << 10
	streamHolds   = 64 << 10
	// maxUploadBody is the most any request's body may be (server.go's
	// BodyLimit, "11M"): the largest photo ImageHost keeps, and a form
	// around it.
	maxUploadBody = 11 << 20
)

// errTransfersBusy is the answer when transferBytes stay taken for
// transferWait.
var errTransfersBusy = errors.New("too many photos on their way through the app")

// transfers is the cap on photo bytes passing through the app: a
// semaphore weighted in bytes. It is safe for concurrent use.
type transfers struct {
	bytes *semaphore.Weighted
	wait  time.Duration
}

func newTransfers(bytes int64, wait time.Duration) *transfers {
	return &transfers{bytes: semaphore.NewWeighted(bytes), wait: wait}
}

// hold waits for n bytes, for at most the wait; the caller releases them.
// It returns errTransfersBusy when the wait runs out.
func (t *transfers) hold(ctx context.Context, n int64) (release func(), err error) {
	wait, cancel := context.WithTimeout(ctx, t.wait)
	defer cancel()
	if err := t.bytes.Acquire(wait, n); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errTransfersBusy
	}
	return func() { t.bytes.Release(n) }, nil
}

// busyPage is the answer to a transfer that found no room.
func busyPage(c echo.Context, err error) error {
	if !errors.Is(err, errTransfersBusy) {
		return err
	}
	c.Response().Header().Set("Retry-After", "5")
	return &pageError{status: http.StatusServiceUnavailable, title: "PhotoEditorApp is busy",
		message: "Many photos are on their way through PhotoEditorApp just now. Please try again in a moment.", retry: "/photos"}
}

// spoolUploads reads an upload's form before anything else reads it (the
// CSRF check does, and would keep a photo of up to 32 MB in memory): under
// the transfer cap, by the body's length, with any file part larger than
// spoolInMemory in a temporary file, removed once the request is done.
// The handler then streams the file to ImageHost from there.
func spoolUploads(t *transfers) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if mediaType, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); mediaType != echo.MIMEMultipartForm {
				return next(c)
			}
			size := req.ContentLength
			if size < 0 || size > maxUploadBody {
				size = maxUploadBody // BodyLimit cuts it there
			}
			release, err := t.hold(req.Context(), size)
			if err != nil {
				return busyPage(c, err)
			}
			defer release()
			err = req.ParseMultipartForm(spoolInMemory)
			// net/http removes the temporary files of the request it
			// passed in, but an earlier middleware may have replaced it
			// (WithContext): this one's files are removed here.
			if req.MultipartForm != nil {
				defer req.MultipartForm.RemoveAll()
			}
			var tooLarge *echo.HTTPError
			if errors.As(err, &tooLarge) {
				return tooLarge
			} else if err != nil {
				return &pageError{status: http.StatusBadRequest, title: "The upload could not be read",
					message: "The form did not arrive whole. Please try again.", retry: "/photos", cause: err}
			}
			return next(c)
		}
	}
}

// photoIDs answers a photo's page whose id is not of the form ImageHost
// gives (imagehost.IsPhotoID) with "Photo not found", before the handler
// runs: such an id is no photo of anyone's, and the app sends ImageHost
// nothing for it. The id comes from the address, which any site can send
// a signed-in browser to, cookie and all (SameSite=Lax lets a top-level
// navigation carry it): an id of 3,500 characters once made the app's DPoP
// proof too long for ImageHost, and the refusal signed the user out.
func photoIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !imagehost.IsPhotoID(c.Param("id")) {
			return photoNotFound()
		}
		return next(c)
	}
}

// photoNotFound is the page for a photo that is not the user's, or no
// photo at all.
func photoNotFound() error {
	return &pageError{status: http.StatusNotFound, title: "Photo not found",
		message: "That photo is not in your ImageHost library (any more).", retry: "/photos"}
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
		release, err := g.transfers.hold(c.Request().Context(), streamHolds)
		if err != nil {
			return busyPage(c, err)
		}
		defer release()
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

// handleUpload serves POST /photos: a new photo, uploaded to ImageHost. The
// form was read by spoolUploads, the photo into a temporary file; it goes to
// ImageHost from there as it is read.
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
		if fh.Size > imagehost.MaxImageBytes {
			return redirectWithFlash(c, g.cs, "/photos", fmt.Sprintf("That image is larger than %d MB, the most ImageHost keeps.", imagehost.MaxImageBytes>>20))
		}
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = g.api.Upload(c.Request().Context(), conn.tokens, fh.Filename, f, fh.Size, c.FormValue("title"))
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
