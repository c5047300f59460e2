-- PhotoEditorApp's schema, version 2: a session's DPoP key (RFC 9449),
-- sealed by the app (app/dpop.Sealer), to which ImageHost binds the
-- session's tokens; '' for bearer tokens.
ALTER TABLE photoeditor.sessions ADD COLUMN dpop_key TEXT NOT NULL DEFAULT '';
