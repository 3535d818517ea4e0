//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1, the OWASP minimum),
//! always off the async runtime and at most one hash per core at a time, so a
//! burst of sign-ins cannot starve the other requests.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

static PERMITS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))));

/// A hash of a password nobody has: checked against when an e-mail has no
/// account, so that the answer takes as long as for a real one.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_blocking("dummy password for timing").unwrap_or_default());

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on the calling thread; for benchmarks and the CLI.
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let _permit = PERMITS.clone().acquire_owned().await?;
    Ok(tokio::task::spawn_blocking(f).await?)
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    off_runtime(move || hash_blocking(&password)).await?
}

/// Verifies `password` against `hash`, or against a dummy hash when there is
/// no account, taking the same time either way.
pub async fn verify(password: String, hash: Option<String>) -> anyhow::Result<bool> {
    off_runtime(move || match hash {
        Some(h) => verify_blocking(&password, &h),
        None => {
            verify_blocking(&password, &DUMMY_HASH);
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_minimum_cost() {
        let h = hash("Correct-horse-9".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("Correct-horse-9".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
