-- ImageHost schema: the device authorization grant (RFC 8628). One row per
-- device authorization request, from its issue to its redemption, kept
-- store.DeviceAuthorizationRetention past its expiry so that a device still
-- polling hears expired_token.

CREATE TABLE device_authorizations (
    device_code_hash BLOB PRIMARY KEY,     -- SHA-256 of the device code; the code itself is never stored
    user_code        TEXT NOT NULL UNIQUE, -- normalised: upper case, no hyphen
    client_id        TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    interval_ms      INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    flow_ref         TEXT NOT NULL,
    -- The user's answer: NULL and '' until they give it. Deleting the user
    -- deletes what they answered, so no token is issued for them later.
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    approved         INTEGER NOT NULL,
    auth_time        TEXT NOT NULL,
    decided_at       TEXT NOT NULL,
    -- The redemption.
    grant_id         TEXT NOT NULL,
    consumed_at      TEXT NOT NULL
);
-- The cap on pending authorizations counts the unanswered, unexpired ones;
-- housekeeping deletes by expiry.
CREATE INDEX device_authorizations_pending ON device_authorizations(decided_at, expires_at);
CREATE INDEX device_authorizations_expires ON device_authorizations(expires_at);
