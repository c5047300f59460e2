-- PhotoEditorApp's schema, version 1, for PostgreSQL. Every table lives in
-- the schema "photoeditor", so that the app may share a database with
-- another program (ImageHost has a table named sessions too).
--
-- Times are BIGINT milliseconds since 1970-01-01 UTC, as in the app's
-- SQLite file (tokenstore/sqlite). To read one in psql:
-- to_timestamp(updated_at / 1e3).

-- tokenstore.Session: one browser's connection to ImageHost.
CREATE TABLE photoeditor.sessions (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    name          TEXT NOT NULL,
    sid           TEXT NOT NULL,
    access_token  TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    id_token      TEXT NOT NULL,
    expiry        BIGINT NOT NULL,
    refreshes     INTEGER NOT NULL,
    ended_reason  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX sessions_sid ON photoeditor.sessions (sid);
CREATE INDEX sessions_subject ON photoeditor.sessions (subject);
CREATE INDEX sessions_updated_at ON photoeditor.sessions (updated_at);

-- The flow inspector's recordings (flow.Storage): a browser's flow, and
-- the last number it gave an exchange. Its row is the lock that makes the
-- appends to one flow take turns.
CREATE TABLE photoeditor.flows (
    id      TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL,
    used_at BIGINT NOT NULL
);
CREATE INDEX flows_used_at ON photoeditor.flows (used_at);

-- One recorded exchange, as JSON (flow.Exchange), with what the bounds
-- need beside it: its size and whether it is dropped first.
CREATE TABLE photoeditor.flow_exchanges (
    flow_id    TEXT NOT NULL REFERENCES photoeditor.flows (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    drop_first BOOLEAN NOT NULL,
    size       INTEGER NOT NULL,
    exchange   BYTEA NOT NULL,
    PRIMARY KEY (flow_id, seq)
);
