//! Accounts and their default organizations.

use crate::audit::{record, Actor};
use crate::row::Cols;
use crate::{Result, Store, StoreError};
use locus_core::{AccountId, OrganizationId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Enabled,
    Disabled,
}

impl AccountStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Enabled => "ENABLED",
            AccountStatus::Disabled => "DISABLED",
        }
    }

    fn from_db(s: &str) -> AccountStatus {
        if s == "ENABLED" {
            AccountStatus::Enabled
        } else {
            AccountStatus::Disabled
        }
    }
}

/// An account as stored. `preferences` and `onboarding` are JSON objects.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub given_name: String,
    pub surname: String,
    pub phone_number: Option<String>,
    pub consent_granted: bool,
    pub password_hash: String,
    pub status: AccountStatus,
    pub operator: bool,
    pub anonymous: bool,
    pub preferences: serde_json::Value,
    pub onboarding: serde_json::Value,
    pub default_organization_id: String,
    /// When the owner of the e-mail proved it (None: not yet).
    pub email_verified_at: Option<i64>,
    pub created_at: i64,
    pub modified_at: i64,
}

impl Account {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.surname)
    }

    pub fn is_active(&self) -> bool {
        self.status == AccountStatus::Enabled
    }

    /// Whether the owner of the e-mail proved it: only such accounts are
    /// found by their e-mail.
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// Columns of `accounts` in the order [`account_from_row`] reads them.
pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.given_name, a.surname, a.phone_number, a.consent_granted, \
     a.password_hash, a.status, a.operator, a.anonymous, a.preferences, a.onboarding, \
     a.default_organization_id, a.email_verified_at, a.created_at, a.modified_at";

pub(crate) fn account_from_row(row: &impl Cols) -> Result<Account> {
    let json =
        |col: &str| -> Result<serde_json::Value> { Ok(serde_json::from_str(&row.text(col)?).unwrap_or_else(|_| serde_json::json!({}))) };
    Ok(Account {
        id: row.text("id")?,
        email: row.text("email")?,
        given_name: row.text("given_name")?,
        surname: row.text("surname")?,
        phone_number: row.opt_text("phone_number")?,
        consent_granted: row.int("consent_granted")? != 0,
        password_hash: row.text("password_hash")?,
        status: AccountStatus::from_db(&row.text("status")?),
        operator: row.int("operator")? != 0,
        anonymous: row.int("anonymous")? != 0,
        preferences: json("preferences")?,
        onboarding: json("onboarding")?,
        default_organization_id: row.text("default_organization_id")?,
        email_verified_at: row.opt_int("email_verified_at")?,
        created_at: row.int("created_at")?,
        modified_at: row.int("modified_at")?,
    })
}

/// What sign-up (or `locus admin create-account`) supplies. The e-mail is
/// already validated and the password already hashed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub given_name: String,
    pub surname: String,
    pub phone_number: Option<String>,
    pub consent_granted: bool,
    pub password_hash: String,
    pub operator: bool,
    pub preferences: serde_json::Value,
    /// Whether the e-mail counts as verified from the start (an operator
    /// created the account); a sign-up verifies it through a mailed link.
    pub email_verified: bool,
}

