-- ImageHost schema, for PostgreSQL, version 12: DPoP (RFC 9449);
-- store/sqlite/migrations has the same version for SQLite.

-- A public client's refresh tokens are bound to the DPoP key it proved it
-- held when the grant began (RFC 9449 §5): the key's JWK thumbprint; ''
-- when they are not bound.
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- The DPoP proofs accepted, so that each is accepted once (RFC 9449 §11.1),
-- until they would be refused for their age anyway: a hash of the key's
-- thumbprint and the proof's jti.
CREATE TABLE dpop_proofs (
    hash       BYTEA PRIMARY KEY,
    shard      SMALLINT NOT NULL, -- store.DPoPProofShard(hash)
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);

-- How many proofs each shard holds, kept by the trigger below, so that the
-- cap on them is one read of one row, however many there are. Proofs of
-- one shard are recorded one at a time (an advisory lock per shard:
-- dpop.go), those of different shards at once.
CREATE TABLE dpop_proof_shards (
    shard SMALLINT PRIMARY KEY,
    n     BIGINT NOT NULL
);
INSERT INTO dpop_proof_shards (shard, n) SELECT s, 0 FROM generate_series(0, 15) AS s;

-- A proof recorded counts one; a sweep (DeleteExpired) takes off, once per
-- statement, what it deleted from each shard.
CREATE FUNCTION dpop_proof_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dpop_proof_shards SET n = n + 1 WHERE shard = NEW.shard;
    RETURN NULL;
END $$;
CREATE TRIGGER dpop_proof_added AFTER INSERT ON dpop_proofs
    FOR EACH ROW EXECUTE FUNCTION dpop_proof_added();

CREATE FUNCTION dpop_proofs_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dpop_proof_shards s SET n = s.n - g.n
    FROM (SELECT shard, count(*) AS n FROM gone GROUP BY shard) g
    WHERE s.shard = g.shard;
    RETURN NULL;
END $$;
CREATE TRIGGER dpop_proofs_gone AFTER DELETE ON dpop_proofs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION dpop_proofs_gone();
