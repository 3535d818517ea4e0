//! Personal access tokens, bearer sessions and password-reset links. The store
//! keeps only SHA-256 hashes of their secrets; it neither makes nor checks
//! secrets (the server does), it only finds rows by their public id.

use crate::accounts::{account_from_row, ACCOUNT_COLUMNS};
use crate::audit::{record, Actor};
use crate::row::Cols;
use crate::{Account, Result, Store, StoreError};
use std::sync::LazyLock;

/// A personal access token, without its secret.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

fn token_from_row(row: &impl Cols) -> Result<AccessToken> {
    Ok(AccessToken {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        name: row.text("name")?,
        secret_hash: row.text("secret_hash")?,
        created_at: row.int("created_at")?,
        expires_at: row.opt_int("expires_at")?,
        last_used_at: row.opt_int("last_used_at")?,
    })
}

/// The session columns of a query that selects `SESSION_COLUMNS` and the account's.
pub(crate) const SESSION_COLUMNS: &str = "s.secret_hash AS session_secret_hash, s.expires_at AS session_expires_at, \
     s.access_token_id AS session_access_token_id";

pub(crate) fn session_from_row(row: &impl crate::row::Cols) -> Result<SessionAccount> {
    Ok(SessionAccount {
        secret_hash: row.text("session_secret_hash")?,
        expires_at: row.int("session_expires_at")?,
        access_token_id: row.opt_text("session_access_token_id")?,
        account: account_from_row(row)?,
    })
}

const TOKEN_COLUMNS: &str = "id, account_id, name, secret_hash, created_at, expires_at, last_used_at";

/// A bearer session to create. `expires_at` is already capped by the access
/// token's own expiry.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub access_token_id: Option<&'a str>,
    pub secret_hash: &'a str,
    pub expires_at: i64,
}

/// A session found by id, with the account it acts for.
#[derive(Debug, Clone)]
pub struct SessionAccount {
    pub secret_hash: String,
    pub expires_at: i64,
    pub access_token_id: Option<String>,
    pub account: Account,
}

/// A pending password reset.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub id: String,
    pub secret_hash: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub account: Account,
}

