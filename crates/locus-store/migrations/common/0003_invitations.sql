-- Invitations to join a project by e-mail. The link's secret is kept only as a
-- SHA-256 (secret_hash), found by its public part (secret_id); resending rotates
-- both. EXPIRED is not stored: a PENDING invitation past expires_at reads as EXPIRED.

CREATE TABLE invitations (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email            TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    role             TEXT NOT NULL,
    status           TEXT NOT NULL,
    secret_id        TEXT NOT NULL,
    secret_hash      TEXT NOT NULL,
    invited_by       TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    accepted_by      TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    expires_at       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    modified_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX invitations_secret ON invitations (secret_id);
CREATE INDEX invitations_project ON invitations (project_id, created_at);
CREATE INDEX invitations_inviter ON invitations (project_id, invited_by);
