-- E-mail ownership (issue 20, item 2). An account's e-mail is verified when
-- its owner opened a single-use link mailed to it, accepted an invitation
-- mailed to it, or an operator vouched for it. Only verified accounts are
-- found by e-mail (the lookup, adding a member by e-mail).
--
-- Accounts created before this migration keep working as they did: they are
-- taken as verified, since nothing distinguishes them now.
ALTER TABLE accounts ADD COLUMN email_verified_at BIGINT;
UPDATE accounts SET email_verified_at = created_at;

CREATE TABLE email_verifications (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The address the link was sent to: a link verifies only that address.
    email       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX email_verifications_account ON email_verifications (account_id);
