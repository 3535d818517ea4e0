//! Validated values from user input: e-mail addresses and person names.

use crate::Invalid;

/// An e-mail address as the user typed it (trimmed). Equality and lookups go
/// through [`Email::normalized`], so `Ann@X.org` and `ann@x.org` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let invalid = || Invalid::new(field, "must be an e-mail address like name@example.com");
        if s.is_empty() || s.len() > Self::MAX_LEN || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || domain.is_empty()
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || domain.contains('@')
        {
            return Err(invalid());
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and lookups.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A given name or surname: 1 to 50 letters, spaces, apostrophes and hyphens
/// (the contract's `^[\p{L} \'-]+$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let count = s.chars().count();
        if count == 0 || count > 50 {
            return Err(Invalid::new(field, "must be 1 to 50 characters"));
        }
        if !s.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '\'' || c == '-') {
            return Err(Invalid::new(field, "may hold only letters, spaces, apostrophes and hyphens"));
        }
        Ok(PersonName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_compared_case_insensitively() {
        let e = Email::parse("email", "  Ann.Lee@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee@Example.ORG");
        assert_eq!(e.normalized(), "ann.lee@example.org");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ann",
            "@x.org",
            "ann@",
            "ann@.org",
            "ann@x..org",
            "a b@x.org",
            "ann@x.org.",
            &format!("{}@x.org", "a".repeat(65)),
        ] {
            assert_eq!(Email::parse("email", bad).unwrap_err().field, "email", "{bad}");
        }
    }

    #[test]
    fn names_allow_letters_of_any_script() {
        assert!(PersonName::parse("givenName", "Zdeněk O'Neil-Šťastný").is_ok());
        assert!(PersonName::parse("givenName", "Robert'); DROP").is_err());
        assert!(PersonName::parse("givenName", "").is_err());
        assert!(PersonName::parse("givenName", &"a".repeat(51)).is_err());
        assert!(PersonName::parse("givenName", &"ž".repeat(50)).is_ok());
    }
}
