-- v3: stats rollups, sampling levels and last values, so a series query never scans raw rows.
-- lvl: a geometric level per sample (P(lvl >= k) = 2^-k) for uniform percentile samples.
ALTER TABLE stats ADD COLUMN lvl INTEGER NOT NULL DEFAULT 0;
CREATE INDEX stats_by_level ON stats (agent, key, lvl, ts, value);

CREATE TABLE stats_rollup (
    agent TEXT NOT NULL,
    key TEXT NOT NULL,
    period INTEGER NOT NULL,
    t INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (agent, key, period, t)
) WITHOUT ROWID;

CREATE TABLE stats_last (
    agent TEXT NOT NULL,
    key TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (agent, key)
) WITHOUT ROWID;

INSERT INTO stats_rollup (agent, key, period, t, count, sum, min, max)
SELECT agent, key, 60, CAST(ts / 60 AS INTEGER) * 60, count(*), sum(value), min(value), max(value)
FROM stats GROUP BY agent, key, CAST(ts / 60 AS INTEGER);

INSERT INTO stats_rollup (agent, key, period, t, count, sum, min, max)
SELECT agent, key, 3600, CAST(ts / 3600 AS INTEGER) * 3600, count(*), sum(value), min(value),
    max(value)
FROM stats GROUP BY agent, key, CAST(ts / 3600 AS INTEGER);

-- a bare column next to max() comes from the row holding the max
INSERT INTO stats_last (agent, key, ts, value)
SELECT agent, key, max(ts), value FROM stats GROUP BY agent, key
