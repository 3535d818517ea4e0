-- Projects and the memberships that give accounts a role in them.
-- The project id leads the membership key: every access check looks up
-- (project, account).

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    title           TEXT NOT NULL,
    description     TEXT,
    status          TEXT NOT NULL DEFAULT 'ENABLED',
    share           TEXT NOT NULL DEFAULT 'PRIVATE',
    created_by      TEXT,
    created_at      BIGINT NOT NULL,
    modified_at     BIGINT NOT NULL
);
CREATE INDEX projects_organization ON projects (organization_id);

CREATE TABLE memberships (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX memberships_project_account ON memberships (project_id, account_id);
-- "my projects" lists walk an account's ENABLED memberships; with the status in
-- the index their count reads the index alone (see docs/benchmarks.md, scale)
CREATE INDEX memberships_account ON memberships (account_id, status, project_id);
