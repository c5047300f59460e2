package main

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/static"
)

// addRoutes lists every endpoint of PhotoEditorApp.
func addRoutes(e *echo.Echo, cfg Config, p *provider, g gallery, rec *flow.Recorder, lab *labSwitches, log *slog.Logger) {
	e.GET("/", handleHome(g))

	// The OAuth flow.
	e.POST("/connect", handleConnect(p, g.cs, rec, lab, cfg.BaseURL))
	e.GET("/callback", handleCallback(p, g.cs, g.store, rec, lab, cfg.BaseURL, log))
	e.POST("/disconnect", handleDisconnect(p, g.cs, g.store, rec, log))
	e.POST("/logout", handleLogout(p, g.cs, g.store, rec, cfg.BaseURL, log))
	e.POST("/backchannel-logout", handleBackchannelLogout(p, g.store, log))

	// The photos, through ImageHost's API.
	e.GET("/photos", handlePhotos(g))
	e.POST("/photos", handleUpload(g))
	e.GET("/photos/:id/image", handleImage(g))
	e.GET("/photos/:id/edit", handleEditPage(g))
	e.POST("/photos/:id/edit", handleEdit(g))
	e.POST("/photos/:id/delete", handleDelete(g))

	// Workshop mode: the flow inspector. Its buttons that act at ImageHost
	// are for connected browsers (or lab mode) only.
	atImageHost := connectedOrLab(g, lab)
	e.GET("/flow", handleInspector(p, g, rec))
	e.GET("/flow/export.md", handleExportMarkdown(g.cs, rec))
	e.GET("/flow/export.har", handleExportHAR(g.cs, rec))
	e.POST("/flow/expire", handleExpireNow(g), atImageHost)
	e.POST("/flow/reset", handleResetFlow(g.cs, rec))
	e.POST("/flow/attack/:name", handleAttack(p, g, rec, lab, cfg.LabAttacker), atImageHost)
	e.POST("/flow/machine", handleMachine(p, g, rec, cfg.MachineClientID, cfg.MachineClientSecret), atImageHost)

	// Lab mode only: the app's checks' switches, for this machine only.
	if lab != nil {
		e.GET("/lab", handleLab(g.cs, lab), loopbackOnly)
		e.POST("/lab", handleLab(g.cs, lab), loopbackOnly)
	}

	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServerFS(static.Files))))
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
}
