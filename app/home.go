package main

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"oauthdemo/views"
)

// scopeDescriptions say what the app asks ImageHost for, on the home page.
var scopeDescriptions = []views.ScopeLine{
	{Name: "openid", Description: "Sign you in with your ImageHost account"},
	{Name: "profile", Description: "See your name"},
	{Name: "offline_access", Description: "Keep access while you use the app, without asking again"},
	{Name: "photos.read", Description: "See your photos"},
	{Name: "photos.write", Description: "Save edited photos, upload and delete photos"},
}

// handleHome serves GET /.
func handleHome(g connections) echo.HandlerFunc {
	return func(c echo.Context) error {
		vm := views.HomeView{Page: basePage(c, g.cs, "Welcome"), Scopes: scopeDescriptions}
		var rc *reconnectError
		if conn, err := g.connection(c); err == nil {
			vm.Page.UserName = conn.session.Name
		} else if errors.As(err, &rc) {
			// A session ended from outside: say so once, forget it.
			g.forget(c).addFlash(rc.reason)
			vm.Page.Connected = false
		}
		bs := g.cs.get(c)
		vm.Page.Flashes = bs.flashes()
		if err := g.cs.save(c, bs); err != nil {
			return err
		}
		return render(c, http.StatusOK, views.Home(vm))
	}
}
