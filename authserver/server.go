package main

import (
	"log/slog"
	"net/http"
	"time"

	"oauthdemo/authserver/photos"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// newServer wires ImageHost's handlers into one http.Handler. Every
// dependency comes in as a parameter; nothing is global.
func newServer(cfg Config, st store.Store, keys *signing.KeySet, apiTokens photos.TokenVerifier, activity *activityLog, now func() time.Time, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, cfg, st, keys, apiTokens, activity, now, log)
	return withRequestLog(log, withSecurityHeaders(mux))
}
