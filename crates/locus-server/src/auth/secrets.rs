//! Every secret Locus hands out has the form `{kind}_{id}_{secret}`: a public id
//! the store looks rows up by, and 32 base62 characters (190 bits) of which only
//! a SHA-256 is stored. Verification compares hashes in constant time.
//! The alphabet fits the contract's `^[\w._-]+$`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A personal access token (long-lived, exchanged for bearers).
    AccessToken,
    /// A short-lived bearer from `POST /rest/oauth/token`.
    Bearer,
    /// A password-reset link.
    PasswordReset,
    /// An invitation link.
    Invitation,
    /// A link that proves the owner of an account reads its e-mail.
    EmailVerification,
    /// A public access token: opens one project read-only for anyone.
    PublicToken,
    /// A short-lived bearer exchanged from a public access token.
    PublicBearer,
}

impl Kind {
    const fn prefix(self) -> &'static str {
        match self {
            Kind::AccessToken => "lpat",
            Kind::Bearer => "lbt",
            Kind::PasswordReset => "lrst",
            Kind::Invitation => "linv",
            Kind::EmailVerification => "lvem",
            Kind::PublicToken => "lpub",
            Kind::PublicBearer => "lpbt",
        }
    }
}

const ID_LEN: usize = 16;
const SECRET_LEN: usize = 32;

/// A freshly made secret: `token` goes to the user once, `id` and `hash` to the store.
#[derive(Debug)]
pub struct Issued {
    pub id: String,
    pub token: String,
    pub hash: String,
}

pub fn issue(kind: Kind) -> Issued {
    let id = locus_core::random_base62(ID_LEN);
    let secret = locus_core::random_base62(SECRET_LEN);
    Issued {
        token: format!("{}_{id}_{secret}", kind.prefix()),
        hash: hash(&secret),
        id,
    }
}

/// Splits a presented token into (id, secret) when it has the shape of `kind`.
pub fn parse(kind: Kind, token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(kind.prefix())?.strip_prefix('_')?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok(id, ID_LEN) && ok(secret, SECRET_LEN)).then_some((id, secret))
}

pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn verify(secret: &str, stored: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_and_verify() {
        let issued = issue(Kind::AccessToken);
        let (id, secret) = parse(Kind::AccessToken, &issued.token).unwrap();
        assert_eq!(id, issued.id);
        assert!(verify(secret, &issued.hash));
        assert!(!verify("x", &issued.hash));
        assert!(parse(Kind::Bearer, &issued.token).is_none(), "kinds do not mix");
    }

    #[test]
    fn tokens_match_the_contract_regex_and_carry_128_bits() {
        let t = issue(Kind::Bearer).token;
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'));
        // Measured on issued secrets, not on a constant: each is SECRET_LEN
        // base62 characters (so at least 128 bits if they are uniform), no two
        // alike, and together they use (nearly) the whole alphabet.
        let mut seen = std::collections::HashSet::new();
        let mut alphabet = std::collections::HashSet::new();
        for _ in 0..300 {
            let issued = issue(Kind::Bearer);
            let (_, secret) = parse(Kind::Bearer, &issued.token).unwrap();
            assert_eq!(secret.len(), SECRET_LEN);
            assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
            alphabet.extend(secret.bytes());
            assert!(seen.insert(secret.to_owned()), "a secret came twice");
        }
        assert!((secret_bits(SECRET_LEN)) >= 128.0);
        // 9,600 uniform draws from 62 characters miss one with odds below 1e-60.
        assert_eq!(alphabet.len(), 62, "secrets do not use the whole base62 alphabet");
    }

    fn secret_bits(len: usize) -> f64 {
        f64::from(u32::try_from(len).unwrap()) * 62f64.log2()
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for t in [
            "",
            "lpat",
            "lpat_",
            "lpat__",
            "lpat_abc_def",
            "lbt_aaaaaaaaaaaaaaaa_bbbb",
            "lpat_aaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb!",
        ] {
            assert!(parse(Kind::AccessToken, t).is_none(), "{t}");
        }
    }
}
