package main

// The one HTTPErrorHandler: every error a handler returns ends up here and
// becomes a friendly page. Internal detail goes to the log, never to the page.

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"oauthdemo/views"
)

// pageError is an error meant for the user, with a way to go on.
type pageError struct {
	status  int
	title   string
	message string
	retry   string // link to try again, e.g. "/" to connect again
	cause   error  // logged, never shown
}

func (e *pageError) Error() string {
	if e.cause != nil {
		return e.title + ": " + e.cause.Error()
	}
	return e.title + ": " + e.message
}

// connectFailed is a failed connection attempt; the user may try again.
func connectFailed(status int, message string) error {
	return &pageError{status: status, title: "Could not connect to ImageHost", message: message, retry: "/"}
}

// imageHostDown is ImageHost not answering as it should.
func imageHostDown(cause error) error {
	return &pageError{status: http.StatusBadGateway, title: "ImageHost is not answering",
		message: "PhotoEditorApp could not reach ImageHost. Please try again in a moment.", retry: "/", cause: cause}
}

// newErrorHandler renders every error as a page.
func newErrorHandler(cs cookieSessions, log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ctx := c.Request().Context()
		vm := views.ErrorView{Title: "Something went wrong", Message: "PhotoEditorApp could not complete this. Please try again.", RetryURL: "/"}
		status := http.StatusInternalServerError
		var pe *pageError
		var he *echo.HTTPError
		switch {
		case errors.As(err, &pe):
			status, vm.Title, vm.Message, vm.RetryURL = pe.status, pe.title, pe.message, pe.retry
			if pe.cause != nil {
				log.WarnContext(ctx, pe.title, "err", pe.cause)
			}
		case errors.As(err, &he):
			status = he.Code
			switch he.Code {
			case http.StatusNotFound:
				vm.Title, vm.Message = "Page not found", "There is nothing at this address."
			case http.StatusMethodNotAllowed:
				vm.Title, vm.Message = "Not allowed", "This address does not accept that kind of request."
			case http.StatusForbidden, http.StatusBadRequest:
				// A request echo itself refused, such as a form it could not
				// read. The CSRF checks answer with their own page (csrf.go).
				vm.Title, vm.Message = "The form had expired", "For your safety the form was refused. Go back, reload the page and try again."
				status = http.StatusForbidden
			case http.StatusRequestEntityTooLarge:
				vm.Title, vm.Message = "Too large", "That upload is too large (at most 8 MB)."
			default:
				log.ErrorContext(ctx, "request failed", "err", err)
			}
		default:
			log.ErrorContext(ctx, "request failed", "err", err)
		}
		vm.Page = basePage(c, cs, vm.Title)
		if c.Request().Method == http.MethodHead {
			c.NoContent(status)
			return
		}
		if err := render(c, status, views.Error(vm)); err != nil {
			log.ErrorContext(ctx, "render error page", "err", err)
		}
	}
}
