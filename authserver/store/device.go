package store

import (
	"context"
	"time"
)

// DeviceAuthorization is one run of the device authorization grant
// (RFC 8628), from the device's request at the device authorization
// endpoint (§3.1) to its redemption at the token endpoint (§3.4). The device
// polls with the device code, of which only the hash is stored; the user
// types the user code at /device and allows or denies.
type DeviceAuthorization struct {
	DeviceCodeHash []byte // SHA-256 of the device code
	UserCode       string // normalised: upper case, without the hyphen
	ClientID       string
	Scope          string
	// Interval is how long the device was told to wait between polls
	// (§3.2 "interval"), so that any instance can tell a poll that came
	// too soon.
	Interval  time.Duration
	CreatedAt time.Time
	ExpiresAt time.Time
	FlowRef   string // see Activity.FlowRef; here a short hash of the device code

	// Set once, by the user's answer at /device.
	UserID    string
	Approved  bool
	AuthTime  time.Time // when the user who answered signed in
	AMR       string    // how, and where (Session.AMR, Session.IDP)
	IDP       string
	DecidedAt time.Time

	// Set once, when the device redeemed the approval for tokens.
	GrantID    string
	ConsumedAt time.Time
}

// Pending reports whether the user has not answered yet.
func (d DeviceAuthorization) Pending() bool { return d.DecidedAt.IsZero() }

// Denied reports whether the user answered no.
func (d DeviceAuthorization) Denied() bool { return !d.Pending() && !d.Approved }

// Redeemed reports whether the device got its tokens already.
func (d DeviceAuthorization) Redeemed() bool { return !d.ConsumedAt.IsZero() }

// DeviceDecision is the user's answer to a device authorization.
type DeviceDecision struct {
	UserID   string
	Approved bool
	AuthTime time.Time
	AMR      string // how and where the user signed in (Session.AMR, Session.IDP)
	IDP      string
}

// DeviceAuthorizationRetention is how long a device authorization is kept
// after it expired: a device still polling then hears expired_token
// (RFC 8628 §3.5) rather than that its code is unknown.
const DeviceAuthorizationRetention = time.Hour

// DeviceAuthorizations keeps the device authorization grant's state. Only
// the hashes of device codes are stored; user codes are stored as typed,
// normalised, since they are short-lived and rate-limited (RFC 8628 §5.1).
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization stores d, unless maxPending device
	// authorizations are pending (unanswered, unexpired) at d.CreatedAt
	// already: then it stores nothing and returns ErrQuotaExceeded. The
	// count and the insert are one atomic step. A user code in use is
	// ErrDuplicate.
	CreateDeviceAuthorization(ctx context.Context, d DeviceAuthorization, maxPending int) error
	// DeviceAuthorizationByUserCode returns the device authorization with
	// that user code, in whatever state.
	DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (DeviceAuthorization, error)
	// DeviceAuthorization returns the device authorization of a device code
	// hash, in whatever state: the one read of a device's poll.
	DeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (DeviceAuthorization, error)
	// DecideDeviceAuthorization records the user's answer for the pending,
	// unexpired device authorization with that user code. Of concurrent
	// calls for one code exactly one succeeds; the others, and a call for
	// a code answered before, expired or unknown, get ErrNotFound.
	DecideDeviceAuthorization(ctx context.Context, userCode string, d DeviceDecision, now time.Time) error
	// ConsumeDeviceAuthorization marks an approved device authorization
	// redeemed, atomically, recording grantID as what it is redeemed for.
	// One redeemed before comes back with ErrAlreadyUsed and the GrantID
	// of its first redemption; one that is not approved is ErrNotFound.
	ConsumeDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, grantID string, now time.Time) (DeviceAuthorization, error)
}
