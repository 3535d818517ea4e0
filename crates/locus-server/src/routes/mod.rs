//! One module per resource; each exposes `routes()` for `openapi::routes`.

pub mod access_tokens;
pub mod accounts;
pub mod auditlog;
pub mod data;
pub mod dwh;
pub mod email_verification;
pub mod health;
pub mod invitations;
pub mod jobs;
pub mod members;
pub mod metadata;
pub mod oauth;
pub mod organizations;
pub mod password_reset;
pub mod projects;
pub mod public_access;
pub mod studio;
pub mod uploads;
pub mod usage;
