//! The one error of this crate: a value that failed to parse.

/// A value refused by a `parse` constructor. `field` names the offending input
/// the way the wire names it, so the server can pass it on to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
