package main

// GET /metrics: what an operator watches, in Prometheus's text format
// (github.com/prometheus/client_golang). Each server has a registry of its
// own, made in newServer; nothing registers with the library's global
// default registry.
//
// What is counted:
//   - photoeditor_http_requests_total{route,code} and
//     photoeditor_http_request_duration_seconds{route}: every request, by
//     the route that served it ("/photos/:id/edit"), never by its path;
//   - photoeditor_token_requests_total{grant_type,code}: the app's requests
//     to ImageHost's token endpoint, by grant type and the status of the
//     answer: refresh_token ones are the refreshes, an answer of 400 to one
//     is a refresh ImageHost refused (the user must connect again);
//   - photoeditor_db_*{pool}: the database's connection pool;
//   - the Go runtime's and the process's figures.
//
// Who may read them: with PHOTOEDITOR_METRICS_TOKEN set, the bearer of
// that token; without it, local requests only (source.go).

import (
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// appMetrics is one server's registry and what it counts.
type appMetrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
}

// newAppMetrics makes a registry with the app's metrics, the runtime's
// and, if db keeps connection pools, theirs.
func newAppMetrics(db any) *appMetrics {
	m := &appMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "photoeditor_http_requests_total",
			Help: "HTTP requests answered, by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "photoeditor_http_request_duration_seconds",
			Help: "How long requests took to answer, by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "photoeditor_token_requests_total",
			Help: "Requests to ImageHost's token endpoint, by grant type and the answer's status code; refresh_token ones are refreshes."},
			[]string{"grant_type", "code"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.tokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pools := poolsOf(db); pools != nil {
		m.registry.MustRegister(newPoolCollector(pools))
	}
	return m
}

// middleware counts every request. It runs outside requestLog, which hands
// a handler's error to the error handler, so the status it reads is the
// one the browser got.
func (m *appMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path() // the route as registered: "/photos/:id/edit"
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(c.Response().Status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return err
	}
}

// countTokenRequests wraps the app's transport to ImageHost: a POST whose
// form has a grant_type is a token request (RFC 6749 §3.2), counted by its
// grant type and the status of the answer. x/oauth2 sends the form from a
// strings.Reader, which the request can give again (GetBody): the form is
// read from a copy, never from what goes out.
func (m *appMetrics) countTokenRequests(base http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		grantType := ""
		if req.Method == http.MethodPost && req.GetBody != nil &&
			strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if body, err := req.GetBody(); err == nil {
				form, _ := io.ReadAll(io.LimitReader(body, 64<<10))
				body.Close()
				if v, err := url.ParseQuery(string(form)); err == nil {
					grantType = v.Get("grant_type")
				}
			}
		}
		resp, err := base.RoundTrip(req)
		if grantType != "" {
			code := "error"
			if err == nil {
				code = strconv.Itoa(resp.StatusCode)
			}
			m.tokens.WithLabelValues(boundedLabel(grantType), code).Inc()
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// boundedLabel keeps a label to what a grant type of the app's looks like,
// so that no answer adds a series: lower case words, at most 40 characters;
// the device grant's URN is not one the app uses.
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

// handleMetrics serves GET /metrics to whoever may read it: the bearer of
// token when there is one, else a local request only.
func handleMetrics(m *appMetrics, token string) echo.HandlerFunc {
	serve := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	want := sha256.Sum256([]byte(token))
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		if token != "" {
			// Compared as hashes, in constant time.
			bearer, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
			got := sha256.Sum256([]byte(bearer))
			if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="photoeditor-metrics"`)
				return c.String(http.StatusUnauthorized, "the metrics need the operator's token\n")
			}
		} else if !isLocal(c) {
			return c.String(http.StatusForbidden, "the metrics answer on this machine only (or set PHOTOEDITOR_METRICS_TOKEN)\n")
		}
		serve.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// withInstance names the instance that answers in every response
// (X-Instance), so that an operator, or a test, can tell which of several
// instances behind a load balancer a request reached.
func withInstance(name string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if name != "" {
				c.Response().Header().Set("X-Instance", name)
			}
			return next(c)
		}
	}
}

// poolFigures are one connection pool's figures at a moment.
type poolFigures struct {
	max, inUse, idle int
	waits            int64         // acquisitions that had to wait for a connection, so far
	waited           time.Duration // how long they waited, together
}

// poolsOf returns how to read db's connection pools by name, or nil if it
// keeps none it tells of: a pgxpool pool (Stat) or database/sql pools
// (PoolStats).
func poolsOf(db any) func() map[string]poolFigures {
	switch db := db.(type) {
	case interface{ Stat() *pgxpool.Stat }:
		return func() map[string]poolFigures {
			s := db.Stat()
			return map[string]poolFigures{"pgx": {max: int(s.MaxConns()), inUse: int(s.AcquiredConns()),
				idle: int(s.IdleConns()), waits: s.EmptyAcquireCount(), waited: s.EmptyAcquireWaitTime()}}
		}
	case interface{ PoolStats() map[string]sql.DBStats }:
		return func() map[string]poolFigures {
			out := map[string]poolFigures{}
			for name, s := range db.PoolStats() {
				out[name] = poolFigures{max: s.MaxOpenConnections, inUse: s.InUse, idle: s.Idle, waits: s.WaitCount, waited: s.WaitDuration}
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
		max:    prometheus.NewDesc("photoeditor_db_max_connections", "The most connections the pool may open.", []string{"pool"}, nil),
		conns:  prometheus.NewDesc("photoeditor_db_connections", "The pool's open connections, in use or idle.", []string{"pool", "state"}, nil),
		waits:  prometheus.NewDesc("photoeditor_db_waits_total", "Times a request waited for a connection, all being in use.", []string{"pool"}, nil),
		waited: prometheus.NewDesc("photoeditor_db_wait_seconds_total", "How long requests waited for a connection, together.", []string{"pool"}, nil),
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