impl Store {
    /// Creates an account with its own default organization, in one transaction.
    /// `Conflict("email")` when the e-mail (case-insensitively) is taken.
    pub async fn create_account(&self, actor: &Actor, new: &NewAccount) -> Result<Account> {
        let now = crate::now_millis();
        let account_id = AccountId::generate();
        let id = &account_id;
        let org = OrganizationId::generate();
        self.write(|mut tx| async move {
            tx.query("INSERT INTO organizations (id, title, dwh_cluster_id, created_at, modified_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(org.as_str())
                .bind(format!("{} {}", new.given_name, new.surname))
                .bind(locus_core::ids::random_lower36(6))
                .bind(now)
                .execute()
                .await?;
            tx.query(
                "INSERT INTO accounts (id, email, email_normalized, given_name, surname, phone_number, consent_granted, \
                 password_hash, operator, preferences, default_organization_id, email_verified_at, created_at, modified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
            )
            .bind(id.as_str())
            .bind(&new.email)
            .bind(new.email.to_lowercase())
            .bind(&new.given_name)
            .bind(&new.surname)
            .bind(&new.phone_number)
            .bind(i64::from(new.consent_granted))
            .bind(&new.password_hash)
            .bind(i64::from(new.operator))
            .bind(new.preferences.to_string())
            .bind(org.as_str())
            .bind(new.email_verified.then_some(now))
            .bind(now)
            .execute()
            .await
            .map_err(|e| StoreError::unique(e, "email"))?;
            tx.query("INSERT INTO organization_members (organization_id, account_id, created_at) VALUES ($1, $2, $3)")
                .bind(org.as_str())
                .bind(id.as_str())
                .bind(now)
                .execute()
                .await?;
            let actor = Actor {
                account_id: Some(id.to_string()),
                ..actor.clone()
            };
            let content = serde_json::json!({"given_name": new.given_name, "surname": new.surname, "email": new.email});
            record(&mut tx, &actor, None, "register_new_account", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.account(id.as_str()).await?.ok_or(StoreError::NotFound)
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = self
            .read(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"))
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Looks an account up by e-mail, case-insensitively.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let row = self
            .read(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email_normalized = $1"))
            .bind(email.to_lowercase())
            .fetch_optional()
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Replaces the stored preferences (the caller has merged them).
    pub async fn set_preferences(&self, actor: &Actor, id: &str, preferences: &serde_json::Value) -> Result<()> {
        self.update_account_column(actor, id, "preferences", preferences.to_string()).await
    }

    pub async fn set_onboarding(&self, actor: &Actor, id: &str, onboarding: &serde_json::Value) -> Result<()> {
        self.update_account_column(actor, id, "onboarding", onboarding.to_string()).await
    }

    /// Marks the account as able (or not) to share projects publicly: an
    /// operator's decision (public access, issue 7).
    pub async fn set_anonymous(&self, actor: &Actor, id: &str, anonymous: bool) -> Result<()> {
        self.write(|mut tx| async move {
            let done = tx
                .query("UPDATE accounts SET anonymous = $1, modified_at = $2 WHERE id = $3")
                .bind(i64::from(anonymous))
                .bind(crate::now_millis())
                .bind(id)
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            record(
                &mut tx,
                actor,
                None,
                "update_anonymous",
                serde_json::json!({"account_id": id, "anonymous": anonymous}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Renames the account (the caller has checked both names).
    pub async fn set_name(&self, actor: &Actor, id: &str, given_name: &str, surname: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let done = tx
                .query("UPDATE accounts SET given_name = $1, surname = $2, modified_at = $3 WHERE id = $4")
                .bind(given_name)
                .bind(surname)
                .bind(crate::now_millis())
                .bind(id)
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            let content = serde_json::json!({"account_id": id, "given_name": given_name, "surname": surname});
            record(&mut tx, actor, None, "update_account", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn update_account_column(&self, actor: &Actor, id: &str, column: &'static str, value: String) -> Result<()> {
        self.write(|mut tx| async move {
            let done = tx
                .query(&format!("UPDATE accounts SET {column} = $1, modified_at = $2 WHERE id = $3"))
                .bind(&value)
                .bind(crate::now_millis())
                .bind(id)
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            let content = serde_json::json!({ column: serde_json::from_str::<serde_json::Value>(&value).unwrap_or_default() });
            record(&mut tx, actor, None, &format!("update_{column}"), content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Sets a new password hash and ends every bearer session of the account,
    /// in one transaction. With `revoke_tokens`, personal access tokens go too
    /// (a reset means the owner lost control of the old credentials).
    pub async fn set_password(&self, actor: &Actor, id: &str, password_hash: &str, revoke_tokens: bool) -> Result<()> {
        self.write(|mut tx| async move {
            replace_password(&mut tx, id, password_hash, revoke_tokens, crate::now_millis()).await?;
            record(
                &mut tx,
                actor,
                None,
                "change_password",
                serde_json::json!({"account_id": id, "access_tokens_revoked": revoke_tokens}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Enables or disables an account. Disabling ends its sessions at once.
    pub async fn set_account_status(&self, actor: &Actor, id: &str, status: AccountStatus) -> Result<()> {
        self.write(|mut tx| async move {
            let done = tx
                .query("UPDATE accounts SET status = $1, modified_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(crate::now_millis())
                .bind(id)
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            if status == AccountStatus::Disabled {
                tx.query("DELETE FROM sessions WHERE account_id = $1").bind(id).execute().await?;
            }
            record(
                &mut tx,
                actor,
                None,
                "update_account_status",
                serde_json::json!({"account_id": id, "status": status.as_str()}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Deletes an account and, through the foreign keys, everything that acts
    /// for it (tokens, sessions, resets, memberships). Refused with `LastAdmin`
    /// while the account is the only ENABLED ADMIN of a project.
    pub async fn delete_account(&self, actor: &Actor, id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let sole_admin = tx
                .query(
                    "SELECT m.project_id FROM memberships m WHERE m.account_id = $1 AND m.role = 'ADMIN' AND m.status = 'ENABLED' \
                 AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.project_id = m.project_id AND o.account_id <> $1 \
                                 AND o.role = 'ADMIN' AND o.status = 'ENABLED') LIMIT 1",
                )
                .bind(id)
                .fetch_optional()
                .await?;
            if sole_admin.is_some() {
                return Err(StoreError::LastAdmin);
            }
            // Their pending invitations die with them rather than outlive their authority.
            tx.query("UPDATE invitations SET status = 'CANCELED', modified_at = $1 WHERE invited_by = $2 AND status = 'PENDING'")
                .bind(crate::now_millis())
                .bind(id)
                .execute()
                .await?;
            let done = tx.query("DELETE FROM accounts WHERE id = $1").bind(id).execute().await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            record(
                &mut tx,
                actor,
                None,
                "delete_account",
                serde_json::json!({"deleted_account_id": id}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Whether two accounts may see each other: they share an organization or a project.
    pub async fn accounts_share_scope(&self, a: &str, b: &str) -> Result<bool> {
        let row = self
            .read(
                "SELECT x.account_id FROM organization_members x \
             JOIN organization_members y ON y.organization_id = x.organization_id \
             WHERE x.account_id = $1 AND y.account_id = $2 \
             UNION ALL \
             SELECT x.account_id FROM memberships x JOIN memberships y ON y.project_id = x.project_id \
             WHERE x.account_id = $1 AND y.account_id = $2 LIMIT 1",
            )
            .bind(a)
            .bind(b)
            .fetch_optional()
            .await?;
        Ok(row.is_some())
    }
}

/// Sets a password hash and ends every bearer session of the account (and,
/// with `revoke_tokens`, its access tokens) inside the caller's transaction.
/// Shared by password change and password reset.
pub(crate) async fn replace_password(tx: &mut crate::Tx, id: &str, password_hash: &str, revoke_tokens: bool, now: i64) -> Result<()> {
    let done = tx
        .query("UPDATE accounts SET password_hash = $1, modified_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .execute()
        .await?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    tx.query("DELETE FROM sessions WHERE account_id = $1").bind(id).execute().await?;
    if revoke_tokens {
        tx.query("DELETE FROM access_tokens WHERE account_id = $1")
            .bind(id)
            .execute()
            .await?;
    }
    Ok(())
}
