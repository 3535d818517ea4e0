-- DWH query requests, so that any instance can answer the GET of a result
-- another instance accepted (results themselves stay in the computing
-- process's memory; a missing one is computed again from its request). A
-- cache, not a record: rows expire with the results (10 minutes) and carry no
-- audit event.
CREATE TABLE dwh_requests (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dwh_requests_created ON dwh_requests (created_at);
