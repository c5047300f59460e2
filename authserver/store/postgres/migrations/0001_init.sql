-- ImageHost schema, version 1, for PostgreSQL; store/sqlite/migrations has
-- the same version for SQLite.
--
-- Times are BIGINT nanoseconds since 1970-01-01 UTC, and NULL when not set
-- (a code not yet consumed, a grant not revoked), as SQLite's are '' then.
-- TIMESTAMPTZ would keep only microseconds, and the store gives back the
-- instant it was given, to the nanosecond. To read one in psql:
-- to_timestamp(expires_at / 1e9).
--
-- Unlike SQLite's, this schema indexes the expiry columns that the
-- housekeeping of every instance scans each minute.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    created_at    BIGINT
);

CREATE TABLE clients (
    id                        TEXT PRIMARY KEY,
    secret_hash               BYTEA, -- NULL for public clients
    name                      TEXT NOT NULL,
    redirect_uris             TEXT[] NOT NULL,
    post_logout_redirect_uris TEXT[] NOT NULL,
    grant_types               TEXT[] NOT NULL,
    scope                     TEXT NOT NULL,
    backchannel_logout_uri    TEXT NOT NULL,
    access_token_ttl_ms       BIGINT NOT NULL,
    owner_user_id             TEXT NOT NULL,
    created_at                BIGINT
);

CREATE TABLE auth_requests (
    id                    TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    state                 TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    prompt                TEXT NOT NULL,
    max_age               INTEGER NOT NULL,
    browser_hash          BYTEA NOT NULL,
    user_id               TEXT NOT NULL,
    auth_time             BIGINT,
    created_at            BIGINT,
    expires_at            BIGINT
);
CREATE INDEX auth_requests_expires ON auth_requests(expires_at);

CREATE TABLE auth_codes (
    code_hash             BYTEA PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    auth_time             BIGINT,
    expires_at            BIGINT,
    grant_id              TEXT NOT NULL,
    consumed_at           BIGINT
);
CREATE INDEX auth_codes_expires ON auth_codes(expires_at);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope         TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    auth_time     BIGINT,
    created_at    BIGINT,
    revoked_at    BIGINT,
    revoke_reason TEXT NOT NULL
);
CREATE INDEX grants_user_client ON grants(user_id, client_id);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  BIGINT,
    expires_at BIGINT,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time  BIGINT,
    expires_at BIGINT
);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT
);
CREATE INDEX revoked_access_tokens_expires ON revoked_access_tokens(expires_at);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    created_at  BIGINT,
    retired_at  BIGINT
);

CREATE TABLE photos (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    title        TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BYTEA NOT NULL,
    created_at   BIGINT,
    updated_at   BIGINT
);
CREATE INDEX photos_owner ON photos(owner, created_at);
