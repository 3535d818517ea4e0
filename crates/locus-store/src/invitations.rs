//! Invitations: created by project admins, accepted by the invited e-mail's
//! owner. Every change is a conditional update on the status the caller saw,
//! so concurrent changes cannot both apply (of many concurrent accepts, one wins).

use crate::audit::{record, Actor};
use crate::projects::{ensure_another_admin, lock_project, Membership};
use crate::row::Cols;
use crate::{Page, PageRequest, Result, Store, StoreError, Tx};
use locus_core::{InvitationStatus, MembershipStatus, Role};

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: String,
    pub project_id: String,
    pub project_title: String,
    pub email: String,
    pub role: Role,
    /// As of the read: a PENDING invitation past its expiry reads EXPIRED.
    pub status: InvitationStatus,
    pub invited_by: Option<String>,
    pub inviter_name: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    pub modified_at: i64,
    pub secret_hash: String,
}

/// A fresh link secret: its public id and the hash of its secret part.
#[derive(Debug, Clone)]
pub struct LinkSecret {
    pub id: String,
    pub hash: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
    pub secret: LinkSecret,
}

const COLUMNS: &str = "i.id, i.project_id, p.title AS project_title, i.email, i.role, i.status, i.invited_by, \
     a.given_name AS inviter_given_name, a.surname AS inviter_surname, i.expires_at, i.created_at, i.modified_at, i.secret_hash";
const FROM: &str = "FROM invitations i JOIN projects p ON p.id = i.project_id LEFT JOIN accounts a ON a.id = i.invited_by";

fn invitation_from_row(row: &impl Cols, now: i64) -> Result<Invitation> {
    let role = row.text("role")?;
    let stored = row.text("status")?;
    let expires_at = row.int("expires_at")?;
    let status =
        match InvitationStatus::parse("status", &stored).map_err(|_| StoreError::Corrupt(format!("invitation status {stored:?}")))? {
            InvitationStatus::Pending if expires_at <= now => InvitationStatus::Expired,
            other => other,
        };
    let inviter_name = match (row.opt_text("inviter_given_name")?, row.opt_text("inviter_surname")?) {
        (Some(g), Some(s)) => Some(format!("{g} {s}")),
        _ => None,
    };
    Ok(Invitation {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        project_title: row.text("project_title")?,
        email: row.text("email")?,
        role: Role::parse("role", &role).map_err(|_| StoreError::Corrupt(format!("role {role:?}")))?,
        status,
        invited_by: row.opt_text("invited_by")?,
        inviter_name,
        expires_at,
        created_at: row.int("created_at")?,
        modified_at: row.int("modified_at")?,
        secret_hash: row.text("secret_hash")?,
    })
}

/// The SQL condition that selects invitations in `status` at time `$now_param`.
fn status_condition(status: InvitationStatus, now_param: &str) -> String {
    match status {
        InvitationStatus::Pending => format!("i.status = 'PENDING' AND i.expires_at > {now_param}"),
        InvitationStatus::Expired => format!("(i.status = 'EXPIRED' OR (i.status = 'PENDING' AND i.expires_at <= {now_param}))"),
        InvitationStatus::Accepted => "i.status = 'ACCEPTED'".to_owned(),
        InvitationStatus::Canceled => "i.status = 'CANCELED'".to_owned(),
    }
}

impl Store {
    /// Creates invitations in one transaction. An earlier live invitation of
    /// the same e-mail to the project is canceled: the latest decision counts.
    pub async fn create_invitations(
        &self,
        actor: &Actor,
        project_id: &str,
        invited_by: &str,
        new: &[NewInvitation],
    ) -> Result<Vec<Invitation>> {
        let now = crate::now_millis();
        let ids = self.write(|mut tx| async move {
            let mut ids = Vec::with_capacity(new.len());
            for n in new {
                let normalized = n.email.to_lowercase();
                tx.query("UPDATE invitations SET status = 'CANCELED', modified_at = $1 WHERE project_id = $2 AND email_normalized = $3 AND status = 'PENDING'")
                    .bind(now)
                    .bind(project_id)
                    .bind(&normalized)
                    .execute()
                    .await?;
                let id = locus_core::ids::random_lower36(16);
                tx.query(
                    "INSERT INTO invitations (id, project_id, email, email_normalized, role, status, secret_id, secret_hash, invited_by, expires_at, created_at, modified_at) \
                     VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $9, $10, $10)",
                )
                .bind(&id)
                .bind(project_id)
                .bind(&n.email)
                .bind(&normalized)
                .bind(n.role.as_str())
                .bind(&n.secret.id)
                .bind(&n.secret.hash)
                .bind(invited_by)
                .bind(n.secret.expires_at)
                .bind(now)
                .execute()
                .await?;
                let content = serde_json::json!({"invitation_id": id, "email": n.email, "role": n.role.as_str()});
                record(&mut tx, actor, Some(project_id), "create_invitation", content).await?;
                ids.push(id);
            }
            tx.commit().await?;
            Ok(ids)
        })
        .await?;
        let mut created = Vec::with_capacity(ids.len());
        for id in ids {
            created.push(self.invitation(project_id, &id, now).await?.ok_or(StoreError::NotFound)?);
        }
        Ok(created)
    }

