-- ImageHost schema, for PostgreSQL: the device authorization grant
-- (RFC 8628); store/sqlite/migrations has the same version for SQLite. One
-- row per device authorization request, from its issue to its redemption,
-- kept store.DeviceAuthorizationRetention past its expiry so that a device
-- still polling hears expired_token.

CREATE TABLE device_authorizations (
    device_code_hash BYTEA PRIMARY KEY,    -- SHA-256 of the device code; the code itself is never stored
    user_code        TEXT NOT NULL UNIQUE, -- normalised: upper case, no hyphen
    client_id        TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    interval_ms      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    flow_ref         TEXT NOT NULL,
    -- The user's answer: NULL until they give it. Deleting the user deletes
    -- what they answered, so no token is issued for them later.
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    approved         BOOLEAN NOT NULL DEFAULT false,
    auth_time        BIGINT,
    decided_at       BIGINT,
    -- The redemption.
    grant_id         TEXT NOT NULL DEFAULT '',
    consumed_at      BIGINT
);
-- The cap on pending authorizations counts the unanswered, unexpired ones;
-- housekeeping deletes by expiry.
CREATE INDEX device_authorizations_pending ON device_authorizations(expires_at) WHERE decided_at IS NULL;
CREATE INDEX device_authorizations_expires ON device_authorizations(expires_at);
