-- ImageHost schema, version 9: attempts counted per key (store.Attempts),
-- so that instances sharing a database share one limit. One instance on
-- SQLite counts in memory; the table is here so that both stores keep the
-- same schema and pass the same conformance suite.

CREATE TABLE attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a released id names no later attempt
    key        TEXT NOT NULL,                     -- "login-account:alice", "login-address:192.0.2.1", ...
    expires_at TEXT NOT NULL                      -- when it stops counting: the attempt's time plus its window
);
-- Counting a key's live attempts, and the sweep by expiry.
CREATE INDEX attempts_key ON attempts(key, expires_at);
CREATE INDEX attempts_expires ON attempts(expires_at);
