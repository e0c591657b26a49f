-- v5: what each agent's container was built with (hyperhive version, runtime inputs),
-- and which reason to rebuild the manager was last told about (told once, not per start).
ALTER TABLE agents ADD COLUMN built_version TEXT;
ALTER TABLE agents ADD COLUMN built_inputs TEXT;
ALTER TABLE agents ADD COLUMN stale_told TEXT NOT NULL DEFAULT '';
