package store

import (
	"context"
	"time"
)

// Attempts counts attempts per key in a sliding window: sign-ins per
// account, address and network, user codes typed at /device, joins,
// sign-ins started through an upstream provider. With several instances of
// ImageHost on one database the limit must hold for all of them together,
// so the count lives in the database, where checking it and counting one
// more are a single atomic step. One instance on SQLite keeps
// the count in memory (package throttle), but the SQLite store implements
// Attempts all the same, so that both pass one conformance suite.
//
// Each attempt lives for its window: it counts until its expiry, then
// DeleteExpired sweeps it away. The table is bounded by MaxAttempts.
type Attempts interface {
	// ReserveAttempt counts an attempt for key at now, living for window,
	// if key has fewer than max attempts that have not expired, and
	// returns its id with a zero wait. Otherwise it counts nothing and
	// returns how long until one of key's attempts expires and the next
	// may be counted. The count and the insert are one atomic step, for
	// every process on the database: of a concurrent burst exactly max
	// get through.
	ReserveAttempt(ctx context.Context, key string, max int, window time.Duration, now time.Time) (id int64, wait time.Duration, err error)
	// ReleaseAttempt takes back the attempt id of key: it succeeded, or
	// was never made. Releasing an attempt that is gone is not an error.
	ReleaseAttempt(ctx context.Context, key string, id int64) error
	// ResetAttempts forgets every attempt of key.
	ResetAttempts(ctx context.Context, key string) error
}

// MaxAttempts bounds the attempts table: each DeleteExpired (once a
// minute), besides removing expired attempts, removes the oldest beyond
// this many. Between two sweeps the table grows by at most the attempts
// counted meanwhile, each of which is a sign-in or a join that costs a
// password hash (ImageHost caps them), or a user code typed by a signed-in
// user, or a device authorization by a registered client, both under limits
// per account and address, or a sign-in started through an upstream
// provider, which stays counted only while its sign-in is under way (at
// most 10,000 at once). Evicting the oldest is what the in-memory limiter
// does too: to free a victim's key, an attacker must first make this many
// fresh attempts. 100,000 rows take about 21 MiB in PostgreSQL, with their
// indexes (measured, keys of 40 characters).
const MaxAttempts = 100_000
