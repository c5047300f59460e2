package main

// OpenID Connect Back-Channel Logout 1.0: when a user signs out of ImageHost
// or revokes an app, ImageHost tells each app that registered a
// backchannel_logout_uri by posting it a signed logout token, server to
// server, so the app can end its own session even though its cookie lives on.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"oauthdemo/authserver/oauth"
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

// backchannel sends logout tokens.
type backchannel struct {
	issuer string
	keys   *signing.KeySet
	store  store.Store
	http   *http.Client
	now    func() time.Time
	log    *slog.Logger
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
// them all; the HTTP client's timeout bounds how long.
func (b backchannel) notify(ctx context.Context, clients []store.Client, userID, sid string) {
	var wg sync.WaitGroup
	for _, c := range clients {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		wg.Go(func() {
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
	resp.Body.Close()
	// §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200 OK."
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
