-- v1: agents and the message broker.
CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    runtime TEXT NOT NULL,
    incarnation INTEGER NOT NULL DEFAULT 0,
    applied_sha TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    in_reply_to INTEGER,
    delivered_at REAL,
    acked_at REAL
);
CREATE INDEX messages_by_recipient ON messages (recipient, id);
