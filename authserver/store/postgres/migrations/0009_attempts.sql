-- ImageHost schema, for PostgreSQL: attempts counted per key
-- (store.Attempts), so that instances sharing the database share one limit
-- on sign-ins and on user codes typed at /device; store/sqlite/migrations
-- has the same version for SQLite.

CREATE TABLE attempts (
    id         BIGSERIAL PRIMARY KEY, -- never reused: a released id names no later attempt
    key        TEXT NOT NULL,         -- "login-account:alice", "login-address:192.0.2.1", ...
    expires_at BIGINT NOT NULL        -- when it stops counting: the attempt's time plus its window
);
-- Counting a key's live attempts, and the sweep by expiry.
CREATE INDEX attempts_key ON attempts(key, expires_at);
CREATE INDEX attempts_expires ON attempts(expires_at);
