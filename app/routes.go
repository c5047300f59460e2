package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
	"oauthdemo/static"
)

// addRoutes lists every endpoint of PhotoEditorApp.
func addRoutes(e *echo.Echo, cfg Config, p *provider, store tokenstore.Store, ready func(context.Context) error, g gallery, kit attackKit, rec *flow.Recorder, lab *labSwitches, metrics *appMetrics, log *slog.Logger) {
	conns := g.connections
	e.GET("/", handleHome(conns))

	// The OAuth flow; workshop mode records its front channel, and the
	// attack demonstrations take the answers to their own logins.
	e.POST("/connect", handleConnect(p, conns.cs), recordConnect(rec, conns.cs, cfg.BaseURL))
	e.GET("/callback", handleCallback(p, conns.cs, store, log), recordCallback(rec, conns.cs, cfg.BaseURL), attackCallbacks(kit))
	e.POST("/disconnect", handleDisconnect(p, conns.cs, store, rec, log))
	e.POST("/logout", handleLogout(p, conns.cs, store, rec, cfg.BaseURL, log))
	e.POST("/backchannel-logout", handleBackchannelLogout(p, store, log))

	// The photos, through ImageHost's API; an id ImageHost never gives is
	// a 404 before anything else (photoIDs).
	e.GET("/photos", handlePhotos(g))
	e.POST("/photos", handleUpload(g))
	e.GET("/photos/:id/image", handleImage(g), photoIDs)
	e.GET("/photos/:id/edit", handleEditPage(g), photoIDs)
	e.POST("/photos/:id/edit", handleEdit(g), photoIDs)
	e.POST("/photos/:id/delete", handleDelete(g), photoIDs)

	// Workshop mode: the flow inspector. Its buttons that act at ImageHost
	// are for connected browsers (or lab mode) only.
	atImageHost := connectedOrLab(conns, lab)
	e.GET("/flow", handleInspector(p, conns, rec))
	e.GET("/flow/export.md", handleExportMarkdown(conns.cs, rec))
	e.GET("/flow/export.har", handleExportHAR(conns.cs, rec))
	e.POST("/flow/expire", handleExpireNow(conns), atImageHost)
	e.POST("/flow/reset", handleResetFlow(conns.cs, rec))
	e.POST("/flow/attack/:name", handleAttack(kit), atImageHost)
	e.POST("/flow/machine", handleMachine(p, conns, g.api, cfg.MachineClientID, cfg.MachineClientSecret), atImageHost)

	// Lab mode only: the app's checks' switches, for this machine only.
	if lab != nil {
		e.GET("/lab", handleLab(conns.cs, lab, cfg.LabLegacyClientID != ""), localOnly)
		e.POST("/lab", handleLab(conns.cs, lab, cfg.LabLegacyClientID != ""), localOnly)
	}
	// Lab mode only: the legacy grants, demonstrated (legacy*.go).
	if lab != nil && cfg.LabLegacyClientID != "" {
		legacy := legacyKit{p: p, cs: conns.cs, rec: rec, api: g.api, clientID: cfg.LabLegacyClientID, baseURL: cfg.BaseURL}
		e.POST(implicitPath, handleImplicitStart(legacy), localOnly)
		e.GET(implicitPath, handleImplicitLanding(legacy), localOnly)
		e.POST(implicitPath+"/token", handleImplicitToken(legacy), localOnly)
		e.GET("/lab/legacy/implicit.js", handleScript(implicitScript), localOnly)
		e.GET("/lab/legacy/analytics.js", handleScript(analyticsScript), localOnly)
		e.GET(analyticsPath, handleAnalytics(legacy), localOnly)
		e.GET(passwordPath, handlePasswordForm(legacy), localOnly)
		e.POST(passwordPath, handlePasswordGrant(legacy), localOnly)
	}

	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServerFS(static.Files))))
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", handleReadyz(ready, log))
	e.GET("/metrics", handleMetrics(metrics, cfg.MetricsToken))
}
