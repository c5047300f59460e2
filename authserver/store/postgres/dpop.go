package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// dpopShardLock is the first of the store.DPoPProofShards advisory lock
// keys under which proofs are recorded, one per shard. It spells "ImgDPoP"
// in ASCII, then the shard.
const dpopShardLock int64 = 0x496d6744506f5000

// UseDPoPProof records a DPoP proof: one batch that takes the lock of the
// proof's shard, then inserts the proof unless its hash is there already
// (ON CONFLICT DO NOTHING) or the shard's count, kept by a trigger and read
// in a snapshot taken after the lock was granted, says the shard is full.
// Two recordings of one shard take turns, so a burst cannot overshoot the
// cap; of two of one hash, the unique key lets one in. Of the two reasons
// for inserting nothing, the batch's last query tells which.
func (s *Store) UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time, limit int) error {
	shard := store.DPoPProofShard(hash)
	var inserted, seen bool
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", dpopShardLock+int64(shard))
	b.Queue(`WITH added AS (
			INSERT INTO dpop_proofs (hash, shard, expires_at)
			SELECT $1, $2, $3 WHERE (SELECT n FROM dpop_proof_shards WHERE shard = $2) < $4
			ON CONFLICT (hash) DO NOTHING
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM added), EXISTS (SELECT 1 FROM dpop_proofs WHERE hash = $1)`,
		hash, shard, nanos(expiresAt), limit/store.DPoPProofShards).QueryRow(func(row pgx.Row) error {
		return row.Scan(&inserted, &seen)
	})
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: use DPoP proof", err)
	}
	switch {
	case inserted:
		return nil
	case seen:
		return fmt.Errorf("postgres: use DPoP proof: %w", store.ErrAlreadyUsed)
	}
	return fmt.Errorf("postgres: use DPoP proof: shard %d holds %d: %w", shard, limit/store.DPoPProofShards, store.ErrQuotaExceeded)
}
