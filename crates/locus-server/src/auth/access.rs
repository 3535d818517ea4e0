//! Enforcement in one place: every project-scoped handler takes an
//! [`Authorized<P>`], whose type names the permission the route needs. The
//! extractor loads the project and the caller's membership (one query, fresh on
//! every request, so a role change or a removal counts at once on every
//! instance) and asks `locus_core::decide` before the handler runs.
//!
//! A public bearer (exchanged from a public access token) is authorized the
//! same way, through the service account's membership, as
//! `Principal::Public`: the core caps it at the public read-only set, so every
//! later `require` on it is capped too. Such an `Authorized` says so in
//! [`Authorized::public`]; handlers that show people (memberships, authors)
//! check [`Authorized::is_public`].

use super::secrets::{self, Kind};
use super::Caller;
use crate::error::{ApiError, DenialAudit};
use crate::extract::{ClientAddr, RequestMeta};
use crate::AppState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use locus_core::{decide, AccessRequest, Decision, Denial, Ownership, Permission, Principal, ProjectId};
use locus_store::{Membership, Project, ProjectAccess};
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
    MdCreateAll => MdCreateAll,
    StoriesView => StoriesView,
    StoriesEdit => StoriesEdit,
    StudioShareLink => StudioShareLink,
    StudioDataModel => StudioDataModel,
    DataLoad => DataLoad,
    DataDump => DataDump,
    DwhQuery => DataDwhQuery,
    BulkPointQuery => DataBulkPointQuery,
    StudioExport => StudioExport,
);

/// A caller allowed `P` in the project named by the `projectId` path parameter.
/// For a public visitor, `caller` and `membership` are the service account's.
#[derive(Debug)]
pub struct Authorized<P> {
    pub caller: Caller,
    pub project: Project,
    pub membership: Membership,
    /// Set when the caller is an anonymous visitor with a public bearer.
    pub public: Option<PublicGrant>,
    _permission: PhantomData<P>,
}

/// The public token a visitor's bearer was exchanged from.
#[derive(Debug, Clone)]
pub struct PublicGrant {
    pub token_id: String,
    /// The token names its views: only those and what they link to are shown.
    pub restricted: bool,
}

impl<P> Authorized<P> {
    pub fn is_public(&self) -> bool {
        self.public.is_some()
    }

    fn principal(&self) -> Principal {
        if self.is_public() {
            Principal::Public
        } else {
            Principal::Member
        }
    }

    /// The role shown to the caller: ANONYMOUS for a public visitor.
    pub fn role_name(&self) -> &'static str {
        if self.is_public() {
            "ANONYMOUS"
        } else {
            self.membership.role.as_str()
        }
    }

    /// The permissions the caller holds in the project, in matrix order
    /// (owner-only ones included: they hold on the caller's own objects).
    pub fn permissions(&self) -> impl Iterator<Item = Permission> {
        let public = self.is_public();
        self.membership.role.permissions().filter(move |p| !public || p.reaches_public())
    }

    /// Checks a further permission through the same decision (for routes whose
    /// need depends on the request, like listing members versus reading one's own).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        self.require_with(permission, Ownership::NotApplicable)
    }

    /// Checks an owner-only permission (`md.view.delete_own`) on an object the
    /// caller did (`own`) or did not create.
    pub fn require_on(&self, permission: Permission, own: bool) -> Result<(), ApiError> {
        self.require_with(permission, if own { Ownership::Own } else { Ownership::Other })
    }

    /// A denial decided by a handler beyond the matrix (a LOCATION_API_CONSUMER
    /// naming a row property), answered and audited like every other.
    pub fn deny(&self, permission: Permission, message: String) -> ApiError {
        ApiError::Forbidden {
            message,
            permission: Some(permission.key()),
            audit: Some(Box::new(DenialAudit {
                actor: self.caller.actor.clone(),
                account_id: self.caller.account.id.clone(),
                project_id: self.project.id.clone(),
                permission: permission.key(),
            })),
        }
    }

    fn require_with(&self, permission: Permission, ownership: Ownership) -> Result<(), ApiError> {
        let membership = Some(&self.membership);
        check(self.principal(), &self.caller, &self.project, membership, permission, ownership)
    }
}

fn check(
    principal: Principal,
    caller: &Caller,
    project: &Project,
    membership: Option<&Membership>,
    permission: Permission,
    ownership: Ownership,
) -> Result<(), ApiError> {
    let request = AccessRequest {
        principal,
        // A service account also needs its anonymous flag to act for the public.
        account_active: caller.account.is_active() && (principal == Principal::Member || caller.account.anonymous),
        project_enabled: project.enabled,
        membership: membership.map(|m| (m.role, m.status)),
        permission,
        ownership,
    };
    match decide(&request) {
        Decision::Allow => Ok(()),
        Decision::Deny(denial) => Err(match denied(denial) {
            ApiError::Forbidden {
                message,
                permission: Some(key),
                audit: None,
            } => ApiError::Forbidden {
                message,
                permission: Some(key),
                audit: Some(Box::new(DenialAudit {
                    actor: caller.actor.clone(),
                    account_id: caller.account.id.clone(),
                    project_id: project.id.clone(),
                    permission: key,
                })),
            },
            other => other,
        }),
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
                audit: None,
            }
        }
    }
}

