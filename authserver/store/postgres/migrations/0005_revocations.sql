-- ImageHost schema, version 5: the revocations access tokens are checked
-- against, and the clients that may introspect other clients' tokens.

-- Every revocation an access token in circulation may be refused for,
-- kept for store.RevocationRetention, longer than any access token lives.
-- The photos API holds them in memory (revocation.Set); this table is
-- what it loads at start and what it reads to catch up with revocations
-- made by another process: the operator's command line, or another
-- instance on this database. A grant or a token is revoked outright; a
-- client or a subject for every token issued up to revoked_at.
CREATE TABLE revocations (
    kind       TEXT NOT NULL, -- grant, token, client or subject
    id         TEXT NOT NULL, -- the grant id, jti, client_id or sub
    revoked_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX revocations_at ON revocations(revoked_at);

-- What was revoked before this version: grants, and the deny list of
-- access tokens, whose entries are kept at least until the token expires.
-- An entry without an expiry is kept from now, the longer choice.
INSERT INTO revocations (kind, id, revoked_at)
    SELECT 'grant', id, revoked_at FROM grants WHERE revoked_at IS NOT NULL;
INSERT INTO revocations (kind, id, revoked_at)
    SELECT 'token', jti, coalesce(expires_at, (extract(epoch FROM now()) * 1e9)::bigint) FROM revoked_access_tokens
    ON CONFLICT (kind, id) DO NOTHING;
DROP TABLE revoked_access_tokens;

-- RFC 7662 §4: a client learns about other clients' tokens by
-- introspection only if the operator marked it as a resource server.
ALTER TABLE clients ADD COLUMN resource_server BOOLEAN NOT NULL DEFAULT false;
