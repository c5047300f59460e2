-- ImageHost schema, version 12: DPoP (RFC 9449).

-- A public client's refresh tokens are bound to the DPoP key it proved it
-- held when the grant began (RFC 9449 §5): the key's JWK thumbprint; ''
-- when they are not bound.
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- The DPoP proofs accepted (RFC 9449 §11.1), as they stood when the store
-- was last closed: the store keeps them in memory while it is open
-- (dpop.go), writes them here when it closes and reads them back when it
-- opens, so that a restart does not let a proof of the last minute in
-- again. The key is a hash of a hash of the proof's key and jti.
CREATE TABLE dpop_proofs (
    hash       BLOB PRIMARY KEY,
    shard      INTEGER NOT NULL, -- store.DPoPProofShard of the proof's hash
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
