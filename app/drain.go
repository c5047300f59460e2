package main

// Draining: an instance on its way out behind a load balancer. Closing the
// listener at once on SIGTERM, as http.Server.Shutdown does, is a race with
// the load balancer: until its health checks notice, it goes on sending
// requests to an address that refuses them, or, worse, onto a kept-alive
// connection that the shutdown is closing under them, which it cannot
// safely retry unless the request is idempotent. With a shutdown delay, an
// instance told to stop first goes on serving as before, but answers
// /readyz with 503; the load balancer takes it out of rotation, and only
// then does the listener close and the requests under way finish.

import (
	"net/http"
	"sync/atomic"
	"time"
)

// maxShutdownDelay bounds the delay: a service manager kills a process
// that takes too long to stop (systemd after 90 s, Kubernetes after 30 s),
// and the requests under way still need their shutdownGrace after it.
const maxShutdownDelay = 15 * time.Second

// drain is whether this instance is draining: told to stop, still serving.
type drain struct{ on atomic.Bool }

// start marks the instance as draining, for good.
func (d *drain) start() { d.on.Store(true) }

// readiness answers GET /readyz with 503 while the instance drains, for
// every instance behind one load balancer to see the same thing: not
// ready, whatever the database says. Everything else, and /readyz before
// the drain, goes to next.
func (d *drain) readiness(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && d.on.Load() {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("shutting down\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
