-- ImageHost schema, for PostgreSQL: signing in through an upstream OpenID
-- provider, and how each sign-in happened; store/sqlite/migrations has the
-- same version for SQLite.

-- How the user of a session signed in (the "amr" of the ID tokens it leads
-- to, OpenID Connect Core §2) and through which upstream provider ("" for
-- ImageHost's own password form). Every session before this one was a
-- password's. Codes and device authorizations carry them to the tokens.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN idp TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE auth_codes ADD COLUMN idp TEXT NOT NULL DEFAULT '';
ALTER TABLE device_authorizations ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE device_authorizations ADD COLUMN idp TEXT NOT NULL DEFAULT '';
UPDATE device_authorizations SET amr = 'pwd' WHERE decided_at IS NOT NULL;

-- An identity at an upstream provider (its iss and sub), linked to one
-- local account. Deleting the account deletes the link.
CREATE TABLE upstream_links (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    upstream   TEXT NOT NULL,
    created_at BIGINT,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX upstream_links_user ON upstream_links(user_id);

-- Sign-ins through an upstream provider under way: keyed by the hash of the
-- value in the browser's cookie (the state, then a new value while the user
-- chooses an account), deleted when used or expired.
CREATE TABLE upstream_logins (
    id_hash            BYTEA PRIMARY KEY,
    upstream           TEXT NOT NULL,
    auth_request_id    TEXT NOT NULL,
    next               TEXT NOT NULL,
    flow_ref           TEXT NOT NULL,
    created_at         BIGINT,
    expires_at         BIGINT,
    -- The identity the upstream named, once verified; '' until then.
    issuer             TEXT NOT NULL,
    subject            TEXT NOT NULL,
    preferred_username TEXT NOT NULL,
    name               TEXT NOT NULL,
    email              TEXT NOT NULL,
    amr                TEXT NOT NULL,
    verified           TEXT NOT NULL, -- how ImageHost checked the answer, for the activity log
    auth_time          BIGINT
);
CREATE INDEX upstream_logins_expires ON upstream_logins(expires_at);
