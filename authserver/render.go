package main

import (
	"log/slog"
	"net/http"

	"github.com/a-h/templ"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
)

// render writes an HTML page. Pages are personal (sessions, CSRF tokens),
// so none may be cached.
func render(w http.ResponseWriter, r *http.Request, status int, page templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	page.Render(r.Context(), w)
}

// errorPage shows an error in the browser instead of sending it to a client,
// for when the client cannot be trusted with it (RFC 6749 §4.1.2.1) or
// there is no client.
func errorPage(w http.ResponseWriter, r *http.Request, status int, title, message, code string) {
	oauth.ObserveRefusal(w, code)
	render(w, r, status, pages.Error(pages.ErrorView{Title: title, Message: message, Code: code}))
}

// internalError logs err and shows a page that reveals nothing of it.
func internalError(w http.ResponseWriter, r *http.Request, log *slog.Logger, what string, err error) {
	log.ErrorContext(r.Context(), what, "err", err)
	errorPage(w, r, http.StatusInternalServerError, "Something went wrong",
		"ImageHost could not complete this step. Please try again in a moment.", "server_error")
}
