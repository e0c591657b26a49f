-- v7: which host each agent runs on (an agent without a row runs on `local`).
CREATE TABLE agent_hosts (
    agent TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    placed_at REAL NOT NULL
) WITHOUT ROWID;
