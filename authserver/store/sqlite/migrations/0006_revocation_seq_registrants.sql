-- ImageHost schema, version 6: revocations numbered in the order they are
-- recorded, and who registered each client, with an expiry for those that
-- dynamic registration made.

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

-- Who registered a client, where registration is open to others: the
-- developer console's user ("user:<id>") or dynamic registration's initial
-- access token ("iat:<hash>"); '' for the operator's clients. Registration
-- caps the clients of one registrant. A client that registration made
-- expires (expires_at), and is then deleted with what was issued to it.
ALTER TABLE clients ADD COLUMN registrant TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN expires_at TEXT NOT NULL DEFAULT '';
UPDATE clients SET registrant = 'user:' || owner_user_id WHERE owner_user_id != '';
CREATE INDEX clients_registrant ON clients(registrant);
CREATE INDEX clients_expires ON clients(expires_at) WHERE expires_at != '';
