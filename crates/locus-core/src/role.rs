//! Roles and permissions. The matrix itself is generated at build time from
//! `permissions.csv` (see `build.rs`); this module only gives it a typed face.

use crate::Invalid;

include!(concat!(env!("OUT_DIR"), "/permissions.rs"));

impl Permission {
    /// Looks a permission up by its key (`membership.add`).
    pub fn from_key(key: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.key() == key)
    }

    /// What a public visitor may ever do, whatever role the service account
    /// behind the link holds: VIEWER's read-only permissions. Writing ones
    /// (bookmarks, share links) are left out even though VIEWER has them.
    pub const PUBLIC: [Permission; 7] = [
        Permission::ProjectAccess,
        Permission::ProjectDetail,
        Permission::DataDwhQuery,
        Permission::DataBulkPointQuery,
        Permission::StoriesView,
        Permission::StudioExport,
        Permission::StudioJsonMetadata,
    ];

    /// Whether a public visitor may ever be granted this permission.
    pub const fn reaches_public(self) -> bool {
        let mut i = 0;
        while i < Permission::PUBLIC.len() {
            if Permission::PUBLIC[i] as u8 == self as u8 {
                return true;
            }
            i += 1;
        }
        false
    }

    /// True for the "delete own X" permissions, which only reach objects the caller created.
    pub const fn is_owner_only(self) -> bool {
        matches!(
            self,
            Permission::MdViewDeleteOwn
                | Permission::MdDashboardDeleteOwn
                | Permission::MdMarkerSelectorDeleteOwn
                | Permission::MdIndicatorDrillDeleteOwn
        )
    }
}

/// A project role. The wire enum also names ANONYMOUS and DUMP_DATA; neither can
/// be given to a member (see [`Role::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    ViewCreator,
    Editor,
    DataEditor,
    Admin,
    LoadData,
    LocationApiConsumer,
}

impl Role {
    /// The seven roles, in the column order of the matrix.
    pub const ALL: [Role; 7] = [
        Role::Viewer,
        Role::ViewCreator,
        Role::Editor,
        Role::DataEditor,
        Role::Admin,
        Role::LoadData,
        Role::LocationApiConsumer,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::ViewCreator => "VIEW_CREATOR",
            Role::Editor => "EDITOR",
            Role::DataEditor => "DATA_EDITOR",
            Role::Admin => "ADMIN",
            Role::LoadData => "LOAD_DATA",
            Role::LocationApiConsumer => "LOCATION_API_CONSUMER",
        }
    }

    /// Parses the wire name. ANONYMOUS and DUMP_DATA exist in the API enum but
    /// are not roles a member can hold, so they are refused with the allowed list.
    pub fn parse(field: &'static str, s: &str) -> Result<Role, Invalid> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Invalid::new(field, format!("unknown role {s:?}; allowed roles: {}", Role::allowed_list())))
    }

    /// "VIEWER, VIEW_CREATOR, …" for error messages and documents.
    pub fn allowed_list() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }

    /// Whether the matrix grants `permission` to this role.
    pub const fn grants(self, permission: Permission) -> bool {
        GRANTS[self as usize] & (1u64 << permission as u8) != 0
    }

    /// The role's permissions, in matrix order.
    pub fn permissions(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.grants(*p))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse("role", role.as_str()), Ok(role));
        }
    }

    #[test]
    fn anonymous_and_dump_data_are_refused_with_the_allowed_list() {
        for name in ["ANONYMOUS", "DUMP_DATA", "viewer", ""] {
            let err = Role::parse("role", name).unwrap_err();
            assert_eq!(err.field, "role");
            assert!(err.message.contains("VIEWER, VIEW_CREATOR, EDITOR"), "{}", err.message);
        }
    }

    #[test]
    fn permission_keys_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_key(p.key()), Some(p));
        }
        assert_eq!(Permission::from_key("project.nothing"), None);
    }

    #[test]
    fn the_public_set_is_within_viewers_and_leaves_out_only_writes() {
        for p in Permission::PUBLIC {
            assert!(Role::Viewer.grants(p), "{} is not a VIEWER permission", p.key());
            assert!(p.reaches_public());
        }
        let left_out: Vec<&str> = Role::Viewer
            .permissions()
            .filter(|p| !p.reaches_public())
            .map(Permission::key)
            .collect();
        assert_eq!(left_out, ["md.bookmarks.update", "studio.share_link"]);
    }

    #[test]
    fn owner_only_permissions_are_the_delete_own_keys() {
        for p in Permission::ALL {
            assert_eq!(p.is_owner_only(), p.key().ends_with(".delete_own"), "{}", p.key());
        }
    }
}
