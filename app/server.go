package main

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"oauthdemo/app/dpop"
	"oauthdemo/app/flow"
	"oauthdemo/app/imagehost"
	"oauthdemo/app/photoedit"
)

// newServer wires PhotoEditorApp: middleware, then the routes.
func newServer(cfg Config, db database, authKey, encKey []byte, httpClient *http.Client, now func() time.Time, log *slog.Logger) *echo.Echo {
	cs := newCookieSessions(authKey, encKey, cfg.secureCookies())
	// Workshop mode records the back-channel exchanges of each browser's
	// flow, as they pass through the app's HTTP client; under the recorder,
	// no answer may be longer than maxResponseBytes.
	rec := flow.NewRecorderIn(db.recordings, now, log)
	metrics := newAppMetrics(db.pools) // a registry per server (metrics.go)
	recording := *httpClient
	base := httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// Above the recorder, a request made with a session's DPoP key gets a
	// proof (dpop.go), and the recording shows it, and a nonce retry as an
	// exchange of its own.
	recording.Transport = &dpop.Transport{Now: now,
		Base: &flow.Transport{Base: boundedTransport{base: metrics.countTokenRequests(base), max: maxResponseBytes}, Recorder: rec}}
	httpClient = &recording
	p := &provider{issuer: cfg.Issuer, clientID: cfg.ClientID, clientSecret: cfg.ClientSecret,
		redirectURI: cfg.redirectURI(), http: httpClient, now: now, keys: newDPoPKeys(cfg.DPoP, encKey, log)}
	conns := connections{cs: cs, store: db.sessions, keeper: &tokenKeeper{store: db.sessions, provider: p, now: now}}
	g := gallery{connections: conns, api: imagehost.Client{BaseURL: cfg.PhotosAPI, HTTP: httpClient},
		editor:    photoedit.NewEditor(photoedit.Limits{Slots: editSlots, Memory: editMemory, Wait: editWait}),
		transfers: newTransfers(transferBytes, transferWait)}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// c.RealIP() is the client's address, taken from X-Forwarded-For only
	// from a trusted proxy (source.go): echo's default believes the header
	// from anyone.
	e.IPExtractor = cfg.TrustedProxies.clientAddr
	e.HTTPErrorHandler = newErrorHandler(cs, log)
	e.Use(middleware.RequestID())
	e.Use(withInstance(cfg.Instance), metrics.middleware)
	e.Use(requestLog(log))
	e.Use(middleware.Recover())
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		ContentTypeNosniff: "nosniff",
		XFrameOptions:      "DENY",
		ReferrerPolicy:     "no-referrer",
		// Forms may lead to ImageHost: Connect and Log out redirect there,
		// and browsers apply form-action to a form's redirects too.
		ContentSecurityPolicy: "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; " +
			"form-action 'self' " + origin(cfg.Issuer) + "; frame-ancestors 'none'; base-uri 'none'",
	}))
	e.Use(middleware.BodyLimit("11M"))
	e.Use(withLocality(loopbackAddr(cfg.Addr)))
	e.Use(flowContext(cs))
	var lab *labSwitches
	kit := attackKit{p: p, conns: conns, rec: rec, photosAPI: cfg.PhotosAPI,
		expiry: clientCredentials{id: cfg.ExpiryClientID, secret: cfg.ExpiryClientSecret}}
	if cfg.Lab {
		lab = newLabSwitches()
		kit.attacker = cfg.LabAttacker
		e.Use(labBanner, labPolicy(lab))
	}
	// Uploads are spooled to disk before the form is read (photos.go); the
	// CSRF check reads the form.
	e.Use(spoolUploads(g.transfers))
	// ImageHost posts logout tokens server to server: no browser, no
	// cookie; the signed token is the proof.
	e.Use(csrfProtection(cs, origin(cfg.BaseURL), "/backchannel-logout"))
	addRoutes(e, cfg, p, db.sessions, db.ready, g, kit, rec, lab, metrics, log)
	return e
}

// origin is scheme://host of a URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// requestLog logs each request once, with its id. Only the path: query
// strings carry codes and state.
func requestLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			req := c.Request()
			path := req.URL.Path
			if strings.HasPrefix(path, "/static/") && c.Response().Status < 400 {
				return nil
			}
			log.InfoContext(req.Context(), "request", "method", req.Method, "path", path, "ip", c.RealIP(), "status", c.Response().Status,
				"duration", time.Since(start).Round(time.Microsecond), "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			return nil
		}
	}
}
