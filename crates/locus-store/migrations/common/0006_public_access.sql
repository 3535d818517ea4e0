-- Public access (shared/seeds/000): tokens that open one project read-only for
-- anyone, acting through the membership of an anonymous-capable service
-- account. Only a SHA-256 of a token's secret is kept. A token goes with its
-- project and its service account; its sessions go with it.

CREATE TABLE public_tokens (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- NULL: until revoked
    expires_at  BIGINT
);
CREATE INDEX public_tokens_project ON public_tokens (project_id, created_at);
CREATE INDEX public_tokens_account ON public_tokens (account_id);

-- The views a token shows, by name. A token without rows shows every view its
-- service account may see; a view renamed or deleted later simply stops showing.
CREATE TABLE public_token_views (
    token_id  TEXT NOT NULL REFERENCES public_tokens (id) ON DELETE CASCADE,
    view_name TEXT NOT NULL,
    PRIMARY KEY (token_id, view_name)
);

-- Short-lived bearers exchanged from public tokens. Kept apart from `sessions`
-- so that no public bearer can ever pass for an account's session.
CREATE TABLE public_sessions (
    id          TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL REFERENCES public_tokens (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX public_sessions_token ON public_sessions (token_id);
