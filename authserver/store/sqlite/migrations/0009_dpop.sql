-- ImageHost schema, version 9: DPoP (RFC 9449).

-- A public client's refresh tokens are bound to the DPoP key it proved it
-- held when the grant began (RFC 9449 §5): the key's JWK thumbprint; ''
-- when they are not bound.
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- The DPoP proofs accepted, so that each is accepted once (RFC 9449 §11.1),
-- until they would be refused for their age anyway: a hash of the key's
-- thumbprint and the proof's jti.
CREATE TABLE dpop_proofs (
    hash       BLOB PRIMARY KEY,
    shard      INTEGER NOT NULL, -- store.DPoPProofShard(hash)
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dpop_proofs_expires ON dpop_proofs(expires_at);

-- How many proofs each shard holds, kept by the triggers below, so that
-- the cap on them is one read of one row, however many there are.
CREATE TABLE dpop_proof_shards (
    shard INTEGER PRIMARY KEY,
    n     INTEGER NOT NULL
);
INSERT INTO dpop_proof_shards (shard, n)
    VALUES (0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0),
           (8, 0), (9, 0), (10, 0), (11, 0), (12, 0), (13, 0), (14, 0), (15, 0);
CREATE TRIGGER dpop_proof_added AFTER INSERT ON dpop_proofs
BEGIN
    UPDATE dpop_proof_shards SET n = n + 1 WHERE shard = NEW.shard;
END;
CREATE TRIGGER dpop_proof_gone AFTER DELETE ON dpop_proofs
BEGIN
    UPDATE dpop_proof_shards SET n = n - 1 WHERE shard = OLD.shard;
END;
