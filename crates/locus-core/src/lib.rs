//! The pure domain of Locus: roles, permissions, the access decision, and the
//! validated values (ids, e-mails, names, passwords) that the rest of the system
//! passes around.
//!
//! Nothing here does I/O, and nothing here can panic on any input: the store and
//! the server depend on this crate, never the other way round.

pub mod access;
pub mod error;
pub mod ids;
pub mod invitation;
pub mod metadata;
pub mod password;
pub mod role;
pub mod values;

pub use access::{decide, AccessRequest, Decision, Denial, MembershipStatus, Ownership, Principal};
pub use error::Invalid;
pub use ids::{random_base62, AccountId, OrganizationId, ProjectId};
pub use invitation::{InvitationStatus, Transition};
pub use role::{Permission, Role};
pub use values::{Email, PersonName};
