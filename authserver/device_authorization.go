package main

// The device authorization endpoint: RFC 8628 §3.1 and §3.2. A device
// without a browser of its own (a command line, a TV) asks here for a pair
// of codes: a device code it keeps and polls the token endpoint with
// (grant_device.go), and a short user code the user types at /device on
// their phone or laptop (device.go).

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/throttle"
)

// The bounds of the device authorization endpoint (SECURITY.md lists them
// with their tests). Each request stores a row; without them anyone could
// fill the table, and with it the space of user codes an attacker's guess
// may hit (device.go).
const (
	// Device authorizations one address may request in deviceIssueWindow.
	deviceIssuesPerAddress = 30
	deviceIssueWindow      = 10 * time.Minute
	// userCodeTries is how often a new user code is drawn when the one
	// drawn is in use.
	userCodeTries = 5
	// deviceCapRetryAfter is when a device refused for the cap on pending
	// authorizations may ask again: some will have been answered or
	// expired by then.
	deviceCapRetryAfter = time.Minute
)

// deviceAuthorizer serves the device authorization endpoint.
type deviceAuthorizer struct {
	issuer     string
	store      deviceAuthorizationStore
	polls      *devicePolls
	perAddress throttle.Counter
	ttl        time.Duration
	interval   time.Duration
	maxPending int              // device authorizations awaiting an answer, at most, at once
	demo       publishedSecrets // good from this machine only
	now        func() time.Time
	log        *slog.Logger
}

// newDeviceAuthorizer builds the endpoint for cfg; polls is the token
// endpoint's table of the devices' pace, which each new device joins.
func newDeviceAuthorizer(cfg Config, st deviceAuthorizationStore, polls *devicePolls, limit attemptLimits, now func() time.Time, log *slog.Logger) deviceAuthorizer {
	return deviceAuthorizer{issuer: cfg.Issuer, store: st, polls: polls,
		perAddress: limit("device-issue-address", deviceIssuesPerAddress, deviceIssueWindow),
		ttl:        cfg.DeviceCodeTTL, interval: cfg.DevicePollInterval, maxPending: cfg.MaxPendingDeviceCodes, demo: publishedSecretsOf(cfg), now: now, log: log}
}

// deviceAuthorizationStore is what the endpoint does with storage: find the
// client, and store the device authorization.
type deviceAuthorizationStore interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	CreateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, maxPending int) error
}

// deviceAuthorizationResponse is RFC 8628 §3.2's response.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// handleDeviceAuthorization serves POST /device_authorization.
func handleDeviceAuthorization(da deviceAuthorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, e := da.authorize(w, r)
		if e != nil {
			da.log.InfoContext(r.Context(), "device authorization refused", "error", e.Code, "reason", e.Description)
			// RFC 8628 §3.2: "In the event of an error (such as an
			// invalidly configured client), the authorization server
			// responds in the same way as the token endpoint per Section
			// 5.2 of [RFC6749]."
			oauth.WriteError(w, e)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, resp)
	})
}

func (da deviceAuthorizer) authorize(w http.ResponseWriter, r *http.Request) (deviceAuthorizationResponse, *oauth.Error) {
	// RFC 8628 §3.1: "The client authentication requirements of Section
	// 3.2.1 of [RFC6749] apply to requests on this endpoint, which means
	// that confidential clients (those that have established client
	// credentials) authenticate in the same manner as when making requests
	// to the token endpoint, and public clients provide the "client_id"
	// parameter to identify themselves."
	form, client, e := clientRequest(r, da.store, da.demo)
	if e != nil {
		return deviceAuthorizationResponse{}, e
	}
	if !slices.Contains(client.GrantTypes, oauth.GrantTypeDeviceCode) {
		return deviceAuthorizationResponse{}, oauth.Errorf(oauth.CodeUnauthorizedClient, 400, "this client may not use the device authorization grant")
	}
	scope, ok := oauth.ParseScope(form.Get("scope"))
	allowed, _ := oauth.ParseScope(client.Scope)
	switch {
	case !ok:
		return deviceAuthorizationResponse{}, oauth.Errorf(oauth.CodeInvalidScope, 400, "the scope parameter is malformed")
	case len(scope) == 0:
		return deviceAuthorizationResponse{}, oauth.Errorf(oauth.CodeInvalidScope, 400, "the request asks for no scope")
	case !scope.SubsetOf(allowed):
		return deviceAuthorizationResponse{}, oauth.Errorf(oauth.CodeInvalidScope, 400, "this client may not ask for: %s", scope.Minus(allowed))
	}

	// Counted, and never taken back: each request stores a row.
	if _, wait, err := da.perAddress.Reserve(r.Context(), addressKey(r)); err != nil {
		da.log.ErrorContext(r.Context(), "count device authorization", "err", err)
		return deviceAuthorizationResponse{}, oauth.ServerError()
	} else if wait > 0 {
		countThrottled(w, limitDeviceAuthorization)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return deviceAuthorizationResponse{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusTooManyRequests,
			"too many device authorization requests from this address; try again later")
	}

	now := da.now()
	// RFC 8628 §5.2: "the device code SHOULD have high enough entropy" to
	// make guessing it infeasible: 256 bits, of which the store keeps only
	// the hash.
	deviceCode := oauth.NewToken()
	d := store.DeviceAuthorization{DeviceCodeHash: oauth.HashToken(deviceCode), ClientID: client.ID, Scope: scope.String(),
		Interval: da.interval, CreatedAt: now, ExpiresAt: now.Add(da.ttl), FlowRef: flowRef(deviceCode)}
	var err error
	for range userCodeTries {
		d.UserCode = oauth.NewUserCode()
		if err = da.store.CreateDeviceAuthorization(r.Context(), d, da.maxPending); !errors.Is(err, store.ErrDuplicate) {
			break
		}
	}
	switch {
	case errors.Is(err, store.ErrQuotaExceeded):
		da.log.WarnContext(r.Context(), "device authorization refused: too many pending", "max", da.maxPending)
		w.Header().Set("Retry-After", strconv.Itoa(int(deviceCapRetryAfter.Seconds())))
		return deviceAuthorizationResponse{}, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable,
			"too many device authorizations are waiting for an answer; try again later")
	case err != nil:
		da.log.ErrorContext(r.Context(), "create device authorization", "err", err)
		return deviceAuthorizationResponse{}, oauth.ServerError()
	}
	da.polls.start(d.DeviceCodeHash, client.ID, da.interval, now)
	da.log.InfoContext(r.Context(), "device authorization issued", "client_id", client.ID, "scope", d.Scope, "flow_ref", d.FlowRef)

	userCode := oauth.FormatUserCode(d.UserCode)
	verify := da.issuer + "/device"
	// RFC 8628 §3.2: verification_uri_complete "includes the "user_code"
	// (or other information with the same function as the "user_code"),
	// which is designed for non-textual transmission", such as a QR code.
	return deviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                userCode,
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {userCode}}.Encode(),
		ExpiresIn:               int(da.ttl.Seconds()),
		Interval:                int(da.interval.Seconds()),
	}, nil
}
