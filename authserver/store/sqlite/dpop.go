package sqlite

import (
	"context"
	"fmt"
	"time"

	"oauthdemo/authserver/store"
)

// UseDPoPProof records a DPoP proof with one INSERT: it inserts nothing
// when the hash is there already (ON CONFLICT DO NOTHING) or when the
// proof's shard is full, as the shard's count, kept by a trigger, says.
// SQLite runs it under the one write lock, so neither a replay nor a
// burst slips through between the check and the insert. Of the two
// reasons for inserting nothing, a second read tells which.
func (s *Store) UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time, limit int) error {
	shard := store.DPoPProofShard(hash)
	res, err := s.hot.useDPoPProof.ExecContext(ctx, hash, shard, fmtTime(expiresAt), shard, limit/store.DPoPProofShards)
	if err != nil {
		return mapErr("sqlite: use DPoP proof", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr("sqlite: use DPoP proof", err)
	} else if n == 1 {
		return nil
	}
	var seen bool
	if err := s.write.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM dpop_proofs WHERE hash = ?)", hash).Scan(&seen); err != nil {
		return mapErr("sqlite: use DPoP proof", err)
	}
	if seen {
		return fmt.Errorf("sqlite: use DPoP proof: %w", store.ErrAlreadyUsed)
	}
	return fmt.Errorf("sqlite: use DPoP proof: shard %d holds %d: %w", shard, limit/store.DPoPProofShards, store.ErrQuotaExceeded)
}

// useDPoPProofQuery is UseDPoPProof's insert, prepared once (hotStatements):
// every DPoP request runs it.
const useDPoPProofQuery = `INSERT INTO dpop_proofs (hash, shard, expires_at)
	SELECT ?, ?, ? WHERE (SELECT n FROM dpop_proof_shards WHERE shard = ?) < ?
	ON CONFLICT (hash) DO NOTHING`
