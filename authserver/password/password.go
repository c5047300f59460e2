// Package password hashes and checks user passwords with argon2id, the
// memory-hard hash RFC 9106 and OWASP recommend for passwords. Unlike the
// random secrets in package oauth, a password has little entropy, so the hash
// must be slow to make guessing expensive.
//
// Memory-hard means every hash holds its memory (19 MiB here) while it runs:
// a burst of sign-ins would otherwise hold 19 MiB each, at once. Whatever a
// request can trigger therefore goes through a Hasher, which runs hashes
// within a memory budget and makes the rest wait briefly or turns them away.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/semaphore"
)

// Parameters of the OWASP Password Storage Cheat Sheet's first argon2id
// option: 19 MiB of memory, 2 passes, 1 lane.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	keyLen    = 32
	saltLen   = 16
)

// HashMemory is the memory, in bytes, one hash with this package's
// parameters holds while it runs.
const HashMemory = memoryKiB << 10

// ErrMalformed is returned for a stored hash this package cannot read.
var ErrMalformed = errors.New("password: malformed hash")

// ErrBusy is returned when a Hasher had no memory free for a hash within its
// wait: the caller should ask the user to try again in a moment.
var ErrBusy = errors.New("password: too many passwords are being checked; try again shortly")

// Hash returns the PHC string form of an argon2id hash of pw with a fresh salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
//
// Hash runs outside any budget: it is for the command line and start-up,
// one hash at a time. Anything a request can trigger uses a Hasher.
func Hash(pw string) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, passes, memoryKiB, lanes, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, memoryKiB, passes, lanes, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// Hasher hashes and checks passwords within a memory budget. Each hash
// reserves the memory its parameters need before it starts and gives it back
// when done, so the hashes running at once never hold more than the budget
// together. A hash that finds no memory free waits at most maxWait, and only
// maxWaiting hashes may wait at all: the rest get ErrBusy at once, so a
// burst never builds a queue. It is safe for concurrent use.
type Hasher struct {
	budgetKiB int64
	memory    *semaphore.Weighted // KiB of argon2id memory
	maxWait   time.Duration
	waiting   chan struct{} // one token per hash allowed to wait
}

// NewHasher returns a Hasher with a memory budget in bytes. With this
// package's parameters, budget/HashMemory hashes run at once.
func NewHasher(budget int64, maxWait time.Duration, maxWaiting int) *Hasher {
	return &Hasher{budgetKiB: budget >> 10, memory: semaphore.NewWeighted(budget >> 10),
		maxWait: maxWait, waiting: make(chan struct{}, maxWaiting)}
}

// Hash is the package's Hash, run within the budget.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	release, err := h.reserve(ctx, memoryKiB)
	if err != nil {
		return "", err
	}
	defer release()
	return Hash(pw), nil
}

// Verify reports whether pw matches the stored hash, in constant time,
// within the budget. It reads the parameters from the hash, so hashes made
// with other parameters keep working when the defaults change; a hash that
// needs more memory than the whole budget is ErrMalformed.
func (h *Hasher) Verify(ctx context.Context, pw, hash string) (bool, error) {
	p, err := parse(hash)
	if err != nil {
		return false, err
	}
	if int64(p.mem) > h.budgetKiB {
		return false, fmt.Errorf("%w: it needs %d KiB, more than the budget", ErrMalformed, p.mem)
	}
	release, err := h.reserve(ctx, int64(p.mem))
	if err != nil {
		return false, err
	}
	defer release()
	got := argon2.IDKey([]byte(pw), p.salt, p.passes, p.mem, p.lanes, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(got, p.key) == 1, nil
}

// reserve takes kib of the budget, waiting if it must and may. The caller
// must call release once the hash is done.
func (h *Hasher) reserve(ctx context.Context, kib int64) (release func(), err error) {
	release = func() { h.memory.Release(kib) }
	if h.memory.TryAcquire(kib) {
		return release, nil
	}
	select {
	case h.waiting <- struct{}{}:
		defer func() { <-h.waiting }()
	default:
		return nil, ErrBusy // enough are waiting already
	}
	ctx, cancel := context.WithTimeout(ctx, h.maxWait)
	defer cancel()
	if err := h.memory.Acquire(ctx, kib); err != nil {
		return nil, ErrBusy
	}
	return release, nil
}

// params is a parsed PHC string.
type params struct {
	mem, passes uint32
	lanes       uint8
	salt, key   []byte
}

func parse(hash string) (params, error) {
	var p params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, ErrMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.mem, &p.passes, &p.lanes); err != nil || p.passes == 0 || p.lanes == 0 || p.mem > 1<<20 {
		return p, ErrMalformed
	}
	enc := base64.RawStdEncoding
	var err error
	if p.salt, err = enc.DecodeString(parts[4]); err != nil {
		return p, ErrMalformed
	}
	if p.key, err = enc.DecodeString(parts[5]); err != nil || len(p.key) == 0 {
		return p, ErrMalformed
	}
	return p, nil
}
