-- v2: redelivery counts, agent flags, approvals, questions, events, stats, audit.
ALTER TABLE messages ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_unacked ON messages (recipient, id) WHERE acked_at IS NULL;
CREATE INDEX messages_by_sender ON messages (sender, id);
CREATE INDEX messages_by_ts ON messages (ts);

ALTER TABLE agents ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN last_turn_at REAL;

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    agent TEXT NOT NULL,
    commit_ref TEXT,
    fetched_sha TEXT,
    base_sha TEXT,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    note TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    decided_at REAL
);
CREATE INDEX approvals_by_status ON approvals (status, id);
CREATE INDEX approvals_by_agent ON approvals (agent, id);

CREATE TABLE questions (
    id INTEGER PRIMARY KEY,
    asker TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT 'operator',
    question TEXT NOT NULL,
    options_json TEXT NOT NULL DEFAULT '[]',
    multi INTEGER NOT NULL DEFAULT 0,
    deadline REAL NOT NULL,
    status TEXT NOT NULL,
    answer_json TEXT,
    answerer TEXT,
    created_at REAL NOT NULL,
    answered_at REAL
);
CREATE INDEX questions_by_status ON questions (status, id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    ts REAL NOT NULL,
    turn INTEGER,
    kind TEXT NOT NULL,
    data_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_agent ON events (agent, id);
CREATE INDEX events_by_ts ON events (ts);

CREATE TABLE stats (
    agent TEXT NOT NULL,
    ts REAL NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX stats_by_series ON stats (agent, key, ts);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail_json TEXT NOT NULL DEFAULT '{}',
    result TEXT NOT NULL DEFAULT 'ok',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
