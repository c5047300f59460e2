package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/photos"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// Request body limits.
const (
	formLimit = 64 << 10 // every form and back-channel request
	jsonLimit = 64 << 10 // client registration
)

// addRoutes lists every endpoint of ImageHost.
func addRoutes(mux *http.ServeMux, cfg Config, st store.Store, keys *signing.KeySet, apiTokens photos.TokenVerifier, work background, lab *labSwitches, metrics *serverMetrics, now func() time.Time, log *slog.Logger) {
	activity, logouts := work.activity, work.logouts
	secure := cfg.secureCookies()
	names := newCookieNames(secure)
	sessions := loginSessions{store: st, now: now, ttl: cfg.SessionTTL, secure: secure, cookie: names.session}
	forms := formGuard{sign: signer{keys.CookieKey()}, names: names, secure: secure, sessions: sessions}
	mint := minter{issuer: cfg.Issuer, audience: cfg.resource(), keys: keys, accessTTL: cfg.AccessTokenTTL, maxAccessTTL: cfg.MaxAccessTokenTTL, idTTL: cfg.IDTokenTTL}
	authz := authorizer{issuer: cfg.Issuer, store: st, sessions: sessions, now: now, codeTTL: cfg.CodeTTL, forms: forms,
		activity: activity, lab: lab, mint: mint, log: log, join: cfg.joining(), upstreams: upstreamButtons(cfg)}
	signOut := logoutEndpoint{issuer: cfg.Issuer, store: st, sessions: sessions, keys: keys, logouts: logouts, activity: activity, now: now, forms: forms, log: log}
	account := accountPage{store: st, sessions: sessions, activity: activity, now: now, forms: forms, log: log}
	console := developerConsole{issuer: cfg.Issuer, store: st, sessions: sessions, activity: activity, now: now, forms: forms, log: log}
	// Forms that change something are taken only from ImageHost's own
	// pages (csrf.go); the back channel is not a browser's.
	own := func(h http.Handler) http.Handler { return sameOriginOnly(originOf(cfg.Issuer), h) }
	demo := publishedSecretsOf(cfg)
	browsers := knownBrowsers{sign: forms.sign, cookie: names.knownBrowser, secure: secure, now: now}
	limits := attemptLimitsFor(cfg, st, now) // shared by instances on one database (shared.go)
	polls := newDevicePolls(cfg.MaxPendingDeviceCodes)
	throttle := newLoginThrottle(limits)
	passwords := newPasswordChecker()
	tokenProofs, resourceProofs := dpopCheckers(cfg, st, keys, lab, now)
	tokens := tokenIssuer{store: st, now: now, refreshTTL: cfg.RefreshTokenTTL, activity: activity, lab: lab, demo: demo, log: log, devicePolls: polls,
		mint: mint, signIns: signInChecks{limits: throttle, passwords: passwords}, dpop: tokenProofs}
	devices := newDeviceAuthorizer(cfg, st, polls, limits, now, log)
	deviceUser := deviceVerifier{store: st, sessions: sessions, activity: activity, guesses: newDeviceGuessThrottle(limits), now: now, forms: forms, log: log}
	checker := tokenChecker{issuer: cfg.Issuer, keys: keys, store: st, now: now, activity: activity, demo: demo, log: log}
	api := photos.API{Store: st, Tokens: apiTokens, Quota: store.Quota{Photos: cfg.MaxPhotosPerOwner, Bytes: cfg.MaxBytesPerOwner},
		Memory:           photos.NewMemory(photos.PhotoMemory, photos.PhotoMemoryShare, photos.PhotoMemoryWait),
		ResourceMetadata: cfg.Issuer + "/.well-known/oauth-protected-resource", Now: now, Log: log, DPoP: resourceProofs,
		Refused: func(ctx context.Context, subject, clientID, reason string) {
			activity.refused(ctx, "insufficient_scope at the photos API", subject, clientID, "", "photos API refused a request", reason)
		},
		Accepted: newAPICallLog(activity, now).accepted}
	class := classroom{store: st, sessions: sessions, activity: activity, now: now, forms: forms, maxAttendees: cfg.MaxAttendees, log: log}
	federated := newFederation(cfg, st, authz, limits, throttle, passwords, browsers, demo)

	// Discovery and keys.
	mux.Handle("GET /.well-known/openid-configuration", handleJSONDocument(serverMetadata(cfg)))
	mux.Handle("GET /.well-known/oauth-authorization-server", handleJSONDocument(serverMetadata(cfg)))
	mux.Handle("GET /.well-known/oauth-protected-resource", handleJSONDocument(resourceMetadata(cfg)))
	mux.Handle("GET /.well-known/oauth-protected-resource/api", handleJSONDocument(resourceMetadata(cfg)))
	mux.Handle("GET /jwks", handleJWKS(keys))

	// The front channel: the user's browser.
	mux.Handle("GET /authorize", handleAuthorize(authz))
	mux.Handle("POST /authorize", limitBody(formLimit, handleAuthorize(authz)))
	mux.Handle("GET /login", handleLoginPage(authz))
	mux.Handle("POST /login", own(limitBody(formLimit, handleLogin(authz, throttle, passwords, browsers, demo))))
	mux.Handle("GET /consent", handleConsentPage(authz))
	mux.Handle("POST /consent", own(limitBody(formLimit, handleConsent(authz))))
	mux.Handle("GET /logout", handleLogout(signOut))
	mux.Handle("POST /logout", own(limitBody(formLimit, handleLogout(signOut))))
	mux.Handle("GET /account", handleAccount(account))
	mux.Handle("POST /account/revoke", own(limitBody(formLimit, handleRevokeApp(account, logouts))))
	mux.Handle("GET /device", handleDevicePage(deviceUser))
	mux.Handle("POST /device", own(limitBody(formLimit, handleDeviceCode(deviceUser))))
	mux.Handle("POST /device/decision", own(limitBody(formLimit, handleDeviceDecision(deviceUser))))
	mux.Handle("GET /developer", handleDeveloper(console))
	mux.Handle("POST /developer/clients", own(limitBody(formLimit, handleCreateClient(console, cfg.MaxAccessTokenTTL, cfg.MaxClients, outboundPolicy(cfg)))))
	mux.Handle("POST /developer/clients/{id}/rotate", own(limitBody(formLimit, handleRotateSecret(console))))
	mux.Handle("POST /developer/clients/{id}/delete", own(limitBody(formLimit, handleDeleteClient(console))))
	mux.Handle("GET /developer/clients/{id}/starter.go", handleStarter(console))
	if len(cfg.Upstreams) > 0 { // signing in through an upstream OpenID provider
		mux.Handle("POST /upstream/{name}/start", own(limitBody(formLimit, handleUpstreamStart(federated))))
		mux.Handle("GET /upstream/{name}/callback", handleUpstreamCallback(federated))
		mux.Handle("GET /upstream/link", handleUpstreamLinkPage(federated))
		mux.Handle("POST /upstream/link", own(limitBody(formLimit, handleUpstreamLink(federated))))
	}

	// A workshop's room: attendees join with a code (join.go); the teacher
	// watches the class and manages attendees and the code (class.go,
	// attendees.go).
	if cfg.joining() {
		join := joiner{authz: authz, store: st, sessions: sessions, limits: newJoinThrottle(limits), hasher: passwords.hasher,
			maxAttendees: cfg.MaxAttendees, activity: activity, now: now, forms: forms, browsers: browsers, log: log, samples: &samplePhotos{}}
		mux.Handle("GET /join", handleJoinPage(join))
		mux.Handle("POST /join", own(limitBody(formLimit, handleJoin(join))))
	}
	mux.Handle("GET /class", handleClass(class))
	mux.Handle("GET /class/data", handleClassData(class))
	mux.Handle("GET /class/attendees", handleAttendees(class))
	mux.Handle("POST /class/attendees/{id}/disable", own(limitBody(formLimit, handleSetAttendeeDisabled(class, true))))
	mux.Handle("POST /class/attendees/{id}/enable", own(limitBody(formLimit, handleSetAttendeeDisabled(class, false))))
	mux.Handle("POST /class/attendees/{id}/remove", own(limitBody(formLimit, handleRemoveAttendee(class))))
	mux.Handle("POST /class/join-code/rotate", own(limitBody(formLimit, handleRotateJoinCode(class))))
	mux.Handle("POST /class/join-code/close", own(limitBody(formLimit, handleCloseJoinCode(class))))

	// The back channel: clients' servers.
	mux.Handle("POST /device_authorization", limitBody(formLimit, handleDeviceAuthorization(devices)))
	mux.Handle("POST /token", limitBody(formLimit, handleToken(tokens)))
	mux.Handle("GET /userinfo", handleUserInfo(checker, resourceProofs))
	mux.Handle("POST /userinfo", limitBody(formLimit, handleUserInfo(checker, resourceProofs)))
	mux.Handle("POST /introspect", limitBody(formLimit, handleIntrospect(checker)))
	mux.Handle("POST /revoke", limitBody(formLimit, handleRevoke(checker, tokenProofs)))
	if cfg.InitialAccessToken != "" {
		mux.Handle("POST /register", limitBody(jsonLimit, handleRegister(st, cfg.InitialAccessToken,
			store.RegistrationLimit{PerRegistrant: cfg.MaxRegisteredClients, Total: cfg.MaxClients}, cfg.RegisteredClientTTL, demo, outboundPolicy(cfg), now, log)))
	}

	// The protected resource: the photos API.
	mux.Handle("GET /api/photos", api.Require(oauth.ScopePhotosRead, api.List()))
	mux.Handle("GET /api/photos/{id}", api.Require(oauth.ScopePhotosRead, api.Get()))
	mux.Handle("POST /api/photos", limitBody(photos.MaxUploadBytes, api.Require(oauth.ScopePhotosWrite, api.Upload())))
	mux.Handle("PUT /api/photos/{id}", limitBody(photos.MaxUploadBytes, api.Require(oauth.ScopePhotosWrite, api.Replace())))
	mux.Handle("DELETE /api/photos/{id}", api.Require(oauth.ScopePhotosWrite, api.Delete()))

	// Lab mode only: the defences' switches, for this machine's browser only.
	if lab != nil {
		mux.Handle("GET /lab", localOnly(handleLab(lab, forms, log)))
		mux.Handle("POST /lab", own(localOnly(limitBody(formLimit, handleLab(lab, forms, log)))))
	}

	// Pages and files.
	mux.Handle("GET /{$}", handleHome(cfg.Issuer, sessions))
	mux.Handle("GET /docs/dropped-grants", handlePage(pages.DroppedGrants()))
	mux.Handle("GET /static/", http.FileServerFS(pages.Static))
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(st, log))
	mux.Handle("GET /metrics", handleMetrics(metrics, cfg.MetricsToken))
	mux.Handle("/", handleNotFound(mux))
}
