-- v4: reminders (durable self-wakes), why an approval was asked for, operator overrides.
CREATE TABLE reminders (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    body TEXT NOT NULL,
    file_path TEXT,
    due_at REAL NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    decided_at REAL,
    decided_by TEXT,
    message_id INTEGER
);
CREATE INDEX reminders_due ON reminders (status, due_at);
CREATE INDEX reminders_by_agent ON reminders (agent, status);

ALTER TABLE approvals ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN author TEXT NOT NULL DEFAULT '';

CREATE TABLE agent_overrides (
    agent TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at REAL NOT NULL,
    PRIMARY KEY (agent, key)
) WITHOUT ROWID;
