-- ImageHost schema, version 6: revocations numbered in the order they are
-- recorded.

-- seq numbers each revocation as it is recorded: a reader that remembers the
-- highest number it has read (revocation.Set) asks for what came after, and
-- misses nothing, whatever the clocks of the processes that recorded them
-- said. SQLite has one writer at a time, so numbers are given in commit
-- order; AUTOINCREMENT never gives a number twice, not even once the row
-- that had the highest was deleted. A later revocation of the same key
-- replaces the row, and so gets a new number. SQLite cannot add such a
-- column to a table, so the table is made again.
CREATE TABLE revocations_numbered (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL, -- grant, token, client or subject
    id         TEXT NOT NULL, -- the grant id, jti, client_id or sub
    revoked_at TEXT NOT NULL,
    UNIQUE (kind, id)
);
INSERT INTO revocations_numbered (kind, id, revoked_at)
    SELECT kind, id, revoked_at FROM revocations ORDER BY revoked_at, kind, id;
DROP TABLE revocations;
ALTER TABLE revocations_numbered RENAME TO revocations;
CREATE INDEX revocations_at ON revocations(revoked_at);