impl Store {
    pub async fn create_access_token(&self, actor: &Actor, token: &AccessToken) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO access_tokens (id, account_id, name, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&token.id)
            .bind(&token.account_id)
            .bind(&token.name)
            .bind(&token.secret_hash)
            .bind(token.created_at)
            .bind(token.expires_at)
            .execute()
            .await?;
            let content = serde_json::json!({"access_token_id": token.id, "name": token.name, "owner_account_id": token.account_id});
            record(&mut tx, actor, None, "create_access_token", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn access_token(&self, id: &str) -> Result<Option<AccessToken>> {
        let row = self
            .read(&format!("SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// The account's tokens, newest first.
    pub async fn access_tokens(&self, account_id: &str) -> Result<Vec<AccessToken>> {
        let rows = self
            .read(&format!(
                "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE account_id = $1 ORDER BY created_at DESC, id"
            ))
            .bind(account_id)
            .fetch_all()
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes one of the account's tokens; its sessions go with it (cascade).
    pub async fn revoke_access_token(&self, actor: &Actor, account_id: &str, id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let sql = "DELETE FROM access_tokens WHERE id = $1 AND account_id = $2";
            if tx.query(sql).bind(id).bind(account_id).execute().await? == 0 {
                return Err(StoreError::NotFound);
            }
            record(
                &mut tx,
                actor,
                None,
                "revoke_access_token",
                serde_json::json!({"access_token_id": id}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Records a bearer session, marking its access token used and clearing the
    /// account's expired sessions on the way.
    pub async fn create_session(&self, actor: &Actor, session: &NewSession<'_>, now: i64) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query("DELETE FROM sessions WHERE account_id = $1 AND expires_at <= $2")
                .bind(session.account_id)
                .bind(now)
                .execute()
                .await?;
            tx.query(
                "INSERT INTO sessions (id, account_id, access_token_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session.id)
            .bind(session.account_id)
            .bind(session.access_token_id)
            .bind(session.secret_hash)
            .bind(now)
            .bind(session.expires_at)
            .execute()
            .await?;
            if let Some(token_id) = session.access_token_id {
                tx.query("UPDATE access_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(token_id)
                    .execute()
                    .await?;
            }
            let grant = if session.access_token_id.is_some() {
                "access_token"
            } else {
                "password"
            };
            let content = serde_json::json!({"grant": grant, "access_token_id": session.access_token_id, "expires_at": session.expires_at});
            record(&mut tx, actor, None, "request_access_token", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Finds a live session and its account in one query: this runs on every
    /// authenticated request. Expired sessions and disabled accounts do not match.
    pub async fn session(&self, id: &str, now: i64) -> Result<Option<SessionAccount>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {SESSION_COLUMNS}, {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id \
                 WHERE s.id = $1 AND s.expires_at > $2 AND a.status = 'ENABLED'"
            )
        });
        let row = self.read(&SQL).bind(id).bind(now).fetch_optional().await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Ends one session (sign-out).
    pub async fn delete_session(&self, id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query("DELETE FROM sessions WHERE id = $1").bind(id).execute().await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn create_password_reset(&self, actor: &Actor, id: &str, account_id: &str, secret_hash: &str, expires_at: i64) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query("INSERT INTO password_resets (id, account_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(account_id)
                .bind(secret_hash)
                .bind(crate::now_millis())
                .bind(expires_at)
                .execute()
                .await?;
            record(
                &mut tx,
                actor,
                None,
                "reset_password_request",
                serde_json::json!({"account_id": account_id}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn password_reset(&self, id: &str) -> Result<Option<PasswordReset>> {
        let row = self
            .read(&format!(
                "SELECT r.id AS reset_id, r.secret_hash AS reset_secret_hash, r.expires_at AS reset_expires_at, \
             r.used_at AS reset_used_at, {ACCOUNT_COLUMNS} \
             FROM password_resets r JOIN accounts a ON a.id = r.account_id WHERE r.id = $1"
            ))
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|row| {
            Ok(PasswordReset {
                id: row.text("reset_id")?,
                secret_hash: row.text("reset_secret_hash")?,
                expires_at: row.int("reset_expires_at")?,
                used_at: row.opt_int("reset_used_at")?,
                account: account_from_row(&row)?,
            })
        })
        .transpose()
    }

    /// Completes a reset: marks the link used (only if it still is unused and
    /// unexpired, so of two racing uses one wins), sets the password, ends every
    /// session and access token, and kills the account's other reset links.
    /// `NotFound` when the link was used or expired meanwhile.
    pub async fn complete_password_reset(
        &self,
        actor: &Actor,
        reset_id: &str,
        account_id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|mut tx| async move {
            let claimed = tx
                .query("UPDATE password_resets SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1")
                .bind(now)
                .bind(reset_id)
                .execute()
                .await?;
            if claimed == 0 {
                return Err(StoreError::NotFound);
            }
            tx.query("UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(account_id)
                .execute()
                .await?;
            crate::accounts::replace_password(&mut tx, account_id, password_hash, true, now).await?;
            record(
                &mut tx,
                actor,
                None,
                "reset_password",
                serde_json::json!({"reset_password_account_id": account_id}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// A link mailed to prove that an account's owner reads its e-mail.
#[derive(Debug, Clone)]
pub struct EmailVerification {
    pub id: String,
    /// The address the link was sent to.
    pub email: String,
    pub secret_hash: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub account: Account,
}

impl Store {
    pub async fn create_email_verification(
        &self,
        actor: &Actor,
        id: &str,
        account: &Account,
        secret_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO email_verifications (id, account_id, email, secret_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&account.id)
            .bind(&account.email)
            .bind(secret_hash)
            .bind(crate::now_millis())
            .bind(expires_at)
            .execute()
            .await?;
            let content = serde_json::json!({"account_id": account.id, "email": account.email});
            record(&mut tx, actor, None, "email_verification_request", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn email_verification(&self, id: &str) -> Result<Option<EmailVerification>> {
        let row = self
            .read(&format!(
                "SELECT v.id AS verification_id, v.email AS verification_email, v.secret_hash AS verification_secret_hash, \
                 v.expires_at AS verification_expires_at, v.used_at AS verification_used_at, {ACCOUNT_COLUMNS} \
                 FROM email_verifications v JOIN accounts a ON a.id = v.account_id WHERE v.id = $1"
            ))
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|row| {
            Ok(EmailVerification {
                id: row.text("verification_id")?,
                email: row.text("verification_email")?,
                secret_hash: row.text("verification_secret_hash")?,
                expires_at: row.int("verification_expires_at")?,
                used_at: row.opt_int("verification_used_at")?,
                account: account_from_row(&row)?,
            })
        })
        .transpose()
    }

    /// Uses a verification link: marks it used (only if it is still unused
    /// and unexpired, so of two racing uses one wins), kills the account's
    /// other links and marks the e-mail verified. `NotFound` when the link
    /// was used or expired meanwhile, or the account's e-mail is no longer
    /// the one it was sent to.
    pub async fn complete_email_verification(&self, actor: &Actor, verification: &EmailVerification, now: i64) -> Result<()> {
        let account_id = verification.account.id.as_str();
        self.write(|mut tx| async move {
            let claimed = tx
                .query("UPDATE email_verifications SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1")
                .bind(now)
                .bind(&verification.id)
                .execute()
                .await?;
            if claimed == 0 {
                return Err(StoreError::NotFound);
            }
            tx.query("UPDATE email_verifications SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(account_id)
                .execute()
                .await?;
            if !mark_email_verified(&mut tx, account_id, &verification.email, now).await? {
                return Err(StoreError::NotFound);
            }
            let content = serde_json::json!({"account_id": account_id, "email": verification.email});
            record(&mut tx, actor, None, "email_verified", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Marks the account's current e-mail verified (an operator vouches for
    /// it). `NotFound` when there is no such account.
    pub async fn set_email_verified(&self, actor: &Actor, account: &Account) -> Result<()> {
        self.write(|mut tx| async move {
            let now = crate::now_millis();
            if !mark_email_verified(&mut tx, &account.id, &account.email, now).await? {
                return Err(StoreError::NotFound);
            }
            let content = serde_json::json!({"account_id": account.id, "email": account.email, "by_operator": true});
            record(&mut tx, actor, None, "email_verified", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// Sets `email_verified_at` if the account still has `email` (compared
/// case-insensitively); keeps an earlier verification time. Says whether
/// the account has that e-mail.
pub(crate) async fn mark_email_verified(tx: &mut crate::Tx, account_id: &str, email: &str, now: i64) -> Result<bool> {
    let done = tx
        .query(
            "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, $1) \
             WHERE id = $2 AND email_normalized = $3",
        )
        .bind(now)
        .bind(account_id)
        .bind(email.to_lowercase())
        .execute()
        .await?;
    Ok(done > 0)
}
