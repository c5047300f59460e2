-- ImageHost schema, version 10: a workshop's room. Attendees create their
-- own accounts with a join code; admins (teachers) see the class view and
-- may disable attendees; the class view reads a summary of the activity
-- log that the log's writer keeps. store/sqlite/migrations has the same.

ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN joined_at BIGINT;   -- NULL unless the user joined with the code
ALTER TABLE users ADD COLUMN disabled_at BIGINT; -- NULL while the user may sign in
-- JoinUser counts the users who joined, and the class view lists them.
CREATE INDEX users_joined ON users(joined_at) WHERE joined_at IS NOT NULL;

-- The join code, one row at most. Only hashes: the code is shown once,
-- when it is made.
CREATE TABLE join_code (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    code_hash       BYTEA, -- NULL: joining is closed
    configured_hash BYTEA, -- the operator's IMAGEHOST_JOIN_CODE that set it, if it did
    set_at          BIGINT
);

-- How far each user got: one row per user and milestone (store.Milestone),
-- kept by AddActivity. A user deleted takes theirs along (DeleteUser).
-- No foreign key: a client-credentials token's subject is a client, and
-- a row for one must not fail the activity log's batch.
CREATE TABLE class_progress (
    user_id   TEXT NOT NULL,
    milestone TEXT NOT NULL,
    first_at  BIGINT NOT NULL,
    last_at   BIGINT NOT NULL,
    count     INTEGER NOT NULL,
    refusal   TEXT NOT NULL, -- the latest refusal's label, for 'refused'
    PRIMARY KEY (user_id, milestone)
);

-- How many refusals of each kind each minute saw, for the class view's
-- most common refusals of the last minutes; kept for an hour
-- (store.RefusalRetention). Labels are ImageHost's own, a few dozen, so
-- the table holds at most an hour's minutes times those.
CREATE TABLE class_refusals (
    minute  BIGINT NOT NULL, -- Unix time / 60
    refusal TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (minute, refusal)
);
