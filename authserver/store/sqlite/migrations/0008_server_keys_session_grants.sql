-- ImageHost schema, version 8: keys for signed cookies, and a session's grants found by its id.

-- Secret keys the server keeps for itself, such as the one its cookies
-- (CSRF tokens, a pending request's browser, a known browser) are signed
-- with. Every instance on one database uses the same.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    key  BLOB NOT NULL
);


-- When a login session ends, so do its grants without offline_access and
-- its codes not yet redeemed.
CREATE INDEX grants_session ON grants(session_id);
CREATE INDEX auth_codes_session ON auth_codes(session_id);