/// The one place denials reach the audit log: a 403 that carries a
/// [`DenialAudit`] (every denial of a project permission, by an extractor or
/// by a handler's own `require`, made in [`check`]) is recorded here after
/// the response is made; other requests pay nothing.
pub async fn audit_denials(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(req).await;
    if let Some(audit) = response.extensions().get::<DenialAudit>() {
        if let Err(error) = record_denial(&state, audit).await {
            tracing::warn!(%error, "recording a denial");
        }
    }
    response
}

/// Records a denied request in the project's audit log, at most once per
/// account, project and permission an hour, so that denials cannot flood it.
async fn record_denial(state: &AppState, audit: &DenialAudit) -> Result<(), ApiError> {
    let DenialAudit {
        actor,
        account_id,
        project_id,
        permission,
    } = audit;
    let once_an_hour = locus_store::Throttle {
        scope: "audit.denied",
        max_hits: 1,
        window_ms: 3_600_000,
        lock_ms: 3_600_000,
    };
    let key = format!("{account_id}|{project_id}|{permission}");
    let now = locus_store::now_millis();
    if state.store.throttle_check(&once_an_hour, &key, now).await? == locus_store::ThrottleVerdict::Open {
        state.store.throttle_hit(&once_an_hour, &key, now).await?;
        let content =
            serde_json::json!({"permission": permission, "note": "later denials of the same permission within the hour are not recorded"});
        state.store.record_event(actor, Some(project_id), "access_denied", content).await?;
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
        Authorized::in_project(parts, state, &raw).await
    }
}

impl<P: Required> Authorized<P> {
    /// Authorizes the request's bearer for `P` in the project `raw` names,
    /// for routes that name the project in their body (`POST /rest/jobs`).
    pub async fn in_project(parts: &Parts, state: &AppState, raw: &str) -> Result<Self, ApiError> {
        let meta = RequestMeta::from_parts(parts);
        let token = super::caller::bearer_token(parts)?;
        if let Some((session_id, secret)) = secrets::parse(Kind::PublicBearer, token) {
            let ClientAddr(client) = ClientAddr::of(parts);
            return Authorized::resolve_public(state, &meta, &client, session_id, secret, raw).await;
        }
        let (session_id, secret) = secrets::parse(Kind::Bearer, token).ok_or(super::caller::INVALID)?;
        Authorized::resolve(state, &meta, session_id, secret, raw).await
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
        Self::decide(caller, access, None)
    }

    /// Authorizes the holder of public session `session_id` with `secret` for
    /// `P` in `raw_project_id`, through the service account's membership,
    /// capped at the public set. Rate-limited per client address; every use
    /// is counted for the token's hourly audit event.
    async fn resolve_public(
        state: &AppState,
        meta: &RequestMeta,
        client: &str,
        session_id: &str,
        secret: &str,
        raw_project_id: &str,
    ) -> Result<Self, ApiError> {
        state.public.requests.hit(client)?;
        let project_id = ProjectId::parse("projectId", raw_project_id)?;
        let now = locus_store::now_millis();
        let found = state
            .store
            .public_session_in_project(session_id, project_id.as_str(), now)
            .await?
            .filter(|s| secrets::verify(secret, &s.secret_hash))
            .ok_or(super::caller::INVALID)?;
        state.public.usage.count(&found.token_id, project_id.as_str(), now);
        let caller = Caller {
            actor: meta.actor(Some(&found.account.id)),
            account: found.account,
            session_id: session_id.to_owned(),
            access_token_id: None,
        };
        let grant = PublicGrant {
            token_id: found.token_id,
            restricted: found.restricted,
        };
        Self::decide(caller, found.access, Some(grant))
    }

    /// Decides `P` for a caller whose project and membership were loaded.
    fn decide(caller: Caller, access: Option<ProjectAccess>, public: Option<PublicGrant>) -> Result<Self, ApiError> {
        let access = access.ok_or(ApiError::NotFound("project"))?;
        let principal = if public.is_some() { Principal::Public } else { Principal::Member };
        check(
            principal,
            &caller,
            &access.project,
            access.membership.as_ref(),
            P::PERMISSION,
            Ownership::NotApplicable,
        )?;
        let membership = access.membership.ok_or(ApiError::NotFound("project"))?;
        Ok(Authorized {
            caller,
            project: access.project,
            membership,
            public,
            _permission: PhantomData,
        })
    }
}
