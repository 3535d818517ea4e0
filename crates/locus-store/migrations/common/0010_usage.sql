-- Metering of bulk point queries (issue 18): one row per finished job,
-- written in the transaction that ends it.
CREATE TABLE usage_records (
    job_id        TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id    TEXT,
    points        BIGINT NOT NULL,
    point_queries BIGINT NOT NULL,
    metrics       BIGINT NOT NULL,
    rows_scanned  BIGINT NOT NULL,
    compute_ms    BIGINT NOT NULL,
    billable      BIGINT NOT NULL, -- 1 when the request asked for billing
    created_at    BIGINT NOT NULL
);
CREATE INDEX usage_records_project ON usage_records (project_id, created_at);

-- Operator-set monthly quotas of bulk point query points, per account and project.
CREATE TABLE usage_quotas (
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    monthly_points BIGINT NOT NULL,
    PRIMARY KEY (project_id, account_id)
);
