package main

// Health checks for a load balancer or an orchestrator. /healthz is
// liveness: the process runs and answers, so there is no reason to restart
// it. /readyz is readiness: this instance can serve a browser now, its
// database (or, for one instance, its data directory) usable; while it
// answers 503, a load balancer sends browsers to the other instances.

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// readyzTimeout bounds the check, well within a load balancer's own.
const readyzTimeout = 2 * time.Second

// handleReadyz serves GET /readyz. The cause of a failure goes to the log,
// never into the answer.
func handleReadyz(ready func(context.Context) error, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), readyzTimeout)
		defer cancel()
		c.Response().Header().Set("Cache-Control", "no-store")
		if err := ready(ctx); err != nil {
			log.WarnContext(ctx, "not ready", "err", err)
			return c.String(http.StatusServiceUnavailable, "not ready\n")
		}
		return c.String(http.StatusOK, "ready\n")
	}
}
