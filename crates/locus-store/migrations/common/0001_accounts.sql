-- Accounts, their default organizations, and the credentials that act for them.
-- Times are Unix milliseconds (BIGINT) so that both backends read them the same way;
-- flags are BIGINT 0/1 for the same reason.

CREATE TABLE organizations (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    dwh_cluster_id   TEXT NOT NULL,
    invitation_email TEXT,
    created_at       BIGINT NOT NULL,
    modified_at      BIGINT NOT NULL
);

CREATE TABLE accounts (
    id                      TEXT PRIMARY KEY,
    email                   TEXT NOT NULL,
    -- lower-cased e-mail: uniqueness and lookups are case-insensitive
    email_normalized        TEXT NOT NULL,
    given_name              TEXT NOT NULL,
    surname                 TEXT NOT NULL,
    phone_number            TEXT,
    consent_granted         BIGINT NOT NULL DEFAULT 0,
    password_hash           TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'ENABLED',
    -- platform operator: an account attribute, not a project role
    operator                BIGINT NOT NULL DEFAULT 0,
    anonymous               BIGINT NOT NULL DEFAULT 0,
    preferences             TEXT NOT NULL DEFAULT '{}',
    onboarding              TEXT NOT NULL DEFAULT '{}',
    default_organization_id TEXT NOT NULL REFERENCES organizations (id),
    created_at              BIGINT NOT NULL,
    modified_at             BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (email_normalized);

CREATE TABLE organization_members (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, account_id)
);
CREATE INDEX organization_members_account ON organization_members (account_id);

-- Personal access tokens. Only a SHA-256 of the secret part is kept. Revoking
-- deletes the row, and with it (cascade) every bearer session exchanged from it.
CREATE TABLE access_tokens (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX access_tokens_account ON access_tokens (account_id);

-- Short-lived bearers from POST /rest/oauth/token. Checked on every request;
-- anything that must end them deletes the rows, so no instance can serve a stale one.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    access_token_id TEXT REFERENCES access_tokens (id) ON DELETE CASCADE,
    secret_hash     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Single-use password reset links.
CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_account ON password_resets (account_id);

-- Failure counters for brute-force protection, shared by every instance.
CREATE TABLE throttles (
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject)
);
