-- ImageHost schema, version 5: the revocations access tokens are checked
-- against, and the clients that may introspect other clients' tokens.

-- Every revocation an access token in circulation may be refused for,
-- kept for store.RevocationRetention, longer than any access token lives.
-- The photos API holds them in memory (revocation.Set); this table is
-- what it loads at start and what it reads to catch up with revocations
-- made by another process. A grant or a token is revoked outright; a client
-- or a subject for every token issued up to revoked_at.
CREATE TABLE revocations (
    kind       TEXT NOT NULL, -- grant, token, client or subject
    id         TEXT NOT NULL, -- the grant id, jti, client_id or sub
    revoked_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX revocations_at ON revocations(revoked_at);

-- What was revoked before this version: grants, and the deny list of
-- access tokens, whose entries are kept at least until the token expires.
INSERT INTO revocations (kind, id, revoked_at)
    SELECT 'grant', id, revoked_at FROM grants WHERE revoked_at != '';
INSERT INTO revocations (kind, id, revoked_at)
    SELECT 'token', jti, expires_at FROM revoked_access_tokens WHERE true
    ON CONFLICT (kind, id) DO NOTHING;
DROP TABLE revoked_access_tokens;

-- RFC 7662 §4: a client learns about other clients' tokens by
-- introspection only if the operator marked it as a resource server.
ALTER TABLE clients ADD COLUMN resource_server INTEGER NOT NULL DEFAULT 0;
