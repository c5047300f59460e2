-- ImageHost schema, version 4: the login session that signed in for a
-- pending authorization request. prompt=login and max_age are satisfied by
-- that login only while the browser still has that very session.

ALTER TABLE auth_requests ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
