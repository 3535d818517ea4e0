//! Identifiers in the formats the wire contract fixes (api-contract.md §0.3).
//! Each is a newtype with a private field: holding one proves it is well formed.

use crate::Invalid;
use rand::{distributions::Uniform, Rng};

const BASE62: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER36: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    let pick = Uniform::from(0..alphabet.len());
    (0..len).map(|_| alphabet[rng.sample(pick)] as char).collect()
}

/// `len` random characters of `[a-zA-Z0-9]` from the OS-seeded CSPRNG
/// (5.95 bits each: 22 characters carry more than 128 bits).
pub fn random_base62(len: usize) -> String {
    random_from(BASE62, len)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr, $alphabet:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(random_from($alphabet, $len))
            }

            pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
                if s.len() == $len && s.bytes().all(|b| $alphabet.contains(&b)) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(Invalid::new(field, concat!("must be ", $what)))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An account id: 20 characters `[a-zA-Z0-9]`, the audit log's format.
    AccountId, 20, BASE62, "20 characters [a-zA-Z0-9]"
);
id_type!(
    /// A project id: `^[a-z0-9]{16}$`.
    ProjectId, 16, LOWER36, "16 characters [a-z0-9]"
);
id_type!(
    /// An organization id: `^[a-z0-9]{16}$`.
    OrganizationId, 16, LOWER36, "16 characters [a-z0-9]"
);

/// A lower-case `[a-z0-9]` string of `len` characters (dwh cluster ids, metadata ids).
pub fn random_lower36(len: usize) -> String {
    random_from(LOWER36, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..100 {
            let a = AccountId::generate();
            assert_eq!(AccountId::parse("id", a.as_str()), Ok(a));
            let p = ProjectId::generate();
            assert_eq!(ProjectId::parse("id", p.as_str()), Ok(p));
        }
    }

    #[test]
    fn malformed_ids_are_refused_with_the_field() {
        for bad in [
            "",
            "short",
            "kt3hz932v53vabh8x",
            "KT3HZ932V53VABH8",
            "kt3hz932v53vab-8",
            "ütf8ütf8ütf8üt",
        ] {
            assert_eq!(ProjectId::parse("projectId", bad).unwrap_err().field, "projectId");
        }
        assert!(AccountId::parse("id", "00ubftx6v6TSTKnAt0h7").is_ok());
        assert!(AccountId::parse("id", "00ubftx6v6TSTKnAt0h_").is_err());
    }

    #[test]
    fn base62_strings_have_the_asked_length_and_alphabet() {
        let s = random_base62(43);
        assert_eq!(s.len(), 43);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_base62(22), random_base62(22));
    }
}
