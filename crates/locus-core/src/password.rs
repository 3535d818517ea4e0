//! The password policy: 8 to 100 characters, an upper-case letter, a lower-case
//! letter and a digit, and not one of the 1,000 most common passwords
//! (`data/common-passwords.txt`, see `data/README.md` for its source).

use crate::Invalid;

const COMMON: &str = include_str!("../data/common-passwords.txt");

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 100;

/// Checks a new password against the policy; `field` names it in the error.
pub fn check_policy(field: &'static str, password: &str) -> Result<(), Invalid> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(Invalid::new(field, format!("must be {MIN_LEN} to {MAX_LEN} characters")));
    }
    let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
    if !has(char::is_ascii_uppercase) && !has(|c| c.is_uppercase()) {
        return Err(Invalid::new(field, "must contain an upper-case letter"));
    }
    if !has(|c| c.is_lowercase()) {
        return Err(Invalid::new(field, "must contain a lower-case letter"));
    }
    if !has(char::is_ascii_digit) {
        return Err(Invalid::new(field, "must contain a digit"));
    }
    if is_common(password) {
        return Err(Invalid::new(field, "is one of the most common passwords; choose another"));
    }
    Ok(())
}

/// Whether the password, ignoring case, is on the common-passwords list.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON.lines().any(|line| line == lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_a_thousand_entries() {
        assert_eq!(COMMON.lines().count(), 1000);
    }

    #[test]
    fn policy_edges() {
        assert!(check_policy("password", "Tr0ub4dor&3x").is_ok());
        assert!(check_policy("password", "Aa1aaaa").is_err(), "7 characters");
        assert!(check_policy("password", "Aa1aaaaa").is_ok(), "8 characters");
        assert!(
            check_policy("password", &format!("Aa1{}", "x".repeat(97))).is_ok(),
            "100 characters"
        );
        assert!(
            check_policy("password", &format!("Aa1{}", "x".repeat(98))).is_err(),
            "101 characters"
        );
        assert!(check_policy("password", "alllower1").is_err());
        assert!(check_policy("password", "ALLUPPER1").is_err());
        assert!(check_policy("password", "NoDigitsHere").is_err());
        assert_eq!(check_policy("newPassword", "short").unwrap_err().field, "newPassword");
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        let first = COMMON.lines().next().unwrap();
        assert!(is_common(first));
        assert!(is_common(&first.to_uppercase()));
        // "Password1" meets every character rule; the list is what refuses it.
        assert!(is_common("Password1"));
        assert_eq!(
            check_policy("password", "Password1").unwrap_err().message,
            "is one of the most common passwords; choose another"
        );
        assert!(!is_common("Tr0ub4dor&3x"));
    }
}
