package main

import (
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"
)

// echoContext wraps a request for code that needs an echo.Context.
func echoContext(req *http.Request, rec *httptest.ResponseRecorder) echo.Context {
	return echo.New().NewContext(req, rec)
}
