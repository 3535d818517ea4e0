//! Projects, their organizations, and the memberships that give accounts roles.

use crate::accounts::ACCOUNT_COLUMNS;
use crate::audit::{record, Actor};
use crate::credentials::{session_from_row, SESSION_COLUMNS};
use crate::invitations::{cancel_invitations_by, may_invite};
use crate::row::Cols;
use crate::{Backend, Result, SessionAccount, Store, StoreError, Tx};
use locus_core::{MembershipStatus, ProjectId, Role};
use std::sync::LazyLock;

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub organization_id: String,
    pub dwh_cluster_id: String,
    pub title: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub share: String,
    pub created_at: i64,
    pub modified_at: i64,
}

#[derive(Debug, Clone)]
pub struct Membership {
    pub id: String,
    pub project_id: String,
    pub account_id: String,
    pub role: Role,
    pub status: MembershipStatus,
    pub created_at: i64,
    pub modified_at: i64,
}

impl Membership {
    fn is_enabled_admin(&self) -> bool {
        self.role == Role::Admin && self.status == MembershipStatus::Enabled
    }
}

/// A membership with the member's public account fields (for `expand=account`).
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: Membership,
    pub email: String,
    pub full_name: String,
    pub account_status: String,
    pub account_anonymous: bool,
    pub account_consent_granted: bool,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: String,
    pub title: String,
    pub dwh_cluster_id: String,
    pub invitation_email: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// What an access check needs: the project and the caller's membership in it.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project: Project,
    pub membership: Option<Membership>,
}

/// One page of a list, with the total for the paging envelope.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// Offset paging: `page` from 0, `size` at least 1.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: i64,
    pub size: i64,
}

impl PageRequest {
    pub(crate) fn offset(self) -> i64 {
        self.page.saturating_mul(self.size)
    }
}

/// How to order a list of projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectOrder {
    CreatedAt,
    Title,
    ModifiedAt,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub organization_id: Option<String>,
    /// Upper-case share value.
    pub share: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub title: String,
    pub description: Option<String>,
    pub organization_id: String,
}

/// A partial update: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub organization_id: Option<String>,
    pub enabled: Option<bool>,
}

pub(crate) const PROJECT_COLUMNS: &str = "p.id AS p_id, p.organization_id AS p_organization_id, o.dwh_cluster_id AS p_dwh_cluster_id, \
     p.title AS p_title, p.description AS p_description, p.status AS p_status, p.share AS p_share, \
     p.created_at AS p_created_at, p.modified_at AS p_modified_at";
pub(crate) const MEMBERSHIP_COLUMNS: &str = "m.id AS m_id, m.project_id AS m_project_id, m.account_id AS m_account_id, \
     m.role AS m_role, m.status AS m_status, m.created_at AS m_created_at, m.modified_at AS m_modified_at";

fn project_from_row(row: &impl Cols) -> Result<Project> {
    Ok(Project {
        id: row.text("p_id")?,
        organization_id: row.text("p_organization_id")?,
        dwh_cluster_id: row.text("p_dwh_cluster_id")?,
        title: row.text("p_title")?,
        description: row.opt_text("p_description")?,
        enabled: row.text("p_status")? == "ENABLED",
        share: row.text("p_share")?,
        created_at: row.int("p_created_at")?,
        modified_at: row.int("p_modified_at")?,
    })
}

fn membership_from_row(row: &impl Cols) -> Result<Option<Membership>> {
    let Some(id) = row.opt_text("m_id")? else { return Ok(None) };
    let role = row.text("m_role")?;
    let status = row.text("m_status")?;
    Ok(Some(Membership {
        id,
        project_id: row.text("m_project_id")?,
        account_id: row.text("m_account_id")?,
        role: Role::parse("role", &role).map_err(|_| StoreError::Corrupt(format!("role {role:?}")))?,
        status: MembershipStatus::parse("status", &status).map_err(|_| StoreError::Corrupt(format!("status {status:?}")))?,
        created_at: row.int("m_created_at")?,
        modified_at: row.int("m_modified_at")?,
    }))
}

fn required_membership(row: &impl Cols) -> Result<Membership> {
    membership_from_row(row)?.ok_or_else(|| StoreError::Corrupt("membership row without id".into()))
}

/// The session, account, project and membership of one request.
fn session_in_project_from_row(row: &impl Cols) -> Result<(SessionAccount, Option<ProjectAccess>)> {
    Ok((session_from_row(row)?, project_access_from_row(row)?))
}

