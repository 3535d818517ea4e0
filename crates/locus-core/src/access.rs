//! The access decision: one pure function from what we know about a request to
//! allow or deny. Deny by default; every fact that could deny is checked before
//! the matrix is consulted.

use crate::{Permission, Role};

/// Whether a membership is switched on. A DISABLED member keeps the membership
/// but can do nothing in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipStatus {
    Enabled,
    Disabled,
}

impl MembershipStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Enabled => "ENABLED",
            MembershipStatus::Disabled => "DISABLED",
        }
    }

    pub fn parse(field: &'static str, s: &str) -> Result<Self, crate::Invalid> {
        match s {
            "ENABLED" => Ok(Self::Enabled),
            "DISABLED" => Ok(Self::Disabled),
            other => Err(crate::Invalid::new(
                field,
                format!("unknown status {other:?}; allowed: ENABLED, DISABLED"),
            )),
        }
    }
}

/// How the caller relates to the object a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The request does not act on an owned object (project settings, membership…).
    NotApplicable,
    /// The caller created the object.
    Own,
    /// Someone else created the object.
    Other,
}

/// Who is asking: a member acting for their own account, or an anonymous
/// visitor holding a public access token of a service account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Member,
    /// Acts with the service account's membership, capped at
    /// [`Permission::PUBLIC`]: whatever role the service account holds, a
    /// public visitor can only read.
    Public,
}

/// Everything the decision needs, gathered by the caller beforehand.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest {
    pub principal: Principal,
    /// The account exists, is ENABLED and not deleted.
    pub account_active: bool,
    /// The project exists and is ENABLED.
    pub project_enabled: bool,
    /// The caller's membership in the project, if any.
    pub membership: Option<(Role, MembershipStatus)>,
    pub permission: Permission,
    pub ownership: Ownership,
}

/// Why a request was denied. The server maps these to status codes: a
/// non-member must not learn that the project exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    AccountInactive,
    NotAMember,
    ProjectDisabled,
    MembershipDisabled,
    MissingPermission(Permission),
    NotOwner(Permission),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
}

impl Decision {
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Decides one request. Deny by default: only an active account with an ENABLED
/// membership in an ENABLED project whose role grants the permission is allowed,
/// and an owner-only permission further needs the caller to own the object.
/// A public visitor further gets nothing outside [`Permission::PUBLIC`].
pub const fn decide(request: &AccessRequest) -> Decision {
    if !request.account_active {
        return Decision::Deny(Denial::AccountInactive);
    }
    let (role, status) = match request.membership {
        Some(m) => m,
        None => return Decision::Deny(Denial::NotAMember),
    };
    if matches!(status, MembershipStatus::Disabled) {
        return Decision::Deny(Denial::MembershipDisabled);
    }
    if !request.project_enabled && !may_reenable(request.principal, role, request.permission) {
        return Decision::Deny(Denial::ProjectDisabled);
    }
    if !role.grants(request.permission) {
        return Decision::Deny(Denial::MissingPermission(request.permission));
    }
    if matches!(request.principal, Principal::Public) && !request.permission.reaches_public() {
        return Decision::Deny(Denial::MissingPermission(request.permission));
    }
    if request.permission.is_owner_only() && !matches!(request.ownership, Ownership::Own) {
        return Decision::Deny(Denial::NotOwner(request.permission));
    }
    Decision::Allow
}

/// In a DISABLED project an ADMIN may still read and update the project
/// itself, so that the one who switched it off can switch it on again; nothing
/// else works there until then.
const fn may_reenable(principal: Principal, role: Role, permission: Permission) -> bool {
    matches!(principal, Principal::Member)
        && matches!(role, Role::Admin)
        && matches!(permission, Permission::ProjectDetail | Permission::ProjectUpdate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(membership: Option<(Role, MembershipStatus)>, permission: Permission) -> AccessRequest {
        AccessRequest {
            principal: Principal::Member,
            account_active: true,
            project_enabled: true,
            membership,
            permission,
            ownership: Ownership::NotApplicable,
        }
    }

    #[test]
    fn every_cell_follows_the_role_table_for_enabled_members() {
        for role in Role::ALL {
            for p in Permission::ALL.into_iter().filter(|p| !p.is_owner_only()) {
                let d = decide(&request(Some((role, MembershipStatus::Enabled)), p));
                assert_eq!(d.is_allowed(), role.grants(p), "{role} {}", p.key());
            }
        }
    }

    #[test]
    fn nothing_is_allowed_without_an_enabled_membership_in_an_enabled_project() {
        for role in Role::ALL {
            for p in Permission::ALL {
                assert_eq!(decide(&request(None, p)), Decision::Deny(Denial::NotAMember));
                let disabled = request(Some((role, MembershipStatus::Disabled)), p);
                assert_eq!(decide(&disabled), Decision::Deny(Denial::MembershipDisabled));
                let project_off = AccessRequest {
                    project_enabled: false,
                    ..request(Some((role, MembershipStatus::Enabled)), p)
                };
                // The one exception: an ADMIN reads and updates the project, to enable it again.
                let reenable = role == Role::Admin && matches!(p, Permission::ProjectDetail | Permission::ProjectUpdate);
                let expected = if reenable {
                    Decision::Allow
                } else {
                    Decision::Deny(Denial::ProjectDisabled)
                };
                assert_eq!(decide(&project_off), expected, "{role} {}", p.key());
                let public_off = AccessRequest {
                    principal: Principal::Public,
                    ..project_off
                };
                assert!(!decide(&public_off).is_allowed(), "no public access to a disabled project");
                let gone = AccessRequest {
                    account_active: false,
                    ..request(Some((role, MembershipStatus::Enabled)), p)
                };
                assert_eq!(decide(&gone), Decision::Deny(Denial::AccountInactive));
            }
        }
    }

    #[test]
    fn delete_own_reaches_only_the_callers_objects() {
        let p = Permission::MdViewDeleteOwn;
        let base = request(Some((Role::ViewCreator, MembershipStatus::Enabled)), p);
        assert!(decide(&AccessRequest {
            ownership: Ownership::Own,
            ..base
        })
        .is_allowed());
        assert_eq!(
            decide(&AccessRequest {
                ownership: Ownership::Other,
                ..base
            }),
            Decision::Deny(Denial::NotOwner(p))
        );
        assert_eq!(decide(&base), Decision::Deny(Denial::NotOwner(p)));
        let viewer = request(Some((Role::Viewer, MembershipStatus::Enabled)), p);
        assert_eq!(
            decide(&AccessRequest {
                ownership: Ownership::Own,
                ..viewer
            }),
            Decision::Deny(Denial::MissingPermission(p))
        );
    }

    #[test]
    fn a_public_visitor_gets_the_service_accounts_role_capped_at_the_public_set() {
        for role in Role::ALL {
            for p in Permission::ALL {
                let public = AccessRequest {
                    principal: Principal::Public,
                    ownership: Ownership::Own,
                    ..request(Some((role, MembershipStatus::Enabled)), p)
                };
                let expected = role.grants(p) && Permission::PUBLIC.contains(&p);
                assert_eq!(decide(&public).is_allowed(), expected, "{role} {}", p.key());
                if !expected {
                    assert_eq!(decide(&public), Decision::Deny(Denial::MissingPermission(p)));
                }
                let disabled = AccessRequest {
                    membership: Some((role, MembershipStatus::Disabled)),
                    ..public
                };
                assert!(!decide(&disabled).is_allowed());
            }
        }
    }
}
