//! Authentication: the secrets we hand out, password hashing, the bearer
//! extractor that every authenticated route takes, and brute-force limits.

pub mod access;
pub mod caller;
pub mod limits;
pub mod passwords;
pub mod secrets;

pub use caller::Caller;
