-- ImageHost schema, version 3: when the demo's users were seeded. The demo
-- seeds them on its first run only; a user or photo removed later stays
-- removed.

CREATE TABLE demo_seed (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seeded_at BIGINT
);
