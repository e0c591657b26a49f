-- v8: the host an approval's agent runs on, or will run on. A spawn whose agent.toml names
-- no host shows the daemon's pick at request time (`host_picked` = 1); the build records
-- where the agent landed.
ALTER TABLE approvals ADD COLUMN host TEXT;
ALTER TABLE approvals ADD COLUMN host_picked INTEGER NOT NULL DEFAULT 0;