/// The project and membership columns of a LEFT JOIN: `None` when no project matched.
pub(crate) fn project_access_from_row(row: &impl Cols) -> Result<Option<ProjectAccess>> {
    match row.opt_text("p_id")? {
        Some(_) => Ok(Some(ProjectAccess {
            project: project_from_row(row)?,
            membership: membership_from_row(row)?,
        })),
        None => Ok(None),
    }
}

fn organization_from_row(row: &impl Cols) -> Result<Organization> {
    Ok(Organization {
        id: row.text("id")?,
        title: row.text("title")?,
        dwh_cluster_id: row.text("dwh_cluster_id")?,
        invitation_email: row.opt_text("invitation_email")?,
        created_at: row.int("created_at")?,
        modified_at: row.int("modified_at")?,
    })
}

impl Store {
    /// Creates a project whose creator becomes its ENABLED ADMIN, in one transaction.
    pub async fn create_project(&self, actor: &Actor, creator_id: &str, new: &NewProject) -> Result<(Project, Membership)> {
        let now = crate::now_millis();
        let project_id = ProjectId::generate();
        let id = &project_id;
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO projects (id, organization_id, title, description, created_by, created_at, modified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(id.as_str())
            .bind(&new.organization_id)
            .bind(&new.title)
            .bind(&new.description)
            .bind(creator_id)
            .bind(now)
            .execute()
            .await?;
            insert_membership(&mut tx, id.as_str(), creator_id, Role::Admin, MembershipStatus::Enabled, now).await?;
            let content = serde_json::json!({"project_title": new.title, "created_project_id": id.as_str(), "org_id": new.organization_id});
            record(&mut tx, actor, Some(id.as_str()), "create_project", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        let access = self.project_access(id.as_str(), creator_id).await?.ok_or(StoreError::NotFound)?;
        Ok((access.project, access.membership.ok_or(StoreError::NotFound)?))
    }

    /// The project and the account's membership in it, in one query: this runs
    /// on every project-scoped request.
    pub async fn project_access(&self, project_id: &str, account_id: &str) -> Result<Option<ProjectAccess>> {
        let row = self
            .read(&format!(
                "SELECT {PROJECT_COLUMNS}, {MEMBERSHIP_COLUMNS} FROM projects p \
             JOIN organizations o ON o.id = p.organization_id \
             LEFT JOIN memberships m ON m.project_id = p.id AND m.account_id = $2 \
             WHERE p.id = $1"
            ))
            .bind(project_id)
            .bind(account_id)
            .fetch_optional()
            .await?;
        row.map(|row| {
            Ok(ProjectAccess {
                project: project_from_row(&row)?,
                membership: membership_from_row(&row)?,
            })
        })
        .transpose()
    }

    /// A live session with its account, the project and the account's membership
    /// in it, in one round trip: what every project-scoped request needs. `None`
    /// when the session is not live; the project part is `None` when it does not exist.
    pub async fn session_in_project(
        &self,
        session_id: &str,
        project_id: &str,
        now: i64,
    ) -> Result<Option<(SessionAccount, Option<ProjectAccess>)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {SESSION_COLUMNS}, {ACCOUNT_COLUMNS}, {PROJECT_COLUMNS}, {MEMBERSHIP_COLUMNS} \
                 FROM sessions s JOIN accounts a ON a.id = s.account_id \
                 LEFT JOIN projects p ON p.id = $3 \
                 LEFT JOIN organizations o ON o.id = p.organization_id \
                 LEFT JOIN memberships m ON m.project_id = p.id AND m.account_id = a.id \
                 WHERE s.id = $1 AND s.expires_at > $2 AND a.status = 'ENABLED'"
            )
        });
        let (id, pid) = (session_id, project_id);
        self.session_row(&SQL, id, now, pid, session_in_project_from_row).await
    }

    /// Runs a per-request query of a session (`$1`), the time (`$2`) and a
    /// project (`$3`), decoding its row with `decode`.
    pub(crate) async fn session_row<T>(
        &self,
        sql: &str,
        session_id: &str,
        now: i64,
        project_id: &str,
        decode: impl FnOnce(&crate::db::Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = self.read(sql).bind(session_id).bind(now).bind(project_id).fetch_optional().await?;
        row.as_ref().map(decode).transpose()
    }

    /// The projects in which the account has an ENABLED membership, with that membership.
    pub async fn projects_of(
        &self,
        account_id: &str,
        filter: &ProjectFilter,
        order: (ProjectOrder, bool),
        page: PageRequest,
    ) -> Result<Page<(Project, Membership)>> {
        let from = "FROM memberships m JOIN projects p ON p.id = m.project_id JOIN organizations o ON o.id = p.organization_id \
                    WHERE m.account_id = $1 AND m.status = 'ENABLED' \
                    AND ($2 = '' OR p.organization_id = $2) AND ($3 = '' OR p.share = $3)";
        let org = filter.organization_id.clone().unwrap_or_default();
        let share = filter.share.clone().unwrap_or_default();
        // Without filters the count needs no join: foreign keys guarantee every
        // membership has its project and organization.
        let total: i64 = if org.is_empty() && share.is_empty() {
            self.read("SELECT COUNT(*) FROM memberships m WHERE m.account_id = $1 AND m.status = 'ENABLED'")
                .bind(account_id)
                .fetch_int()
                .await?
        } else {
            self.read(&format!("SELECT COUNT(*) {from}"))
                .bind(account_id)
                .bind(&org)
                .bind(&share)
                .fetch_int()
                .await?
        };
        let column = match order.0 {
            ProjectOrder::CreatedAt => "p.created_at",
            ProjectOrder::Title => "p.title",
            ProjectOrder::ModifiedAt => "p.modified_at",
        };
        let direction = if order.1 { "ASC" } else { "DESC" };
        let rows = self
            .read(&format!(
                "SELECT {PROJECT_COLUMNS}, {MEMBERSHIP_COLUMNS} {from} ORDER BY {column} {direction}, p.id {direction} LIMIT $4 OFFSET $5"
            ))
            .bind(account_id)
            .bind(&org)
            .bind(&share)
            .bind(page.size)
            .bind(page.offset())
            .fetch_all()
            .await?;
        let items = rows
            .iter()
            .map(|r| Ok((project_from_row(r)?, required_membership(r)?)))
            .collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    /// Applies a partial update and returns the project as it now is.
    pub async fn update_project(&self, actor: &Actor, project_id: &str, patch: &ProjectPatch) -> Result<Project> {
        let status = patch.enabled.map(|e| if e { "ENABLED" } else { "DISABLED" });
        self.write(|mut tx| async move {
            let done = tx
                .query(
                    "UPDATE projects SET title = COALESCE($1, title), description = COALESCE($2, description), \
                 organization_id = COALESCE($3, organization_id), status = COALESCE($4, status), modified_at = $5 WHERE id = $6",
                )
                .bind(&patch.title)
                .bind(&patch.description)
                .bind(&patch.organization_id)
                .bind(status)
                .bind(crate::now_millis())
                .bind(project_id)
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            let row = tx
                .query(&format!(
                    "SELECT {PROJECT_COLUMNS} FROM projects p JOIN organizations o ON o.id = p.organization_id WHERE p.id = $1"
                ))
                .bind(project_id)
                .fetch_one()
                .await?;
            let project = project_from_row(&row)?;
            let content = serde_json::json!({
                "project_title": project.title, "project_status": if project.enabled { "ENABLED" } else { "DISABLED" },
                "org_id": project.organization_id, "changed": {"title": patch.title, "description": patch.description, "organization_id": patch.organization_id, "status": status},
            });
            record(&mut tx, actor, Some(project_id), "update_project", content).await?;
            tx.commit().await?;
            Ok(project)
        })
        .await
    }

    /// Deletes a project and everything in it (memberships and, through the
    /// foreign keys, whatever later tables hang off the project).
    pub async fn delete_project(&self, actor: &Actor, project_id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let done = tx.query("DELETE FROM projects WHERE id = $1").bind(project_id).execute().await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            record(
                &mut tx,
                actor,
                Some(project_id),
                "delete_project",
                serde_json::json!({"deleted_project_id": project_id}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The organizations the account belongs to, oldest first.
    pub async fn organizations_of(&self, account_id: &str, page: PageRequest) -> Result<Page<Organization>> {
        let total: i64 = self
            .read("SELECT COUNT(*) FROM organization_members WHERE account_id = $1")
            .bind(account_id)
            .fetch_int()
            .await?;
        let rows = self
            .read(
                "SELECT o.id, o.title, o.dwh_cluster_id, o.invitation_email, o.created_at, o.modified_at \
             FROM organization_members om JOIN organizations o ON o.id = om.organization_id \
             WHERE om.account_id = $1 ORDER BY o.created_at, o.id LIMIT $2 OFFSET $3",
            )
            .bind(account_id)
            .bind(page.size)
            .bind(page.offset())
            .fetch_all()
            .await?;
        Ok(Page {
            items: rows.iter().map(organization_from_row).collect::<Result<_>>()?,
            total,
        })
    }

    /// An organization, if the account belongs to it.
    pub async fn organization_of(&self, organization_id: &str, account_id: &str) -> Result<Option<Organization>> {
        let row = self
            .read(
                "SELECT o.id, o.title, o.dwh_cluster_id, o.invitation_email, o.created_at, o.modified_at \
             FROM organization_members om JOIN organizations o ON o.id = om.organization_id \
             WHERE om.organization_id = $1 AND om.account_id = $2",
            )
            .bind(organization_id)
            .bind(account_id)
            .fetch_optional()
            .await?;
        row.as_ref().map(organization_from_row).transpose()
    }

    /// Adds a member. `Conflict("membership")` when the account is one already.
    pub async fn add_membership(
        &self,
        actor: &Actor,
        project_id: &str,
        account_id: &str,
        role: Role,
        status: MembershipStatus,
    ) -> Result<Membership> {
        self.write(|mut tx| async move {
            let membership = insert_membership(&mut tx, project_id, account_id, role, status, crate::now_millis()).await?;
            let content =
                serde_json::json!({"created_account_id": account_id, "role": role.as_str(), "membership_status": status.as_str()});
            record(&mut tx, actor, Some(project_id), "create_membership", content).await?;
            tx.commit().await?;
            Ok(membership)
        })
        .await
    }

    /// A page of a project's members, oldest first, with their account fields.
    pub async fn members(&self, project_id: &str, page: PageRequest) -> Result<Page<Member>> {
        let total: i64 = self
            .read("SELECT COUNT(*) FROM memberships WHERE project_id = $1")
            .bind(project_id)
            .fetch_int()
            .await?;
        let rows = self
            .read(&format!(
            "SELECT {MEMBERSHIP_COLUMNS}, a.email AS a_email, a.given_name AS a_given_name, a.surname AS a_surname, a.status AS a_status, \
             a.anonymous AS a_anonymous, a.consent_granted AS a_consent_granted \
             FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE m.project_id = $1 \
             ORDER BY m.created_at, m.id LIMIT $2 OFFSET $3"
        ))
            .bind(project_id)
            .bind(page.size)
            .bind(page.offset())
            .fetch_all()
            .await?;
        Ok(Page {
            items: rows.iter().map(member_from_row).collect::<Result<_>>()?,
            total,
        })
    }

    /// One member of a project, by membership id or (with `by_account`) account id.
    pub async fn member(&self, project_id: &str, id: &str, by_account: bool) -> Result<Option<Member>> {
        let column = if by_account { "m.account_id" } else { "m.id" };
        let row = self
            .read(&format!(
            "SELECT {MEMBERSHIP_COLUMNS}, a.email AS a_email, a.given_name AS a_given_name, a.surname AS a_surname, a.status AS a_status, \
             a.anonymous AS a_anonymous, a.consent_granted AS a_consent_granted \
             FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE m.project_id = $1 AND {column} = $2"
        ))
            .bind(project_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// Sets a membership's role and status. Refuses with `LastAdmin` when the
    /// project would be left without an ENABLED ADMIN.
    pub async fn update_membership(
        &self,
        actor: &Actor,
        project_id: &str,
        membership_id: &str,
        role: Role,
        status: MembershipStatus,
    ) -> Result<Membership> {
        let (current, now) = self
            .write(|mut tx| async move {
                let current = self.lock_membership(&mut tx, project_id, membership_id).await?;
                let stays_admin = role == Role::Admin && status == MembershipStatus::Enabled;
                if current.is_enabled_admin() && !stays_admin {
                    ensure_another_admin(&mut tx, project_id).await?;
                }
                let now = crate::now_millis();
                if !may_invite(role, status) {
                    cancel_invitations_by(&mut tx, actor, project_id, &current.account_id, now).await?;
                }
                let content = serde_json::json!({
                    "updated_account_id": current.account_id, "role": role.as_str(), "membership_status": status.as_str(),
                    "previous_role": current.role.as_str(), "previous_membership_status": current.status.as_str(),
                });
                tx.query("UPDATE memberships SET role = $1, status = $2, modified_at = $3 WHERE id = $4")
                    .bind(role.as_str())
                    .bind(status.as_str())
                    .bind(now)
                    .bind(membership_id)
                    .execute()
                    .await?;
                record(&mut tx, actor, Some(project_id), "update_membership", content).await?;
                tx.commit().await?;
                Ok((current, now))
            })
            .await?;
        Ok(Membership {
            role,
            status,
            modified_at: now,
            ..current
        })
    }

    /// Removes a membership, under the same last-admin rule.
    pub async fn delete_membership(&self, actor: &Actor, project_id: &str, membership_id: &str) -> Result<Membership> {
        self.write(|mut tx| async move {
            let current = self.lock_membership(&mut tx, project_id, membership_id).await?;
            if current.is_enabled_admin() {
                ensure_another_admin(&mut tx, project_id).await?;
            }
            cancel_invitations_by(&mut tx, actor, project_id, &current.account_id, crate::now_millis()).await?;
            tx.query("DELETE FROM memberships WHERE id = $1")
                .bind(membership_id)
                .execute()
                .await?;
            let content = serde_json::json!({"deleted_account_id": current.account_id, "role": current.role.as_str()});
            record(&mut tx, actor, Some(project_id), "delete_membership", content).await?;
            tx.commit().await?;
            Ok(current)
        })
        .await
    }

    /// Reads a membership inside a write transaction, first locking its project
    /// row on PostgreSQL so that concurrent membership changes in one project
    /// run one after the other (two admins demoting each other cannot both
    /// see the other still in place). SQLite's `BEGIN IMMEDIATE` already serializes.
    async fn lock_membership(&self, tx: &mut Tx, project_id: &str, membership_id: &str) -> Result<Membership> {
        lock_project(self, tx, project_id).await?;
        let row = tx
            .query(&format!(
                "SELECT {MEMBERSHIP_COLUMNS} FROM memberships m WHERE m.project_id = $1 AND m.id = $2"
            ))
            .bind(project_id)
            .bind(membership_id)
            .fetch_optional()
            .await?
            .ok_or(StoreError::NotFound)?;
        required_membership(&row)
    }

    /// Whether the account belongs to the organization.
    pub async fn is_organization_member(&self, organization_id: &str, account_id: &str) -> Result<bool> {
        Ok(self.organization_of(organization_id, account_id).await?.is_some())
    }
}

fn member_from_row(row: &impl Cols) -> Result<Member> {
    Ok(Member {
        membership: required_membership(row)?,
        email: row.text("a_email")?,
        full_name: format!("{} {}", row.text("a_given_name")?, row.text("a_surname")?),
        account_status: row.text("a_status")?,
        account_anonymous: row.int("a_anonymous")? != 0,
        account_consent_granted: row.int("a_consent_granted")? != 0,
    })
}

async fn insert_membership(
    tx: &mut Tx,
    project_id: &str,
    account_id: &str,
    role: Role,
    status: MembershipStatus,
    now: i64,
) -> Result<Membership> {
    let id = locus_core::ids::random_lower36(16);
    tx.query(
        "INSERT INTO memberships (id, project_id, account_id, role, status, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(project_id)
    .bind(account_id)
    .bind(role.as_str())
    .bind(status.as_str())
    .bind(now)
    .execute()
    .await
    .map_err(|e| StoreError::unique(e, "membership"))?;
    Ok(Membership {
        id,
        project_id: project_id.to_owned(),
        account_id: account_id.to_owned(),
        role,
        status,
        created_at: now,
        modified_at: now,
    })
}

/// Serializes membership changes in one project on PostgreSQL (see `lock_membership`).
pub(crate) async fn lock_project(store: &Store, tx: &mut Tx, project_id: &str) -> Result<()> {
    if store.backend == Backend::Postgres {
        tx.query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
            .bind(project_id)
            .execute()
            .await?;
    }
    Ok(())
}

pub(crate) async fn ensure_another_admin(tx: &mut Tx, project_id: &str) -> Result<()> {
    let admins = tx
        .query("SELECT COUNT(*) AS n FROM memberships WHERE project_id = $1 AND role = 'ADMIN' AND status = 'ENABLED'")
        .bind(project_id)
        .fetch_one()
        .await?
        .int("n")?;
    if admins <= 1 {
        return Err(StoreError::LastAdmin);
    }
    Ok(())
}
