-- ImageHost schema, version 1. Times are UTC text in a fixed-width RFC 3339
-- format, so that comparing strings compares times.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE clients (
    id                        TEXT PRIMARY KEY,
    secret_hash               BLOB,
    name                      TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL, -- JSON array
    post_logout_redirect_uris TEXT NOT NULL, -- JSON array
    grant_types               TEXT NOT NULL, -- JSON array
    scope                     TEXT NOT NULL,
    backchannel_logout_uri    TEXT NOT NULL,
    access_token_ttl_ms       INTEGER NOT NULL,
    owner_user_id             TEXT NOT NULL,
    created_at                TEXT NOT NULL
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
    browser_hash          BLOB NOT NULL,
    user_id               TEXT NOT NULL,
    auth_time             TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    expires_at            TEXT NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests(expires_at);

CREATE TABLE auth_codes (
    code_hash             BLOB PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    auth_time             TEXT NOT NULL,
    expires_at            TEXT NOT NULL,
    grant_id              TEXT NOT NULL,
    consumed_at           TEXT NOT NULL
);
CREATE INDEX auth_codes_expires ON auth_codes(expires_at);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope         TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    auth_time     TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT NOT NULL,
    revoke_reason TEXT NOT NULL
);
CREATE INDEX grants_user_client ON grants(user_id, client_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT NOT NULL
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time  TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_der BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT NOT NULL
);

CREATE TABLE photos (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    title        TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX photos_owner ON photos(owner, created_at);
