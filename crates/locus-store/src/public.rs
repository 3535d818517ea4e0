//! Public access: tokens that let anyone open one project read-only, acting
//! through the membership of an anonymous-capable service account.
//!
//! A token belongs to one project and one service account, and may name the
//! views it shows (`public_token_views`). Exchanging it opens a short-lived
//! public session. Nothing about a grant is copied into the session: every
//! request re-reads the token, the account (still ENABLED and anonymous?) and
//! the membership (still there, still ENABLED?), so revoking the token,
//! switching the flag off, or disabling, removing or deleting the service
//! account ends public access on the next request, on every instance.

use crate::accounts::{account_from_row, ACCOUNT_COLUMNS};
use crate::audit::{record, Actor};
use crate::projects::{project_access_from_row, MEMBERSHIP_COLUMNS, PROJECT_COLUMNS};
use crate::row::Cols;
use crate::{Account, ProjectAccess, Result, Store, StoreError};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A public access token, without its secret.
#[derive(Debug, Clone)]
pub struct PublicToken {
    pub id: String,
    pub project_id: String,
    /// The service account whose membership the token acts through.
    pub account_id: String,
    pub name: String,
    pub secret_hash: String,
    /// The views the token shows, by name; empty: every view the service account sees.
    pub views: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl PublicToken {
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// A token to create; `views` were checked to exist.
#[derive(Debug, Clone, Copy)]
pub struct NewPublicToken<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub views: &'a [String],
    pub expires_at: Option<i64>,
}

/// What a request with a public bearer acts through, read in one query.
#[derive(Debug, Clone)]
pub struct PublicSession {
    pub secret_hash: String,
    pub token_id: String,
    /// The token names its views: only those and what they link to may be shown.
    pub restricted: bool,
    /// The service account, ENABLED and anonymous-capable.
    pub account: Account,
    /// The project asked for and the service account's membership in it;
    /// `None` when the token belongs to another project.
    pub access: Option<ProjectAccess>,
}

const TOKEN_COLUMNS: &str = "t.id AS t_id, t.project_id AS t_project_id, t.account_id AS t_account_id, t.name AS t_name, \
     t.secret_hash AS t_secret_hash, t.created_at AS t_created_at, t.expires_at AS t_expires_at";

fn token_from_row(row: &impl Cols, views: Vec<String>) -> Result<PublicToken> {
    Ok(PublicToken {
        id: row.text("t_id")?,
        project_id: row.text("t_project_id")?,
        account_id: row.text("t_account_id")?,
        name: row.text("t_name")?,
        secret_hash: row.text("t_secret_hash")?,
        views,
        created_at: row.int("t_created_at")?,
        expires_at: row.opt_int("t_expires_at")?,
    })
}

fn public_session_from_row(row: &impl Cols) -> Result<PublicSession> {
    Ok(PublicSession {
        secret_hash: row.text("ps_secret_hash")?,
        token_id: row.text("t_id")?,
        restricted: row.int("t_restricted")? != 0,
        account: account_from_row(row)?,
        access: project_access_from_row(row)?,
    })
}

/// The objects a restricted token shows: its views (by name), and everything
/// they reach through links, transitively. `$1` is the project, `$2` the token.
pub(crate) const REACHABLE: &str = "WITH RECURSIVE reach(id) AS (\
     SELECT o.id FROM public_token_views v JOIN md_objects o \
     ON o.project_id = $1 AND o.md_type = 'views' AND o.name = v.view_name WHERE v.token_id = $2 \
     UNION SELECT l.to_id FROM reach r JOIN md_links l ON l.project_id = $1 AND l.from_id = r.id) ";

impl Store {
    pub async fn create_public_token(&self, actor: &Actor, new: &NewPublicToken<'_>) -> Result<PublicToken> {
        let now = crate::now_millis();
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO public_tokens (id, project_id, account_id, name, secret_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new.id)
            .bind(new.project_id)
            .bind(new.account_id)
            .bind(new.name)
            .bind(new.secret_hash)
            .bind(now)
            .bind(new.expires_at)
            .execute()
            .await?;
            for view in new.views {
                tx.query("INSERT INTO public_token_views (token_id, view_name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(new.id)
                    .bind(view)
                    .execute()
                    .await?;
            }
            let content = serde_json::json!({
                "public_token_id": new.id,
                "name": new.name,
                "service_account_id": new.account_id,
                "views": new.views,
                "expires_at": new.expires_at,
            });
            record(&mut tx, actor, Some(new.project_id), "create_public_access_token", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.public_token(new.project_id, new.id).await?.ok_or(StoreError::NotFound)
    }

    /// The project's tokens, newest first; only `account_id`'s when given.
    pub async fn public_tokens(&self, project_id: &str, account_id: Option<&str>) -> Result<Vec<PublicToken>> {
        self.tokens_where(project_id, account_id.unwrap_or_default(), "").await
    }

    /// One token of the project.
    pub async fn public_token(&self, project_id: &str, id: &str) -> Result<Option<PublicToken>> {
        Ok(self.tokens_where(project_id, "", id).await?.pop())
    }

    /// The project's tokens with their views; `account_id` and `id` filter when not empty.
    async fn tokens_where(&self, project_id: &str, account_id: &str, id: &str) -> Result<Vec<PublicToken>> {
        const FILTER: &str = "t.project_id = $1 AND ($2 = '' OR t.account_id = $2) AND ($3 = '' OR t.id = $3)";
        let rows = self
            .read(&format!(
                "SELECT {TOKEN_COLUMNS} FROM public_tokens t WHERE {FILTER} ORDER BY t.created_at DESC, t.id"
            ))
            .bind(project_id)
            .bind(account_id)
            .bind(id)
            .fetch_all()
            .await?;
        let view_rows = self
            .read(&format!(
                "SELECT v.token_id, v.view_name FROM public_token_views v JOIN public_tokens t ON t.id = v.token_id \
             WHERE {FILTER} ORDER BY v.view_name"
            ))
            .bind(project_id)
            .bind(account_id)
            .bind(id)
            .fetch_all()
            .await?;
        let mut views: HashMap<String, Vec<String>> = HashMap::new();
        for v in &view_rows {
            views.entry(v.text("token_id")?).or_default().push(v.text("view_name")?);
        }
        rows.iter()
            .map(|row| token_from_row(row, views.remove(&row.text("t_id")?).unwrap_or_default()))
            .collect()
    }

    /// A token by id, whatever its project, with its service account: what an
    /// exchange checks before it opens a session. Its `views` are left empty:
    /// an exchange does not need them (every public request reads them afresh).
    pub async fn public_token_to_exchange(&self, id: &str) -> Result<Option<(PublicToken, Account)>> {
        let row = self
            .read(&format!(
                "SELECT {TOKEN_COLUMNS}, {ACCOUNT_COLUMNS} FROM public_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1"
            ))
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|row| Ok((token_from_row(&row, Vec::new())?, account_from_row(&row)?)))
            .transpose()
    }

    /// Revokes a token; its public sessions go with it (cascade).
    pub async fn revoke_public_token(&self, actor: &Actor, project_id: &str, id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let sql = "DELETE FROM public_tokens WHERE id = $1 AND project_id = $2";
            if tx.query(sql).bind(id).bind(project_id).execute().await? == 0 {
                return Err(StoreError::NotFound);
            }
            let content = serde_json::json!({"public_token_id": id});
            record(&mut tx, actor, Some(project_id), "revoke_public_access_token", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Opens a public session for a token. Uses are counted per hour by the
    /// server (`record_event`), not recorded one by one.
    pub async fn create_public_session(&self, id: &str, token_id: &str, secret_hash: &str, expires_at: i64) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query("INSERT INTO public_sessions (id, token_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(token_id)
                .bind(secret_hash)
                .bind(crate::now_millis())
                .bind(expires_at)
                .execute()
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// A live public session with its token, its service account (ENABLED and
    /// anonymous-capable, or no row at all), and the project `project_id` with
    /// the service account's membership: one round trip, on every public request.
    pub async fn public_session_in_project(&self, session_id: &str, project_id: &str, now: i64) -> Result<Option<PublicSession>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT ps.secret_hash AS ps_secret_hash, t.id AS t_id, \
                 (SELECT COUNT(*) FROM public_token_views v WHERE v.token_id = t.id) AS t_restricted, \
                 {ACCOUNT_COLUMNS}, {PROJECT_COLUMNS}, {MEMBERSHIP_COLUMNS} \
                 FROM public_sessions ps JOIN public_tokens t ON t.id = ps.token_id \
                 JOIN accounts a ON a.id = t.account_id \
                 LEFT JOIN projects p ON p.id = t.project_id AND p.id = $3 \
                 LEFT JOIN organizations o ON o.id = p.organization_id \
                 LEFT JOIN memberships m ON m.project_id = p.id AND m.account_id = a.id \
                 WHERE ps.id = $1 AND ps.expires_at > $2 AND (t.expires_at IS NULL OR t.expires_at > $2) \
                 AND a.status = 'ENABLED' AND a.anonymous = 1"
            )
        });
        let (id, pid) = (session_id, project_id);
        self.session_row(&SQL, id, now, pid, public_session_from_row).await
    }

    /// The ids of the objects a restricted token shows (see [`REACHABLE`]).
    pub async fn public_reachable(&self, project_id: &str, token_id: &str) -> Result<Vec<String>> {
        let rows = self
            .read(&format!("{REACHABLE} SELECT id FROM reach"))
            .bind(project_id)
            .bind(token_id)
            .fetch_all()
            .await?;
        rows.iter().map(|r| r.text("id")).collect()
    }
}
