package main

// What ImageHost instances on one database share, beyond the store's
// records (store/store.go's package comment lists all of it): the limits
// on attempts. One instance counts them in memory; instances behind a load
// balancer, with no sticky sessions, count them in the database, or each
// would allow the limit and an attacker N times it.

import (
	"time"

	"oauthdemo/authserver/store"
	"oauthdemo/authserver/throttle"
)

// throttleKeys bounds each in-memory limit's table: full, the sign-in
// accounts' holds about 4 MiB, the addresses' 10 MiB (measured). In the
// store, store.MaxAttempts bounds all the limits' attempts together.
const throttleKeys = 10_000

// attemptLimits makes the limit on attempts named name: at most max per
// key within window.
type attemptLimits func(name string, max int, window time.Duration) throttle.Counter

// attemptLimitsFor counts in st when instances share it (a database URL),
// in memory otherwise.
func attemptLimitsFor(cfg Config, st store.Attempts, now func() time.Time) attemptLimits {
	if cfg.DatabaseURL != "" {
		return func(name string, max int, window time.Duration) throttle.Counter {
			return throttle.NewShared(st, name, max, window, now)
		}
	}
	return func(_ string, max int, window time.Duration) throttle.Counter {
		return throttle.New(max, window, throttleKeys, now)
	}
}
