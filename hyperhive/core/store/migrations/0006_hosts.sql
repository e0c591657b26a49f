-- v5: hosts: machines that run agents over SSH, each with its host key pinned at first contact.
CREATE TABLE hosts (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    host_key TEXT NOT NULL,
    drained INTEGER NOT NULL DEFAULT 0,
    added_at REAL NOT NULL,
    added_by TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

INSERT INTO hosts (name, url, host_key, drained, added_at, added_by)
VALUES ('local', '', '', 0, CAST(strftime('%s', 'now') AS REAL), 'system');
