package main

// OpenID Connect Back-Channel Logout 1.0: when a user signs out of ImageHost
// or revokes an app, ImageHost tells each app that registered a
// backchannel_logout_uri by posting it a signed logout token, server to
// server, so the app can end its own session even though its cookie lives on.
// Only apps that hold a grant of the user are told. The URL is the
// registrant's choice, so the request goes through outbound's guard: no
// private or link-local address, no redirect, a small answer, a time limit.
// And the notifications go through a queue that bounds how many are in
// flight and how many wait, in all, per registrant and per client, so that
// slow apps, whoever registered them, cannot hold up the user's sign-out or
// anyone else's notification.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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

// Limits on back-channel logout, whose URLs outsiders register. Whoever
// registers a client chooses how slowly its URL answers; what they register
// must not hold up anyone else's sign-out, nor grow without bound.
const (
	// backchannelTimeout ends one request, response body included.
	backchannelTimeout = 3 * time.Second
	// backchannelWait is how long a sign-out waits for its own
	// notifications before it answers the user; they go on after. It never
	// waits for a slot that others' notifications hold.
	backchannelWait = time.Second
	// backchannelSlots is how many notifications may be in flight at
	// once, across all sign-outs: a burst of them cannot turn ImageHost
	// into a flood of outbound requests.
	backchannelSlots = 8
	// backchannelSlotsPerRegistrant is how many of those slots the clients
	// of one registrant (store.Client's Registrant) may hold: whoever
	// registered slow clients holds two, and everyone else's notifications
	// go out beside them. Besides, a client has one notification in flight
	// at a time: an app hears of one sign-out after another.
	backchannelSlotsPerRegistrant = 2
	// backchannelQueue is how many notifications may wait for a slot, and
	// backchannelQueuePerRegistrant how many of them may be for the
	// clients of one registrant. Past either, a notification is dropped
	// (and the drop logged), never the sign-out.
	backchannelQueue              = 1024
	backchannelQueuePerRegistrant = 128
	// backchannelMaxBody is as much of an answer as is read: enough to
	// reuse the connection, too little to be a burden.
	backchannelMaxBody = 4 << 10
)

// backchannel sends logout tokens. A sign-out hands it one notification per
// app and waits for them at most backchannelWait; they wait in a bounded
// queue until they may go, within the limits above, oldest first.
type backchannel struct {
	issuer string
	keys   *signing.KeySet
	store  clientLookup
	http   *http.Client // from outboundPolicy: no redirects, no private addresses
	now    func() time.Time
	log    *slog.Logger
	limits backchannelLimits

	// ctx ends the notifications in flight when the server stops. It is
	// the queue's own, not the server's: a shutdown first lets the queue
	// drain (stop).
	ctx    context.Context
	cancel context.CancelFunc
	sends  sync.WaitGroup

	mu        sync.Mutex
	waiting   []logoutNotice  // oldest first
	waitingBy map[string]int  // registrant: how many of waiting are for their clients
	sending   map[string]bool // client ids with a notification in flight
	sendingBy map[string]int  // registrant: notifications in flight
	inFlight  int
	stopped   bool
}

// backchannelLimits are the bounds above, as numbers a test may lower.
type backchannelLimits struct {
	slots, slotsPerRegistrant, queue, queuePerRegistrant int
}

// logoutNotice is one notification: which app, at which URL, about whom.
type logoutNotice struct {
	ctx        context.Context // the sign-out's, without its cancellation: for the log
	clientID   string
	uri        string
	registrant string
	userID     string
	sid        string
	done       chan struct{} // closed once it was sent, failed or dropped
}

// newBackchannel makes the one back-channel sender of a server. Its stop
// must be called when the server stops.
func newBackchannel(cfg Config, keys *signing.KeySet, st clientLookup, now func() time.Time, log *slog.Logger) *backchannel {
	ctx, cancel := context.WithCancel(context.Background())
	return &backchannel{issuer: cfg.Issuer, keys: keys, store: st, http: outboundPolicy(cfg).Client(backchannelTimeout),
		now: now, log: log, ctx: ctx, cancel: cancel,
		limits:    backchannelLimits{backchannelSlots, backchannelSlotsPerRegistrant, backchannelQueue, backchannelQueuePerRegistrant},
		waitingBy: map[string]int{}, sending: map[string]bool{}, sendingBy: map[string]int{}}
}

// stop lets the notifications queued or in flight finish for at most
// backchannelTimeout, then cuts off the rest, and returns once none is in
// flight. Nothing is queued after it.
func (b *backchannel) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	cutOff := time.AfterFunc(backchannelTimeout, b.cancel)
	b.sends.Wait()
	cutOff.Stop()
	b.cancel()
}

