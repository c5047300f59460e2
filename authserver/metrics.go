package main

// GET /metrics: what an operator watches, in Prometheus's text format
// (github.com/prometheus/client_golang). Each server has a registry of its
// own, made in newServer; nothing registers with the library's global
// default registry, so two servers in one process (the tests) count apart.
//
// What is counted:
//   - imagehost_http_requests_total{route,code} and
//     imagehost_http_request_duration_seconds{route}: every request, by the
//     route pattern that served it ("POST /token"), never by its path, so
//     that made-up paths cannot grow the series;
//   - imagehost_tokens_issued_total{grant_type}: token responses given;
//   - imagehost_refusals_total{error}: responses carrying an OAuth error
//     code, by code (invalid_grant, invalid_token, slow_down, ...), told by
//     each channel's one error writer (oauth.ObserveRefusal);
//   - imagehost_throttled_total{limit}: requests refused by a limit on
//     attempts: sign-ins, user codes typed at /device, device
//     authorizations, joins, sign-ins started through an upstream
//     provider;
//   - imagehost_db_*{pool}: the database connection pools (pgxpool on
//     PostgreSQL; SQLite's writer and readers);
//   - the Go runtime's and the process's figures.
//
// Who may read them: the figures tell how busy ImageHost is and what it
// refuses, which is nobody's business outside. With
// IMAGEHOST_METRICS_TOKEN set, a request must carry it as a bearer token
// (a scraper elsewhere); without it, only a local request is answered
// (clientaddr.go: a loopback listener, a loopback peer, no proxy).

import (
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"oauthdemo/authserver/oauth"
)

// serverMetrics is one server's registry and what it counts.
type serverMetrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	issued    *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

// newServerMetrics makes a registry with ImageHost's metrics, the runtime's
// and, if db keeps connection pools, theirs.
func newServerMetrics(db any) *serverMetrics {
	m := &serverMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imagehost_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "imagehost_http_request_duration_seconds",
			Help: "How long requests took to answer, by route pattern.", Buckets: prometheus.DefBuckets}, []string{"route"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imagehost_tokens_issued_total",
			Help: "Token responses given at the token endpoint, by grant type."}, []string{"grant_type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imagehost_refusals_total",
			Help: "Responses that carry an OAuth error, by its code."}, []string{"error"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imagehost_throttled_total",
			Help: "Requests refused by a limit on attempts, by limit."}, []string{"limit"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.issued, m.refusals, m.throttled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pools := poolsOf(db); pools != nil {
		m.registry.MustRegister(newPoolCollector(pools))
	}
	return m
}

