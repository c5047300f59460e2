package main

// Editing a photo: the app fetches it from ImageHost, changes it with the
// standard image packages, and saves the result back (scope photos.write).

import (
	"errors"
	"net/http"
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

// handleEdit serves POST /photos/:id/edit: apply one operation and save.
func handleEdit(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		ctx := c.Request().Context()
		id, op := c.Param("id"), c.FormValue("op")
		data, _, err := g.api.Image(ctx, conn.tokens, id)
		if err != nil {
			return g.fail(c, err)
		}
		edited, contentType, err := photoedit.Apply(data, op)
		if errors.Is(err, photoedit.ErrUnknownOperation) {
			return &pageError{status: http.StatusBadRequest, title: "Unknown edit", message: "PhotoEditorApp cannot do that.", retry: "/photos/" + id + "/edit"}
		} else if err != nil {
			return &pageError{status: http.StatusUnprocessableEntity, title: "Cannot edit this photo",
				message: "PhotoEditorApp could not read this image.", retry: "/photos", cause: err}
		}
		if _, err := g.api.Replace(ctx, conn.tokens, id, "edited."+contentType[len("image/"):], edited); err != nil {
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