// outboundPolicy is where ImageHost may send requests to URLs that clients
// registered. This machine's loopback only when ImageHost itself is served
// on loopback, as in the demo, where the apps run next to it: a server
// reachable from elsewhere must not let an outsider aim it at its own admin
// ports. Private networks only when the operator allows a LAN
// (IMAGEHOST_ALLOW_LAN_URIS), as for a workshop; the apps of such a
// workshop may run on the teacher's machine too, so loopback with it. An
// IPv4 address reached through NAT64 is checked as any other, also through
// the network's own NAT64 prefixes.
func outboundPolicy(cfg Config) outbound.Policy {
	u, err := url.Parse(cfg.Issuer)
	onLoopback := err == nil && isLoopback(u.Hostname())
	return outbound.Policy{AllowLoopback: onLoopback || cfg.AllowLANURIs, AllowLAN: cfg.AllowLANURIs, NAT64: cfg.NAT64Prefixes}
}

// notifyGrants tells the apps that hold grants, and that asked to be told,
// that the user's session sid ended.
func (b *backchannel) notifyGrants(ctx context.Context, grants []store.Grant, userID, sid string) {
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

// notify queues a logout token for each client and waits until they were
// sent, or backchannelWait has passed: a slow app, or the many slow apps of
// someone else, does not hold up the user's sign-out. The notifications go
// on regardless, as they do if the user's request ends (the browser closed).
func (b *backchannel) notify(ctx context.Context, clients []store.Client, userID, sid string) {
	ctx = context.WithoutCancel(ctx)
	var queued []chan struct{}
	b.mu.Lock()
	for _, c := range clients {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		n := logoutNotice{ctx: ctx, clientID: c.ID, uri: c.BackchannelLogoutURI, registrant: backchannelRegistrant(c),
			userID: userID, sid: sid, done: make(chan struct{})}
		switch {
		case b.stopped:
			b.log.WarnContext(ctx, "back-channel logout dropped: the server is stopping", "client_id", c.ID)
		case len(b.waiting) >= b.limits.queue || b.waitingBy[n.registrant] >= b.limits.queuePerRegistrant:
			b.log.WarnContext(ctx, "back-channel logout dropped: too many waiting", "client_id", c.ID, "registrant", n.registrant)
		default:
			b.waiting = append(b.waiting, n)
			b.waitingBy[n.registrant]++
			queued = append(queued, n.done)
		}
	}
	b.dispatchLocked()
	b.mu.Unlock()

	wait := time.NewTimer(backchannelWait)
	defer wait.Stop()
	for _, done := range queued {
		select {
		case <-done:
		case <-wait.C:
			return
		}
	}
}

// backchannelRegistrant is who answers for c's back-channel URI, for the
// per-registrant limits: its registrant, or, for the operator's clients,
// the client itself.
func backchannelRegistrant(c store.Client) string {
	if c.Registrant != "" {
		return c.Registrant
	}
	return "client:" + c.ID
}

// dispatchLocked starts the oldest waiting notifications that may go: while
// a slot is free, for a client with none in flight, of a registrant below
// its share of the slots. b.mu is held.
func (b *backchannel) dispatchLocked() {
	for i := 0; i < len(b.waiting) && b.inFlight < b.limits.slots; {
		n := b.waiting[i]
		if b.sending[n.clientID] || b.sendingBy[n.registrant] >= b.limits.slotsPerRegistrant {
			i++
			continue
		}
		b.waiting = slices.Delete(b.waiting, i, i+1)
		if b.waitingBy[n.registrant]--; b.waitingBy[n.registrant] == 0 {
			delete(b.waitingBy, n.registrant)
		}
		b.sending[n.clientID] = true
		b.sendingBy[n.registrant]++
		b.inFlight++
		b.sends.Add(1)
		go b.deliver(n)
	}
}

// deliver sends one notification, then frees its slot for the next.
func (b *backchannel) deliver(n logoutNotice) {
	defer b.sends.Done()
	defer close(n.done)
	ctx, cancel := context.WithTimeout(b.ctx, backchannelTimeout)
	err := b.send(ctx, n)
	cancel()
	if err != nil {
		b.log.WarnContext(n.ctx, "back-channel logout failed", "client_id", n.clientID, "err", err)
	} else {
		b.log.InfoContext(n.ctx, "back-channel logout sent", "client_id", n.clientID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sending, n.clientID)
	if b.sendingBy[n.registrant]--; b.sendingBy[n.registrant] == 0 {
		delete(b.sendingBy, n.registrant)
	}
	b.inFlight--
	b.dispatchLocked()
}

func (b *backchannel) send(ctx context.Context, n logoutNotice) error {
	now := b.now()
	token, err := b.keys.Sign(signing.RS256, "logout+jwt", logoutTokenClaims{
		Issuer: b.issuer, Subject: n.userID, Audience: jwt.Audience{n.clientID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
		ID: oauth.NewID(), Events: map[string]map[string]any{backchannelLogoutEvent: {}}, SID: n.sid,
	})
	if err != nil {
		return err
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.uri, strings.NewReader(body))
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
