package main

// OpenID Connect Back-Channel Logout 1.0: when a user signs out of ImageHost
// or revokes an app, ImageHost tells each app that registered a
// backchannel_logout_uri by posting it a signed logout token, server to
// server, so the app can end its own session even though its cookie lives on.
// Only apps that hold a grant of the user are told. The URL is the
// registrant's choice, so the request goes through outbound's guard: no
// private or link-local address, no redirect, a small answer, a time limit,
// and a cap on how many are in flight.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// backchannelLogoutEvent is the event member a logout token must carry (§2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutTokenClaims are Back-Channel Logout §2.4's claims. A logout token
// has no nonce, so it can never be mistaken for an ID token.
type logoutTokenClaims struct {
	Issuer   string                    `json:"iss"`
	Subject  string                    `json:"sub,omitempty"`
	Audience jwt.Audience              `json:"aud"`
	IssuedAt *jwt.NumericDate          `json:"iat"`
	Expiry   *jwt.NumericDate          `json:"exp"`
	ID       string                    `json:"jti"`
	Events   map[string]map[string]any `json:"events"`
	SID      string                    `json:"sid,omitempty"`
}

// Limits on back-channel logout, whose URLs outsiders register.
const (
	// backchannelTimeout ends one request, response body included.
	backchannelTimeout = 3 * time.Second
	// backchannelTimeLimit ends one sign-out's notifications, waiting
	// for a slot included: the user is not kept waiting longer.
	backchannelTimeLimit = 5 * time.Second
	// backchannelSlots is how many notifications may be in flight at
	// once, across all sign-outs: a burst of them cannot turn ImageHost
	// into a flood of outbound requests.
	backchannelSlots = 8
	// backchannelMaxBody is as much of an answer as is read: enough to
	// reuse the connection, too little to be a burden.
	backchannelMaxBody = 4 << 10
)

// backchannel sends logout tokens.
type backchannel struct {
	issuer string
	keys   *signing.KeySet
	store  store.Store
	http   *http.Client  // from outboundPolicy: no redirects, no private addresses
	slots  chan struct{} // one per notification in flight; shared by every request
	now    func() time.Time
	log    *slog.Logger
}

// newBackchannel makes the one back-channel sender of a server.
func newBackchannel(cfg Config, keys *signing.KeySet, st store.Store, now func() time.Time, log *slog.Logger) backchannel {
	return backchannel{issuer: cfg.Issuer, keys: keys, store: st, http: outboundPolicy(cfg).Client(backchannelTimeout),
		slots: make(chan struct{}, backchannelSlots), now: now, log: log}
}

// outboundPolicy is where ImageHost may send requests to URLs that clients
// registered. This machine's loopback only when ImageHost itself is served
// on loopback, as in the demo, where the apps run next to it: a server
// reachable from elsewhere must not let an outsider aim it at its own admin
// ports. Private networks only when the operator allows a LAN
// (IMAGEHOST_ALLOW_LAN_URIS), as for a workshop; the apps of such a
// workshop may run on the teacher's machine too, so loopback with it.
func outboundPolicy(cfg Config) outbound.Policy {
	u, err := url.Parse(cfg.Issuer)
	onLoopback := err == nil && isLoopback(u.Hostname())
	return outbound.Policy{AllowLoopback: onLoopback || cfg.AllowLANURIs, AllowLAN: cfg.AllowLANURIs}
}

// notifyGrants tells the apps that hold grants, and that asked to be told,
// that the user's session sid ended.
func (b backchannel) notifyGrants(ctx context.Context, grants []store.Grant, userID, sid string) {
	seen := map[string]bool{}
	var clients []store.Client
	for _, g := range grants {
		if seen[g.ClientID] {
			continue
		}
		seen[g.ClientID] = true
		if c, err := b.store.ClientByID(ctx, g.ClientID); err == nil && c.BackchannelLogoutURI != "" {
			clients = append(clients, c)
		}
	}
	b.notify(ctx, clients, userID, sid)
}

// notify posts a logout token to each client, in parallel, and waits for
// them all, at most backchannelTimeLimit: a slow app does not hold up the
// user's sign-out for long. The user's request may end before that (the
// browser closed); the notifications go on regardless.
func (b backchannel) notify(ctx context.Context, clients []store.Client, userID, sid string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backchannelTimeLimit)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		wg.Go(func() {
			select {
			case b.slots <- struct{}{}:
				defer func() { <-b.slots }()
			case <-ctx.Done():
				b.log.WarnContext(ctx, "back-channel logout dropped: too many in flight", "client_id", c.ID)
				return
			}
			if err := b.send(ctx, c, userID, sid); err != nil {
				b.log.WarnContext(ctx, "back-channel logout failed", "client_id", c.ID, "err", err)
				return
			}
			b.log.InfoContext(ctx, "back-channel logout sent", "client_id", c.ID)
		})
	}
	wg.Wait()
}

func (b backchannel) send(ctx context.Context, c store.Client, userID, sid string) error {
	now := b.now()
	token, err := b.keys.Sign(signing.RS256, "logout+jwt", logoutTokenClaims{
		Issuer: b.issuer, Subject: userID, Audience: jwt.Audience{c.ID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
		ID: oauth.NewID(), Events: map[string]map[string]any{backchannelLogoutEvent: {}}, SID: sid,
	})
	if err != nil {
		return err
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	// The answer means nothing beyond its status; a little of it is read
	// so the connection can serve the next notification, never more.
	io.Copy(io.Discard, io.LimitReader(resp.Body, backchannelMaxBody))
	resp.Body.Close()
	// §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200 OK."
	// A redirect is not followed: it is an answer like any other.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
