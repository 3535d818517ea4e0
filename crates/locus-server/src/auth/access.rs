//! Enforcement in one place: every project-scoped handler takes an
//! [`Authorized<P>`], whose type names the permission the route needs. The
//! extractor loads the project and the caller's membership (one query, fresh on
//! every request, so a role change or a removal counts at once on every
//! instance) and asks `locus_core::decide` before the handler runs.

use super::Caller;
use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::AppState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use locus_core::{decide, AccessRequest, Decision, Denial, Ownership, Permission, ProjectId};
use locus_store::{Membership, Project};
use std::marker::PhantomData;

/// A permission named at the type level, so a route's requirement is part of its signature.
pub trait Required {
    const PERMISSION: Permission;
}

macro_rules! required {
    ($($name:ident => $permission:ident),* $(,)?) => {
        /// Permission markers for [`Authorized`].
        pub mod need {
            use super::Required;
            use locus_core::Permission;
            $(
                #[derive(Debug)]
                pub struct $name;
                impl Required for $name {
                    const PERMISSION: Permission = Permission::$permission;
                }
            )*
        }
    };
}

required!(
    ProjectAccess => ProjectAccess,
    ProjectDetail => ProjectDetail,
    ProjectUpdate => ProjectUpdate,
    ProjectDelete => ProjectDelete,
    MembershipAdd => MembershipAdd,
    MembershipList => MembershipList,
    MembershipUpdate => MembershipUpdate,
    MembershipDelete => MembershipDelete,
    InvitationCreate => InvitationCreate,
    InvitationList => InvitationList,
    InvitationUpdate => InvitationUpdate,
    AuditRead => AuditRead,
    MdBookmarksUpdate => MdBookmarksUpdate,
    StoriesView => StoriesView,
    StoriesEdit => StoriesEdit,
    StudioShareLink => StudioShareLink,
    StudioDataModel => StudioDataModel,
);

/// A caller allowed `P` in the project named by the `projectId` path parameter.
#[derive(Debug)]
pub struct Authorized<P> {
    pub caller: Caller,
    pub project: Project,
    pub membership: Membership,
    _permission: PhantomData<P>,
}

impl<P> Authorized<P> {
    /// Checks a further permission through the same decision (for routes whose
    /// need depends on the request, like listing members versus reading one's own).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        check(
            &self.caller,
            &self.project,
            Some(&self.membership),
            permission,
            Ownership::NotApplicable,
        )
    }

    /// Checks an owner-only permission (`md.view.delete_own`) on an object the
    /// caller did (`own`) or did not create.
    pub fn require_on(&self, permission: Permission, own: bool) -> Result<(), ApiError> {
        let ownership = if own { Ownership::Own } else { Ownership::Other };
        check(&self.caller, &self.project, Some(&self.membership), permission, ownership)
    }
}

fn check(
    caller: &Caller,
    project: &Project,
    membership: Option<&Membership>,
    permission: Permission,
    ownership: Ownership,
) -> Result<(), ApiError> {
    let request = AccessRequest {
        account_active: caller.account.is_active(),
        project_enabled: project.enabled,
        membership: membership.map(|m| (m.role, m.status)),
        permission,
        ownership,
    };
    match decide(&request) {
        Decision::Allow => Ok(()),
        Decision::Deny(denial) => Err(denied(denial)),
    }
}

/// How each denial looks to the client. A non-member learns nothing, not even
/// that the project exists.
pub fn denied(denial: Denial) -> ApiError {
    match denial {
        Denial::AccountInactive => ApiError::Unauthorized("account is not active"),
        Denial::NotAMember => ApiError::NotFound("project"),
        Denial::ProjectDisabled => ApiError::forbidden("the project is disabled"),
        Denial::MembershipDisabled => ApiError::forbidden("your membership in this project is disabled"),
        Denial::MissingPermission(p) | Denial::NotOwner(p) => {
            let message = match denial {
                Denial::NotOwner(_) => format!("{} is allowed only on objects you created", p.key()),
                _ => format!("your role does not grant {}", p.key()),
            };
            ApiError::Forbidden {
                message,
                permission: Some(p.key()),
            }
        }
    }
}

/// Records a denied request in the project's audit log, at most once per
/// account, project and permission an hour, so that denials cannot flood it.
async fn record_denial(state: &AppState, caller: &Caller, project_id: &str, permission: Permission) -> Result<(), ApiError> {
    let once_an_hour = locus_store::Throttle {
        scope: "audit.denied",
        max_hits: 1,
        window_ms: 3_600_000,
        lock_ms: 3_600_000,
    };
    let key = format!("{}|{project_id}|{}", caller.account.id, permission.key());
    let now = locus_store::now_millis();
    if state.store.throttle_check(&once_an_hour, &key, now).await? == locus_store::ThrottleVerdict::Open {
        state.store.throttle_hit(&once_an_hour, &key, now).await?;
        let content = serde_json::json!({"permission": permission.key(), "note": "later denials of the same permission within the hour are not recorded"});
        state
            .store
            .record_event(&caller.actor, Some(project_id), "access_denied", content)
            .await?;
    }
    Ok(())
}

impl<P: Required + Send + Sync> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The project is named by the path (`/projects/{projectId}/…`), or by the
        // query where the contract puts it there (`/auditlog?projectId=…`).
        let in_path = match RawPathParams::from_request_parts(parts, state).await {
            Ok(params) => params.iter().find(|(name, _)| *name == "projectId").map(|(_, v)| v.to_owned()),
            Err(_) => None,
        };
        let raw = in_path
            .or_else(|| {
                url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .find(|(k, _)| k == "projectId")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| ApiError::bad_request("projectId", "required"))?;
        let (session_id, secret) = super::caller::bearer(parts)?;
        Authorized::resolve(state, &RequestMeta::from_parts(parts), session_id, secret, &raw).await
    }
}

impl<P: Required> Authorized<P> {
    /// Authorizes the holder of session `session_id` with `secret` for `P` in
    /// the project `raw_project_id`, whichever way the session was presented.
    pub(crate) async fn resolve(
        state: &AppState,
        meta: &RequestMeta,
        session_id: &str,
        secret: &str,
        raw_project_id: &str,
    ) -> Result<Self, ApiError> {
        let project_id = ProjectId::parse("projectId", raw_project_id)?;
        // One round trip for the session, the account, the project and the membership.
        let found = state
            .store
            .session_in_project(session_id, project_id.as_str(), locus_store::now_millis())
            .await?;
        let (session, access) = match found {
            Some((session, access)) => (Some(session), access),
            None => (None, None),
        };
        let caller = Caller::verify(session_id, secret, session, meta)?;
        let access = access.ok_or(ApiError::NotFound("project"))?;
        if let Err(denied) = check(
            &caller,
            &access.project,
            access.membership.as_ref(),
            P::PERMISSION,
            Ownership::NotApplicable,
        ) {
            if matches!(denied, ApiError::Forbidden { permission: Some(_), .. }) {
                record_denial(state, &caller, &access.project.id, P::PERMISSION).await?;
            }
            return Err(denied);
        }
        let membership = access.membership.ok_or(ApiError::NotFound("project"))?;
        Ok(Authorized {
            caller,
            project: access.project,
            membership,
            _permission: PhantomData,
        })
    }
}
