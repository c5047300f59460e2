-- ImageHost schema, version 2: the activity log, ImageHost's decisions per
-- user, for the account page and the workshop inspector.

CREATE TABLE activity (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    flow_ref   TEXT NOT NULL,
    event      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         BIGINT
);
CREATE INDEX activity_user ON activity(user_id, id);
CREATE INDEX activity_at ON activity(at);

-- The flow reference follows a login from its authorization request to
-- every token of the grant it creates.
ALTER TABLE auth_codes ADD COLUMN flow_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN flow_ref TEXT NOT NULL DEFAULT '';
