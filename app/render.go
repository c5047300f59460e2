package main

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"oauthdemo/views"
)

// render writes a templ component as the response. Pages are personal, so
// none may be cached.
func render(c echo.Context, status int, page templ.Component) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return page.Render(c.Request().Context(), c.Response())
}

// csrfToken is the browser's CSRF token, for the page's forms (csrf.go).
func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfKey).(string)
	return t
}

// basePage fills what every page's layout shows.
func basePage(c echo.Context, cs cookieSessions, title string) views.Page {
	bs := cs.get(c)
	lab, _ := c.Get("lab").(bool)
	return views.Page{Title: title, CSRF: csrfToken(c), Connected: bs.sessionID() != "", Lab: lab}
}

// redirectWithFlash saves a message for the next page and redirects.
func redirectWithFlash(c echo.Context, cs cookieSessions, to, msg string) error {
	bs := cs.get(c)
	bs.addFlash(msg)
	if err := cs.save(c, bs); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}
