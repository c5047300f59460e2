package main

import (
	"log/slog"
	"net/http"
	"time"

	"oauthdemo/authserver/photos"
	"oauthdemo/authserver/revocation"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// newServer wires ImageHost's handlers into one http.Handler. Every
// dependency comes in as a parameter; nothing is global.
func newServer(cfg Config, st store.Store, keys *signing.KeySet, apiTokens photos.TokenVerifier, revoked *revocation.Set, work background, now func() time.Time, log *slog.Logger) http.Handler {
	metrics := newServerMetrics(st) // a registry per server (metrics.go)
	// Every revocation a handler makes reaches the photos API's revocation
	// list before the handler goes on (revocation.Tracking).
	st = revocation.Tracking(st, revoked)
	mux := http.NewServeMux()
	var lab *labSwitches
	if cfg.Lab {
		lab = newLabSwitches()
	}
	addRoutes(mux, cfg, st, keys, apiTokens, work, lab, metrics, now, log)
	h := metrics.instrument(mux)
	if lab != nil {
		h = withLabBanner(h)
	}
	h = withRequestSource(cfg.TrustedProxies, loopbackOnly(cfg.Addr), h)
	return withRequestLog(log, withInstance(cfg.Instance, withSecurityHeaders(h)))
}
