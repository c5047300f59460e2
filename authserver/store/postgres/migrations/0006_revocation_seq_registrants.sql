-- ImageHost schema, version 6: revocations numbered in the order they are
-- recorded, and who registered each client, with an expiry for those that
-- dynamic registration made.

-- seq numbers each revocation as it is recorded: a reader that remembers the
-- highest number it has read (revocation.Set) asks for what came after, and
-- misses nothing, whatever the clocks of the instances that recorded them
-- said. A sequence never gives a number twice; a later revocation of the
-- same key takes a new number. A sequence hands out numbers in the order
-- transactions ask, not in the order they commit, so every transaction that
-- records a revocation first takes the revocation lock (revocations.go):
-- one at a time, numbers are given in commit order. The rows already here
-- get numbers in no particular order: a reader starts from the beginning.
CREATE SEQUENCE revocation_seq;
ALTER TABLE revocations ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('revocation_seq');
ALTER SEQUENCE revocation_seq OWNED BY revocations.seq;
CREATE UNIQUE INDEX revocations_seq ON revocations(seq);

-- Who registered a client, where registration is open to others: the
-- developer console's user ("user:<id>") or dynamic registration's initial
-- access token ("iat:<hash>"); '' for the operator's clients. Registration
-- caps the clients of one registrant. A client that registration made
-- expires (expires_at), and is then deleted with what was issued to it.
ALTER TABLE clients ADD COLUMN registrant TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN expires_at BIGINT;
UPDATE clients SET registrant = 'user:' || owner_user_id WHERE owner_user_id <> '';
CREATE INDEX clients_registrant ON clients(registrant);
CREATE INDEX clients_expires ON clients(expires_at) WHERE expires_at IS NOT NULL;
