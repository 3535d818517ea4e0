//! Project metadata (api-contract.md §9): the public object types, the links
//! between objects, and the validation of an object's JSON, which answers with
//! the JSON path of every offending value and the links the object makes (so
//! the store can check they exist and refuse to delete what is referenced).
//!
//! Pure: no I/O. The store keeps the objects; the server speaks the wire.

mod dataset;
mod schema;
mod shape;
mod validate;

pub use dataset::{dataset_problems, LinkNeeds, PROPERTY_TYPES};
pub use validate::validate;

use crate::Permission;

/// The public metadata types, by their path segment under `/md/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MdType {
    ProjectSettings,
    DataPermissions,
    Datasets,
    Metrics,
    Views,
    Dashboards,
    Indicators,
    IndicatorDrills,
    Markers,
    MarkerSelectors,
    Exports,
    Maps,
    AttributeStyles,
}

impl MdType {
    pub const ALL: [MdType; 13] = [
        MdType::ProjectSettings,
        MdType::DataPermissions,
        MdType::Datasets,
        MdType::Metrics,
        MdType::Views,
        MdType::Dashboards,
        MdType::Indicators,
        MdType::IndicatorDrills,
        MdType::Markers,
        MdType::MarkerSelectors,
        MdType::Exports,
        MdType::Maps,
        MdType::AttributeStyles,
    ];

    /// The path segment: `/md/{segment}`, also the directory name in a dump.
    pub const fn segment(self) -> &'static str {
        match self {
            MdType::ProjectSettings => "projectSettings",
            MdType::DataPermissions => "dataPermissions",
            MdType::Datasets => "datasets",
            MdType::Metrics => "metrics",
            MdType::Views => "views",
            MdType::Dashboards => "dashboards",
            MdType::Indicators => "indicators",
            MdType::IndicatorDrills => "indicatorDrills",
            MdType::Markers => "markers",
            MdType::MarkerSelectors => "markerSelectors",
            MdType::Exports => "exports",
            MdType::Maps => "maps",
            MdType::AttributeStyles => "attributeStyles",
        }
    }

    /// The object's `type` value.
    pub const fn type_value(self) -> &'static str {
        match self {
            MdType::ProjectSettings => "projectSettings",
            MdType::DataPermissions => "dataPermission",
            MdType::Datasets => "dataset",
            MdType::Metrics => "metric",
            MdType::Views => "view",
            MdType::Dashboards => "dashboard",
            MdType::Indicators => "indicator",
            MdType::IndicatorDrills => "indicatorDrill",
            MdType::Markers => "marker",
            MdType::MarkerSelectors => "markerSelector",
            MdType::Exports => "export",
            MdType::Maps => "map",
            MdType::AttributeStyles => "attributeStyle",
        }
    }

    pub fn from_segment(segment: &str) -> Option<MdType> {
        MdType::ALL.into_iter().find(|t| t.segment() == segment)
    }

    pub fn from_type_value(value: &str) -> Option<MdType> {
        MdType::ALL.into_iter().find(|t| t.type_value() == value)
    }

    /// The permission that lets a role without `md.create_all` create objects
    /// of this type, which are then the creator's own (VIEW_CREATOR, DATA_EDITOR).
    pub const fn create_own(self) -> Option<Permission> {
        match self {
            MdType::Views => Some(Permission::MdViewCreate),
            MdType::Dashboards => Some(Permission::MdDashboardCreate),
            MdType::MarkerSelectors => Some(Permission::MdMarkerSelectorCreate),
            MdType::IndicatorDrills => Some(Permission::MdIndicatorDrillCreate),
            _ => None,
        }
    }

    /// The permission that lets the owner of a personal object delete it.
    pub const fn delete_own(self) -> Option<Permission> {
        match self {
            MdType::Views => Some(Permission::MdViewDeleteOwn),
            MdType::Dashboards => Some(Permission::MdDashboardDeleteOwn),
            MdType::MarkerSelectors => Some(Permission::MdMarkerSelectorDeleteOwn),
            MdType::IndicatorDrills => Some(Permission::MdIndicatorDrillDeleteOwn),
            _ => None,
        }
    }
}

/// How a link names its target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkTarget {
    Name(String),
    Id(String),
}

