-- The control data of the data plane (issue 16). The rows themselves are
-- Parquet files on the object store; these tables say which files exist,
-- which version of each dataset is current, and what the jobs are doing.

-- Upload links (api-contract.md §8.1): capability URLs, so only a SHA-256 of
-- the secret is kept. `parts` is 0 for a single upload; `part_list` is the
-- completed upload's part numbers in order (a JSON array), NULL until complete.
CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by   TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    secret_hash  TEXT NOT NULL,
    parts        BIGINT NOT NULL,
    part_list    TEXT,
    bytes        BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX uploads_expiry ON uploads (expires_at);

-- One row per part received (a single upload is part 1). A part may be sent
-- again until the upload is complete; the last one counts.
CREATE TABLE upload_parts (
    upload_id   TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    part_number BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- Jobs (api-contract.md §7). QUEUED jobs wait for a worker; a worker that
-- claims one holds a lease it renews while it runs. A RUNNING job whose lease
-- lapsed had a worker that died: the next sweep ends it FAILED.
CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id     TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    type           TEXT NOT NULL,
    dataset        TEXT,
    content        TEXT NOT NULL,
    status         TEXT NOT NULL,
    message        TEXT,
    result         TEXT,
    progress_rows  BIGINT NOT NULL DEFAULT 0,
    progress_bytes BIGINT NOT NULL DEFAULT 0,
    worker         TEXT,
    lease_until    BIGINT,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    ended_at       BIGINT,
    deadline_at    BIGINT
);
CREATE INDEX jobs_queue ON jobs (status, created_at);
CREATE INDEX jobs_history ON jobs (project_id, created_at, id);

-- Every stored version of a dataset's rows. `path` is the version's file on
-- the object store; `replaced_at` is set when another version becomes current,
-- and the retention sweep deletes the file and the row some time after.
CREATE TABLE dataset_versions (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    dataset     TEXT NOT NULL,
    version_id  TEXT NOT NULL,
    path        TEXT NOT NULL,
    row_count   BIGINT NOT NULL,
    byte_count  BIGINT NOT NULL,
    loaded_by   TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    job_id      TEXT,
    created_at  BIGINT NOT NULL,
    replaced_at BIGINT,
    PRIMARY KEY (project_id, dataset, version_id)
);
CREATE INDEX dataset_versions_replaced ON dataset_versions (replaced_at);

-- The current version of each loaded dataset: switching is one upsert here,
-- in the same transaction as the job's end and its audit event.
CREATE TABLE dataset_heads (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    dataset    TEXT NOT NULL,
    version_id TEXT NOT NULL,
    PRIMARY KEY (project_id, dataset)
);

-- Files made for download (dumps), deleted by the sweep once expired.
CREATE TABLE downloads (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    path       TEXT NOT NULL,
    job_id     TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX downloads_expiry ON downloads (expires_at);
