package main

// ImageHost's activity log: each decision it takes about a user's account
// (an authorization, a consent, tokens issued, a rotation, a reuse caught, a
// revocation, a refused request) with the reason in plain words. The user
// sees it on the account page; the workshop inspector of a client links to
// it through the request id (X-Request-Id) of back-channel calls and the
// flow reference of front-channel ones.
//
// Entries are written in batches by one goroutine, so logging adds no
// transaction to the token endpoint's hot paths. If the queue is full the
// entry is dropped (and the drop logged): the log is for people, not audit.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"oauthdemo/authserver/store"
)

// activityLog records and stores activity.
type activityLog struct {
	store   store.Store
	now     func() time.Time
	log     *slog.Logger
	queue   chan store.Activity
	flush   chan chan struct{}
	stopped chan struct{} // closed when the writer has ended
}

// newActivityLog starts the writer; it stops when ctx is done, after
// writing what is queued.
func newActivityLog(ctx context.Context, st store.Store, now func() time.Time, log *slog.Logger) *activityLog {
	a := &activityLog{store: st, now: now, log: log, queue: make(chan store.Activity, 4096),
		flush: make(chan chan struct{}), stopped: make(chan struct{})}
	go a.run(ctx)
	return a
}

func (a *activityLog) run(ctx context.Context) {
	defer close(a.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var batch []store.Activity
	write := func() {
		if len(batch) == 0 {
			return
		}
		if err := a.store.AddActivity(context.WithoutCancel(ctx), batch); err != nil {
			a.log.Warn("write activity log", "err", err, "entries", len(batch))
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-a.queue:
			batch = append(batch, e)
			if len(batch) >= 256 {
				write()
			}
		case <-t.C:
			write()
		case done := <-a.flush:
			for drained := false; !drained; {
				select {
				case e := <-a.queue:
					batch = append(batch, e)
				default:
					drained = true
				}
			}
			write()
			close(done)
		case <-ctx.Done():
			for len(a.queue) > 0 {
				batch = append(batch, <-a.queue)
			}
			write()
			return
		}
	}
}

// record queues an entry; it never blocks. userID "" records nothing: the
// log is kept per user.
func (a *activityLog) record(ctx context.Context, userID, clientID, flowRef, event, reason string) {
	a.add(ctx, store.Activity{UserID: userID, ClientID: clientID, FlowRef: flowRef, Event: event, Reason: reason})
}

// add queues e, with the request's id and the time; it never blocks. The
// class view's entries (class.go) come through here too.
func (a *activityLog) add(ctx context.Context, e store.Activity) {
	if a == nil || e.UserID == "" {
		return
	}
	e.RequestID, _ = ctx.Value(requestIDKey{}).(string)
	e.At = a.now()
	select {
	case a.queue <- e:
	default:
		a.log.WarnContext(ctx, "activity log queue full; entry dropped", "event", e.Event)
	}
}

// sync waits until every entry queued so far is stored.
func (a *activityLog) sync(ctx context.Context) {
	if a == nil {
		return
	}
	done := make(chan struct{})
	select {
	case a.flush <- done:
		select {
		case <-done:
		case <-ctx.Done():
		}
	case <-a.stopped:
	case <-ctx.Done():
	}
}

// flowRef is the reference both sides can compute for a login: the first
// 12 hex digits of SHA-256 of its state. The state itself is never logged.
func flowRef(state string) string {
	if state == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:6])
}