/// One object's reference to another: `/rest/projects/$projectId/md/T?name=x`
/// or `/rest/projects/{projectId}/md/T/{id}`; dataset properties also link
/// datasets by bare name through `foreignKey` and `geometry`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MdLink {
    pub md_type: MdType,
    pub target: LinkTarget,
    /// Where in the object the link sits (`content.dashboard`), for messages.
    pub path: String,
    /// What the target must be besides an object of `md_type` (a foreign
    /// key's dataset must be a dwh dataset); checked by the store.
    pub needs: LinkNeeds,
}

/// One thing wrong with an object: the JSON path of the offending value
/// (`content.blockRows[0].indicator`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// The project id of a link: `$projectId` (this project) or a 16-character id.
pub const PROJECT_PLACEHOLDER: &str = "$projectId";

/// Parses a link string, accepting only links into `project_id` (or the
/// `$projectId` placeholder). `Err` says what is wrong with it.
pub fn parse_link(link: &str, project_id: &str, path: &str) -> Result<MdLink, String> {
    let bad = || {
        format!("must be a link like /rest/projects/$projectId/md/views?name=some_view or /rest/projects/$projectId/md/views/{{id}}, not {link:?}")
    };
    let rest = link.strip_prefix("/rest/projects/").ok_or_else(bad)?;
    let (project, rest) = rest.split_once('/').ok_or_else(bad)?;
    if project != PROJECT_PLACEHOLDER && project != project_id {
        return Err(format!(
            "links may only point into this project ({PROJECT_PLACEHOLDER} or {project_id}), not {project:?}"
        ));
    }
    let rest = rest.strip_prefix("md/").ok_or_else(bad)?;
    let (segment, target) = match rest.split_once('?') {
        Some((segment, query)) => {
            let name = query.strip_prefix("name=").filter(|n| !n.contains('&')).ok_or_else(bad)?;
            if !is_name(name) {
                return Err(format!("{name:?} is not a valid object name"));
            }
            (segment, LinkTarget::Name(name.to_owned()))
        }
        None => {
            let (segment, id) = rest.split_once('/').ok_or_else(bad)?;
            if !is_id(id) {
                return Err(format!("{id:?} is not a valid object id (16 characters a-z, 0-9)"));
            }
            (segment, LinkTarget::Id(id.to_owned()))
        }
    };
    let md_type = MdType::from_segment(segment).ok_or_else(|| format!("{segment:?} is not a metadata type"))?;
    Ok(MdLink {
        md_type,
        target,
        path: path.to_owned(),
        needs: LinkNeeds::Nothing,
    })
}

/// An object name: `^[a-z][a-z0-9_-]*$`.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// An object id: 16 characters `[a-z0-9]`.
pub fn is_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_type_values_round_trip() {
        for t in MdType::ALL {
            assert_eq!(MdType::from_segment(t.segment()), Some(t));
            assert_eq!(MdType::from_type_value(t.type_value()), Some(t));
        }
        assert_eq!(MdType::from_segment("shares"), None);
    }

    #[test]
    fn links_name_their_target_in_this_project_only() {
        let l = parse_link(
            "/rest/projects/$projectId/md/dashboards?name=main_dash",
            "abcdefghij012345",
            "content.dashboard",
        )
        .unwrap();
        assert_eq!((l.md_type, l.target), (MdType::Dashboards, LinkTarget::Name("main_dash".into())));
        let l = parse_link(
            "/rest/projects/abcdefghij012345/md/metrics/0123456789abcdef",
            "abcdefghij012345",
            "x",
        )
        .unwrap();
        assert_eq!((l.md_type, l.target), (MdType::Metrics, LinkTarget::Id("0123456789abcdef".into())));
        assert!(parse_link("/rest/projects/otherproject0000/md/metrics?name=m", "abcdefghij012345", "x").is_err());
        assert!(parse_link("/rest/projects/$projectId/md/shares?name=m", "abcdefghij012345", "x").is_err());
        assert!(parse_link("/rest/projects/$projectId/md/metrics?name=Bad", "abcdefghij012345", "x").is_err());
        assert!(parse_link("metrics/m", "abcdefghij012345", "x").is_err());
    }

    #[test]
    fn names_and_ids() {
        assert!(is_name("a") && is_name("shops_marker-2"));
        assert!(!is_name("") && !is_name("2a") && !is_name("A") && !is_name("a b"));
        assert!(is_id("0123456789abcdef") && !is_id("0123456789ABCDEF") && !is_id("short"));
    }
}
