package main

// Health checks, for a load balancer or an orchestrator, and the name of
// the instance that answered. /healthz is liveness: the process runs and
// answers, so there is no reason to restart it. /readyz is readiness: the
// database answers, so this instance can serve a request now; while it
// answers 503, a load balancer sends requests to the other instances.

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// readyzTimeout bounds the check, well within a load balancer's own.
const readyzTimeout = 2 * time.Second

// pinger is what readiness asks: the store.
type pinger interface {
	Ping(ctx context.Context) error
}

// handleReadyz serves GET /readyz. The cause of a failure goes to the log,
// never into the answer.
func handleReadyz(db pinger, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
		defer cancel()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := db.Ping(ctx); err != nil {
			log.WarnContext(ctx, "not ready: the database does not answer", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
}

// handleHealthz serves GET /healthz.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
}

// withInstance names the instance that answers in every response
// (X-Instance), so that an operator, or a test, can tell which of several
// instances behind a load balancer a request reached. An empty name sends
// no header.
func withInstance(name string, next http.Handler) http.Handler {
	if name == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance", name)
		next.ServeHTTP(w, r)
	})
}
