package sqlite

// The record of accepted DPoP proofs (store.DPoPProofs), in memory.
//
// A DPoP request records its proof once, and every call of the photos API
// with a bound token is one: a SQLite commit for each cost about 100 µs of
// CPU here, more than the rest of the call. The SQLite store serves one
// ImageHost process (several instances share PostgreSQL, whose store keeps
// the record in a table), so the record lives in that process's memory,
// where checking and recording a proof is a map operation under a lock. It
// is written to the dpop_proofs table when the store closes and read back
// when it opens, so that a restart does not forget the proofs of its last
// minute; a process that crashes forgets them, and a proof of that minute
// could then be presented once more.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"oauthdemo/authserver/store"
)

// proofKey is what the record keeps of a proof's hash: 128 bits of a
// hash of it, the same size whatever the caller's hash is.
type proofKey [16]byte

func keyOf(hash []byte) proofKey {
	sum := sha256.Sum256(hash)
	return proofKey(sum[:16])
}

// dpopRecord is the proofs recorded, in store.DPoPProofShards shards, each
// with its own lock and map: a key, and until when it is kept, in
// nanoseconds since 1970 (24 bytes an entry, where a time.Time would take
// 40: about 13 MiB for 250,000 proofs, measured).
type dpopRecord struct {
	shards [store.DPoPProofShards]struct {
		mu      sync.Mutex
		expires map[proofKey]int64
	}
}

func newDPoPRecord() *dpopRecord {
	r := &dpopRecord{}
	for i := range r.shards {
		r.shards[i].expires = map[proofKey]int64{}
	}
	return r
}

// UseDPoPProof records a proof, if its hash is not there yet and its
// shard has room, in one step under the shard's lock: of concurrent
// presentations of one proof exactly one gets in, and a burst cannot
// overshoot the cap (store.DPoPProofs).
func (s *Store) UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time, limit int) error {
	shard := &s.proofs.shards[store.DPoPProofShard(hash)]
	key := keyOf(hash)
	shard.mu.Lock()
	defer shard.mu.Unlock()
	if _, seen := shard.expires[key]; seen {
		return fmt.Errorf("sqlite: use DPoP proof: %w", store.ErrAlreadyUsed)
	}
	if len(shard.expires) >= limit/store.DPoPProofShards {
		return fmt.Errorf("sqlite: use DPoP proof: %d in the shard: %w", len(shard.expires), store.ErrQuotaExceeded)
	}
	shard.expires[key] = expiresAt.UnixNano()
	return nil
}

// sweep forgets the proofs kept until before now.
func (r *dpopRecord) sweep(now time.Time) {
	for i := range r.shards {
		shard := &r.shards[i]
		shard.mu.Lock()
		for key, expires := range shard.expires {
			if expires < now.UnixNano() {
				delete(shard.expires, key)
			}
		}
		shard.mu.Unlock()
	}
}

// loadDPoPProofs reads the proofs the store wrote when it last closed,
// each into its shard.
func (s *Store) loadDPoPProofs(ctx context.Context) error {
	// Expired ones too: the next DeleteExpired sweeps them.
	rows, err := s.read.QueryContext(ctx, "SELECT hash, shard, expires_at FROM dpop_proofs")
	if err != nil {
		return fmt.Errorf("sqlite: load DPoP proofs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hash []byte
		var shard int
		var expires time.Time
		if err := rows.Scan(&hash, &shard, timeField{&expires}); err != nil {
			return fmt.Errorf("sqlite: load DPoP proofs: %w", err)
		}
		if len(hash) != len(proofKey{}) || shard < 0 || shard >= store.DPoPProofShards {
			continue
		}
		s.proofs.shards[shard].expires[proofKey(hash)] = expires.UnixNano()
	}
	return rows.Err()
}

// saveDPoPProofs writes the record into the table, replacing what it held,
// in one transaction.
func (s *Store) saveDPoPProofs(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM dpop_proofs"); err != nil {
			return err
		}
		insert, err := tx.PrepareContext(ctx, "INSERT INTO dpop_proofs (hash, shard, expires_at) VALUES (?, ?, ?)")
		if err != nil {
			return err
		}
		defer insert.Close()
		for i := range s.proofs.shards {
			shard := &s.proofs.shards[i]
			shard.mu.Lock()
			for key, expires := range shard.expires {
				if _, err := insert.ExecContext(ctx, key[:], i, fmtTime(time.Unix(0, expires))); err != nil {
					shard.mu.Unlock()
					return err
				}
			}
			shard.mu.Unlock()
		}
		return nil
	})
	return mapErr("sqlite: save DPoP proofs", err)
}
