package store

import (
	"context"
	"time"
)

// DPoPProofShards is the number of parts UseDPoPProof counts proofs in:
// a proof belongs to the shard of its hash's first byte. Counting in parts
// lets several instances record proofs at once, each waiting only for
// those of its shard.
const DPoPProofShards = 16

// DPoPProofShard is the shard of a proof's hash.
func DPoPProofShard(hash []byte) int {
	if len(hash) == 0 {
		return 0
	}
	return int(hash[0]) % DPoPProofShards
}

// DPoPProofs remembers the DPoP proofs (RFC 9449) ImageHost accepted, so
// that each is accepted once, at whichever instance it comes to: "servers
// can store the jti value of each DPoP proof for the time window in which
// the respective DPoP proof JWT would be accepted to prevent multiple uses
// of the same DPoP proof" (§11.1). A proof is known by a hash of its key
// and jti; nothing of it is kept in the clear.
type DPoPProofs interface {
	// UseDPoPProof records the proof with that hash until expiresAt. A
	// hash recorded before, and not deleted since, is ErrAlreadyUsed: of
	// concurrent calls for one hash exactly one succeeds. The record is
	// bounded: at most limit/DPoPProofShards proofs are kept in each
	// shard, so at most limit in all, counted and inserted in one atomic
	// step; past that, UseDPoPProof stores nothing and returns
	// ErrQuotaExceeded. A record counts until DeleteExpired removes it,
	// once now has passed its expiresAt.
	UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time, limit int) error
}
