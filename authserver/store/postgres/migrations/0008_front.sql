-- ImageHost schema, version 8: keys for signed cookies, clients registered
-- at /register, and a session's grants found by its id.

-- Secret keys the server keeps for itself, such as the one its cookies
-- (CSRF tokens, a pending request's browser, a known browser) are signed
-- with. Every instance on one database uses the same.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    key  BYTEA NOT NULL
);

-- A client registered at /register (RFC 7591) chose its own redirect URIs,
-- like one registered in the developer console: no error goes to them
-- before a user has signed in (RFC 9700 §4.11.2).
ALTER TABLE clients ADD COLUMN dynamically_registered BOOLEAN NOT NULL DEFAULT false;

-- When a login session ends, so do its grants without offline_access and
-- its codes not yet redeemed.
CREATE INDEX grants_session ON grants(session_id);
CREATE INDEX auth_codes_session ON auth_codes(session_id);