    /// A project's invitations, newest first, optionally in one status.
    pub async fn invitations(
        &self,
        project_id: &str,
        status: Option<InvitationStatus>,
        page: PageRequest,
        now: i64,
    ) -> Result<Page<Invitation>> {
        let filter = status.map(|s| format!(" AND {}", status_condition(s, "$2"))).unwrap_or_default();
        let total: i64 = self
            .read(&format!(
                "SELECT COUNT(*) FROM invitations i WHERE i.project_id = $1 AND $2 = $2{filter}"
            ))
            .bind(project_id)
            .bind(now)
            .fetch_int()
            .await?;
        let rows = self
            .read(&format!(
                "SELECT {COLUMNS} {FROM} WHERE i.project_id = $1 AND $2 = $2{filter} ORDER BY i.created_at DESC, i.id LIMIT $3 OFFSET $4"
            ))
            .bind(project_id)
            .bind(now)
            .bind(page.size)
            .bind(page.page.saturating_mul(page.size))
            .fetch_all()
            .await?;
        let items = rows.iter().map(|r| invitation_from_row(r, now)).collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    pub async fn invitation(&self, project_id: &str, id: &str, now: i64) -> Result<Option<Invitation>> {
        let row = self
            .read(&format!("SELECT {COLUMNS} {FROM} WHERE i.project_id = $1 AND i.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(|r| invitation_from_row(r, now)).transpose()
    }

    /// The invitation a link's public id names.
    pub async fn invitation_by_secret(&self, secret_id: &str, now: i64) -> Result<Option<Invitation>> {
        let row = self
            .read(&format!("SELECT {COLUMNS} {FROM} WHERE i.secret_id = $1"))
            .bind(secret_id)
            .fetch_optional()
            .await?;
        row.as_ref().map(|r| invitation_from_row(r, now)).transpose()
    }

    /// Moves an invitation from `from` (as the caller read it) to `to`; with
    /// `secret`, the link is replaced. `NotFound` when it changed meanwhile.
    #[allow(clippy::too_many_arguments)] // the compare-and-set needs the status read and the one asked for
    pub async fn change_invitation(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        from: InvitationStatus,
        to: InvitationStatus,
        secret: Option<&LinkSecret>,
        now: i64,
    ) -> Result<Invitation> {
        let condition = status_condition(from, "$3");
        let stored_to = if to == InvitationStatus::Canceled { "CANCELED" } else { "PENDING" };
        let sql = format!(
            "UPDATE invitations SET status = $4, secret_id = COALESCE($5, secret_id), secret_hash = COALESCE($6, secret_hash), \
             expires_at = COALESCE($7, expires_at), modified_at = $3 \
             WHERE id IN (SELECT i.id FROM invitations i WHERE i.project_id = $1 AND i.id = $2 AND {condition})"
        );
        self.write(|mut tx| async move {
            let done = tx
                .query(&sql)
                .bind(project_id)
                .bind(id)
                .bind(now)
                .bind(stored_to)
                .bind(secret.map(|s| s.id.as_str()))
                .bind(secret.map(|s| s.hash.as_str()))
                .bind(secret.map(|s| s.expires_at))
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            let event = if to == InvitationStatus::Canceled {
                "cancel_invitation"
            } else {
                "update_invitation"
            };
            let content = serde_json::json!({"invitation_id": id, "from": from.as_str(), "to": to.as_str(), "new_link": secret.is_some()});
            record(&mut tx, actor, Some(project_id), event, content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.invitation(project_id, id, now).await?.ok_or(StoreError::NotFound)
    }

    /// Accepts a live invitation for `account_id`: marks it ACCEPTED and gives
    /// the account the invited role (enabling an existing membership), in one
    /// transaction. `InvitationNotPending` with the status it had otherwise.
    pub async fn accept_invitation(&self, actor: &Actor, invitation: &Invitation, account_id: &str, now: i64) -> Result<Membership> {
        self.write(|mut tx| async move {
            lock_project(self, &mut tx, &invitation.project_id).await?;
            let claimed = tx.query(
                "UPDATE invitations SET status = 'ACCEPTED', accepted_by = $1, modified_at = $2 WHERE id = $3 AND status = 'PENDING' AND expires_at > $2",
            )
            .bind(account_id)
            .bind(now)
            .bind(&invitation.id)
            .execute()
            .await?;
            if claimed == 0 {
                drop(tx);
                let status = self
                    .invitation(&invitation.project_id, &invitation.id, now)
                    .await?
                    .map(|i| i.status);
                return Err(StoreError::InvitationNotPending(status.unwrap_or(InvitationStatus::Canceled)));
            }
            let existing = match tx
                .query("SELECT role, status FROM memberships WHERE project_id = $1 AND account_id = $2")
                .bind(&invitation.project_id)
                .bind(account_id)
                .fetch_optional()
                .await?
            {
                Some(row) => Some((row.text("role")?, row.text("status")?)),
                None => None,
            };
            if existing.as_ref().is_some_and(|(r, s)| r == "ADMIN" && s == "ENABLED") && invitation.role != Role::Admin {
                ensure_another_admin(&mut tx, &invitation.project_id).await?;
            }
            tx.query(
                "INSERT INTO memberships (id, project_id, account_id, role, status, created_at, modified_at) VALUES ($1, $2, $3, $4, 'ENABLED', $5, $5) \
                 ON CONFLICT (project_id, account_id) DO UPDATE SET role = $4, status = 'ENABLED', modified_at = $5",
            )
            .bind(locus_core::ids::random_lower36(16))
            .bind(&invitation.project_id)
            .bind(account_id)
            .bind(invitation.role.as_str())
            .bind(now)
            .execute()
            .await?;
            if !invitation.role.grants(locus_core::Permission::InvitationCreate) {
                cancel_invitations_by(&mut tx, actor, &invitation.project_id, account_id, now).await?;
            }
            let content = serde_json::json!({
                "invitation_id": invitation.id, "email": invitation.email, "role": invitation.role.as_str(),
                "previous_membership": existing.map(|(role, status)| serde_json::json!({"role": role, "membership_status": status})),
            });
            record(&mut tx, actor, Some(&invitation.project_id), "accept_invitation", content).await?;
            // The link was mailed to this address: accepting it proves the
            // account's owner reads that e-mail.
            crate::credentials::mark_email_verified(&mut tx, account_id, &invitation.email, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        let member = self
            .member(&invitation.project_id, account_id, true)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(member.membership)
    }
}

impl Store {
    /// Marks PENDING invitations past their expiry EXPIRED, recording one event
    /// each. Safe to run on every instance at once: each row changes once.
    pub async fn expire_invitations(&self, now: i64) -> Result<usize> {
        self.write(|mut tx| async move {
            let rows = tx
                .query(
                    "UPDATE invitations SET status = 'EXPIRED', modified_at = $1 WHERE status = 'PENDING' AND expires_at <= $1 \
                     RETURNING id, project_id, email",
                )
                .bind(now)
                .fetch_all()
                .await?
                .iter()
                .map(|row| Ok((row.text("id")?, row.text("project_id")?, row.text("email")?)))
                .collect::<Result<Vec<(String, String, String)>>>()?;
            let actor = Actor {
                account_id: None,
                request_id: locus_core::ids::random_lower36(16),
                remote_host: "locus-maintenance".to_owned(),
            };
            for (id, project_id, email) in &rows {
                record(
                    &mut tx,
                    &actor,
                    Some(project_id),
                    "expire_invitation",
                    serde_json::json!({"invitation_id": id, "email": email}),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(rows.len())
        })
        .await
    }
}

/// Cancels the pending invitations `account_id` sent in the project: called
/// whenever that account stops holding `invitation.create` there.
pub(crate) async fn cancel_invitations_by(tx: &mut Tx, actor: &Actor, project_id: &str, account_id: &str, now: i64) -> Result<()> {
    let canceled = tx
        .query(
            "UPDATE invitations SET status = 'CANCELED', modified_at = $1 WHERE project_id = $2 AND invited_by = $3 AND status = 'PENDING'",
        )
        .bind(now)
        .bind(project_id)
        .bind(account_id)
        .execute()
        .await?;
    if canceled > 0 {
        let content =
            serde_json::json!({"inviter_account_id": account_id, "canceled": canceled, "reason": "the inviter lost invitation.create"});
        record(tx, actor, Some(project_id), "cancel_invitation", content).await?;
    }
    Ok(())
}

/// Whether a membership in this state may invite.
pub(crate) fn may_invite(role: Role, status: MembershipStatus) -> bool {
    status == MembershipStatus::Enabled && role.grants(locus_core::Permission::InvitationCreate)
}
