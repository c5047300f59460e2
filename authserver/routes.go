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
func addRoutes(mux *http.ServeMux, cfg Config, st store.Store, keys *signing.KeySet, apiTokens photos.TokenVerifier, work background, lab *labSwitches, now func() time.Time, log *slog.Logger) {
	activity, logouts := work.activity, work.logouts
	secure := cfg.secureCookies()
	sessions := loginSessions{store: st, now: now, ttl: cfg.SessionTTL, secure: secure}
	authz := authorizer{issuer: cfg.Issuer, store: st, sessions: sessions, now: now, codeTTL: cfg.CodeTTL, secure: secure,
		activity: activity, lab: lab, log: log, join: cfg.joining()}
	signOut := logoutEndpoint{issuer: cfg.Issuer, store: st, sessions: sessions, keys: keys, logouts: logouts, activity: activity, now: now, secure: secure, log: log}
	account := accountPage{store: st, sessions: sessions, activity: activity, now: now, secure: secure, log: log}
	console := developerConsole{issuer: cfg.Issuer, store: st, sessions: sessions, activity: activity, now: now, secure: secure, log: log}
	tokens := tokenIssuer{store: st, now: now, refreshTTL: cfg.RefreshTokenTTL, activity: activity, lab: lab, log: log,
		mint: minter{issuer: cfg.Issuer, audience: cfg.resource(), keys: keys, accessTTL: cfg.AccessTokenTTL, maxAccessTTL: cfg.MaxAccessTokenTTL, idTTL: cfg.IDTokenTTL}}
	checker := tokenChecker{issuer: cfg.Issuer, keys: keys, store: st, now: now, activity: activity, log: log}
	api := photos.API{Store: st, Tokens: apiTokens, Quota: store.Quota{Photos: cfg.MaxPhotosPerOwner, Bytes: cfg.MaxBytesPerOwner},
		Memory:           photos.NewMemory(photos.PhotoMemory, photos.PhotoMemoryShare, photos.PhotoMemoryWait),
		ResourceMetadata: cfg.Issuer + "/.well-known/oauth-protected-resource", Now: now, Log: log,
		Refused: func(ctx context.Context, subject, clientID, reason string) {
			activity.refused(ctx, "insufficient_scope at the photos API", subject, clientID, "", "photos API refused a request", reason)
		},
		Accepted: newAPICallLog(activity, now).accepted}
	throttle := newLoginThrottle(now)
	passwords := newPasswordChecker()
	class := classroom{store: st, sessions: sessions, activity: activity, now: now, secure: secure, maxAttendees: cfg.MaxAttendees, log: log}

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
	mux.Handle("POST /login", limitBody(formLimit, handleLogin(authz, throttle, passwords)))
	mux.Handle("GET /consent", handleConsentPage(authz))
	mux.Handle("POST /consent", limitBody(formLimit, handleConsent(authz)))
	mux.Handle("GET /logout", handleLogout(signOut))
	mux.Handle("POST /logout", limitBody(formLimit, handleLogout(signOut)))
	mux.Handle("GET /account", handleAccount(account))
	mux.Handle("POST /account/revoke", limitBody(formLimit, handleRevokeApp(account, logouts)))
	mux.Handle("GET /developer", handleDeveloper(console))
	mux.Handle("POST /developer/clients", limitBody(formLimit, handleCreateClient(console, cfg.MaxAccessTokenTTL, cfg.MaxClients, outboundPolicy(cfg))))
	mux.Handle("POST /developer/clients/{id}/rotate", limitBody(formLimit, handleRotateSecret(console)))
	mux.Handle("POST /developer/clients/{id}/delete", limitBody(formLimit, handleDeleteClient(console)))
	mux.Handle("GET /developer/clients/{id}/starter.go", handleStarter(console))

	// A workshop's room: attendees join with a code (join.go); the teacher
	// watches the class and manages attendees and the code (class.go,
	// attendees.go).
	if cfg.joining() {
		join := joiner{authz: authz, store: st, sessions: sessions, limits: newJoinThrottle(now), hasher: passwords.hasher,
			maxAttendees: cfg.MaxAttendees, activity: activity, now: now, secure: secure, log: log, samples: &samplePhotos{}}
		mux.Handle("GET /join", handleJoinPage(join))
		mux.Handle("POST /join", limitBody(formLimit, handleJoin(join)))
	}
	mux.Handle("GET /class", handleClass(class))
	mux.Handle("GET /class/data", handleClassData(class))
	mux.Handle("GET /class/attendees", handleAttendees(class))
	mux.Handle("POST /class/attendees/{id}/disable", limitBody(formLimit, handleSetAttendeeDisabled(class, true)))
	mux.Handle("POST /class/attendees/{id}/enable", limitBody(formLimit, handleSetAttendeeDisabled(class, false)))
	mux.Handle("POST /class/attendees/{id}/remove", limitBody(formLimit, handleRemoveAttendee(class)))
	mux.Handle("POST /class/join-code/rotate", limitBody(formLimit, handleRotateJoinCode(class)))
	mux.Handle("POST /class/join-code/close", limitBody(formLimit, handleCloseJoinCode(class)))

	// The back channel: clients' servers.
	mux.Handle("POST /token", limitBody(formLimit, handleToken(tokens)))
	mux.Handle("GET /userinfo", handleUserInfo(checker))
	mux.Handle("POST /userinfo", limitBody(formLimit, handleUserInfo(checker)))
	mux.Handle("POST /introspect", limitBody(formLimit, handleIntrospect(checker)))
	mux.Handle("POST /revoke", limitBody(formLimit, handleRevoke(checker)))
	if cfg.InitialAccessToken != "" {
		mux.Handle("POST /register", limitBody(jsonLimit, handleRegister(st, cfg.InitialAccessToken,
			store.RegistrationLimit{PerRegistrant: cfg.MaxRegisteredClients, Total: cfg.MaxClients}, cfg.RegisteredClientTTL, outboundPolicy(cfg), now, log)))
	}

	// The protected resource: the photos API.
	mux.Handle("GET /api/photos", api.Require(oauth.ScopePhotosRead, api.List()))
	mux.Handle("GET /api/photos/{id}", api.Require(oauth.ScopePhotosRead, api.Get()))
	mux.Handle("POST /api/photos", limitBody(photos.MaxUploadBytes, api.Require(oauth.ScopePhotosWrite, api.Upload())))
	mux.Handle("PUT /api/photos/{id}", limitBody(photos.MaxUploadBytes, api.Require(oauth.ScopePhotosWrite, api.Replace())))
	mux.Handle("DELETE /api/photos/{id}", api.Require(oauth.ScopePhotosWrite, api.Delete()))

	// Lab mode only: the defences' switches, for this machine's browser only.
	if lab != nil {
		mux.Handle("GET /lab", loopbackHostOnly(handleLab(lab, secure, log)))
		mux.Handle("POST /lab", loopbackHostOnly(limitBody(formLimit, handleLab(lab, secure, log))))
	}

	// Pages and files.
	mux.Handle("GET /{$}", handleHome(cfg.Issuer, sessions))
	mux.Handle("GET /docs/dropped-grants", handlePage(pages.DroppedGrants()))
	mux.Handle("GET /static/", http.FileServerFS(pages.Static))
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
	mux.Handle("/", handleNotFound(mux))
}