// instrument counts every request that mux serves. It must wrap the mux
// itself: the mux sets the request's Pattern on the *http.Request it was
// given, which this reads once the handler is done.
func (m *serverMetrics) instrument(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &metricsRecorder{statusRecorder: statusRecorder{ResponseWriter: w}, m: m}
		mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// metricsRecorder is the ResponseWriter the handlers write to: it keeps the
// status (statusRecorder, middleware.go), and hears what the response says
// (a refusal's code, the grant type of issued tokens, a throttle) from the
// writers that know.
type metricsRecorder struct {
	statusRecorder
	m *serverMetrics
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rec *metricsRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// ObserveRefusal counts a refusal (oauth.RefusalObserver).
func (rec *metricsRecorder) ObserveRefusal(code string) {
	rec.m.refusals.WithLabelValues(boundedLabel(code)).Inc()
}

// boundedLabel keeps a label to what an OAuth error code or a grant type
// of ImageHost's looks like: lower case words, at most 40 characters
// (RFC 6749 §5.2). They come from ImageHost's constants, never from the
// request; this keeps it that way, so that no request adds a series.
func boundedLabel(s string) string {
	if len(s) == 0 || len(s) > 40 {
		return "other"
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return "other"
		}
	}
	return s
}

// countIssued counts a token response for grantType, if w counts.
func countIssued(w http.ResponseWriter, grantType string) {
	if rec, ok := w.(*metricsRecorder); ok {
		if grantType == oauth.GrantTypeDeviceCode {
			grantType = "device_code" // its URN, shorter
		}
		rec.m.issued.WithLabelValues(boundedLabel(grantType)).Inc()
	}
}

// Limits on attempts, as the throttled metric names them.
const (
	limitSignIn              = "sign-in"
	limitDeviceCode          = "device-code"
	limitDeviceAuthorization = "device-authorization"
	limitJoin                = "join"
	limitUpstreamStart       = "upstream-start"
)

// countThrottled counts a request that limit refused, if w counts.
func countThrottled(w http.ResponseWriter, limit string) {
	if rec, ok := w.(*metricsRecorder); ok {
		rec.m.throttled.WithLabelValues(limit).Inc()
	}
}

// handleMetrics serves GET /metrics to whoever may read it: the bearer of
// token when there is one, else a local request only. A refusal says no
// more than that.
func handleMetrics(m *serverMetrics, token string) http.Handler {
	serve := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if token != "" {
			// Compared as hashes, in constant time: the length of the
			// token does not show either.
			bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			got := sha256.Sum256([]byte(bearer))
			if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="imagehost-metrics"`)
				http.Error(w, "the metrics need the operator's token", http.StatusUnauthorized)
				return
			}
		} else if !isLocal(r) {
			http.Error(w, "the metrics answer on this machine only (or set IMAGEHOST_METRICS_TOKEN)", http.StatusForbidden)
			return
		}
		serve.ServeHTTP(w, r)
	})
}

// poolFigures are one connection pool's figures at a moment.
type poolFigures struct {
	max, inUse, idle int
	waits            int64         // acquisitions that had to wait for a connection, so far
	waited           time.Duration // how long they waited, together
}

// poolsOf returns how to read db's connection pools by name, or nil if it
// keeps none it tells of.
func poolsOf(db any) func() map[string]poolFigures {
	switch db := db.(type) {
	case interface{ Stat() *pgxpool.Stat }: // the PostgreSQL store
		return func() map[string]poolFigures {
			s := db.Stat()
			return map[string]poolFigures{"pgx": {max: int(s.MaxConns()), inUse: int(s.AcquiredConns()),
				idle: int(s.IdleConns()), waits: s.EmptyAcquireCount(), waited: s.EmptyAcquireWaitTime()}}
		}
	case interface{ PoolStats() map[string]sql.DBStats }: // the SQLite store
		return func() map[string]poolFigures {
			out := map[string]poolFigures{}
			for name, s := range db.PoolStats() {
				out[name] = poolFigures{max: s.MaxOpenConnections, inUse: s.InUse, idle: s.Idle,
					waits: s.WaitCount, waited: s.WaitDuration}
			}
			return out
		}
	}
	return nil
}

// poolCollector reads the pools' figures when /metrics is asked.
type poolCollector struct {
	pools                     func() map[string]poolFigures
	max, conns, waits, waited *prometheus.Desc
}

func newPoolCollector(pools func() map[string]poolFigures) poolCollector {
	return poolCollector{pools: pools,
		max: prometheus.NewDesc("imagehost_db_max_connections",
			"The most connections the pool may open.", []string{"pool"}, nil),
		conns: prometheus.NewDesc("imagehost_db_connections",
			"The pool's open connections, in use or idle.", []string{"pool", "state"}, nil),
		waits: prometheus.NewDesc("imagehost_db_waits_total",
			"Times a request waited for a connection, all being in use.", []string{"pool"}, nil),
		waited: prometheus.NewDesc("imagehost_db_wait_seconds_total",
			"How long requests waited for a connection, together.", []string{"pool"}, nil),
	}
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.max
	ch <- c.conns
	ch <- c.waits
	ch <- c.waited
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, f := range c.pools() {
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(f.max), name)
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(f.inUse), name, "in_use")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(f.idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(f.waits), name)
		ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, f.waited.Seconds(), name)
	}
}
