package main

// Editing a photo: the app fetches it from ImageHost, changes it with the
// standard image packages, and saves the result back (scope photos.write).

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/imagehost"
	"oauthdemo/app/photoedit"
	"oauthdemo/views"
)

// handleEditPage serves GET /photos/:id/edit.
func handleEditPage(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		list, err := g.api.List(c.Request().Context(), conn.tokens)
		if err != nil {
			return g.fail(c, err)
		}
		vm := views.EditView{Page: g.page(c, conn, "Edit photo")}
		for _, p := range list {
			if p.ID == c.Param("id") {
				vm.Photo = views.PhotoCard{ID: p.ID, Title: p.Title, Version: p.UpdatedAt.UnixNano()}
			}
		}
		if vm.Photo.ID == "" {
			return g.fail(c, imagehost.ErrNotFound)
		}
		for _, op := range photoedit.Operations {
			vm.Operations = append(vm.Operations, views.Operation{Name: op.Name, Label: op.Label})
		}
		if err := g.cs.save(c, g.cs.get(c)); err != nil {
			return err
		}
		return render(c, http.StatusOK, views.Edit(vm))
	}
}

// Edits run under a concurrency cap (photoedit.Editor): at most editSlots
// at once, from fetching the photo to saving it, whose decoding takes at
// most editMemory between them; nobody waits longer than editWait for either.
// The largest photo ImageHost accepts (photoedit.MaxPixels, at 16 bits a
// channel) fits in editMemory on its own.
const (
	editSlots  = 2
	editMemory = 192 << 20
	editWait   = 3 * time.Second
)

// handleEdit serves POST /photos/:id/edit: apply one operation and save.
func handleEdit(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		ctx := c.Request().Context()
		id, op := c.Param("id"), c.FormValue("op")
		if !photoedit.KnownOperation(op) {
			return editFailed(c, id, photoedit.ErrUnknownOperation)
		}
		edit, err := g.editor.Begin(ctx)
		if err != nil {
			return editFailed(c, id, err)
		}
		defer edit.Done()
		data, _, err := g.api.Image(ctx, conn.tokens, id)
		if errors.Is(err, imagehost.ErrTooLarge) {
			return editFailed(c, id, photoedit.ErrTooLarge)
		} else if err != nil {
			return g.fail(c, err)
		}
		edited, contentType, err := edit.Apply(ctx, data, op)
		if err != nil {
			return editFailed(c, id, err)
		}
		if _, err := g.api.Replace(ctx, conn.tokens, id, "edited."+contentType[len("image/"):], bytes.NewReader(edited), int64(len(edited))); err != nil {
			return g.fail(c, err)
		}
		label := op
		for _, o := range photoedit.Operations {
			if o.Name == op {
				label = o.Label
			}
		}
		return redirectWithFlash(c, g.cs, "/photos/"+id+"/edit", label+": saved to ImageHost at "+time.Now().Format("15:04:05")+".")
	}
}

// editFailed is the page for an edit the editor would not or could not do.
func editFailed(c echo.Context, id string, err error) error {
	retry := "/photos/" + url.PathEscape(id) + "/edit"
	switch {
	case errors.Is(err, photoedit.ErrBusy):
		c.Response().Header().Set("Retry-After", "5")
		return &pageError{status: http.StatusServiceUnavailable, title: "The editor is busy",
			message: "Other edits are under way. Please try again in a moment.", retry: retry}
	case errors.Is(err, photoedit.ErrTooLarge):
		return &pageError{status: http.StatusRequestEntityTooLarge, title: "Too large to edit",
			message: fmt.Sprintf("PhotoEditorApp edits images of up to %d megapixels and %d MB.", photoedit.MaxPixels/1_000_000, photoedit.MaxBytes>>20),
			retry:   "/photos", cause: err}
	case errors.Is(err, photoedit.ErrTooComplex):
		return &pageError{status: http.StatusUnprocessableEntity, title: "Too costly to edit",
			message: fmt.Sprintf("This JPEG is stored as more than %d scans, each a pass over the whole image; PhotoEditorApp edits JPEGs of at most %d.", photoedit.MaxScans, photoedit.MaxScans),
			retry:   "/photos", cause: err}
	case errors.Is(err, photoedit.ErrUnknownOperation):
		return &pageError{status: http.StatusBadRequest, title: "Unknown edit", message: "PhotoEditorApp cannot do that.", retry: retry}
	case errors.Is(err, photoedit.ErrNotImage):
		return &pageError{status: http.StatusUnprocessableEntity, title: "Cannot edit this photo",
			message: "PhotoEditorApp could not read this image.", retry: "/photos", cause: err}
	}
	return err
}
