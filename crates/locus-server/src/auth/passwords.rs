//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1, the OWASP minimum),
//! always off the async runtime and at most one hash per core at a time, so a
//! burst of sign-ins cannot starve the other requests. A request that has
//! waited [`QUEUE_DEADLINE`] for its turn is answered 503 with `Retry-After`
//! instead of waiting on: a flood of sign-ups or sign-ins queues no deeper
//! than the cores can work off in that time.

use crate::error::ApiError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// How long a hash waits for a core before the request is refused.
pub const QUEUE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

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

async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    limited(PERMITS.clone(), QUEUE_DEADLINE, f).await
}

/// Runs `f` on a blocking thread once one of `permits` is free, or answers
/// `Busy` when none was within `deadline`.
async fn limited<T: Send + 'static>(
    permits: Arc<Semaphore>,
    deadline: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = tokio::time::timeout(deadline, permits.acquire_owned()).await;
    let Ok(Ok(_permit)) = permit else {
        tracing::warn!("password hashing queue past its deadline; refusing");
        return Err(ApiError::Busy { retry_after_secs: 1 });
    };
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing task: {e}")))
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    off_runtime(move || hash_blocking(&password)).await?.map_err(ApiError::Internal)
}

/// Verifies `password` against `hash`, or against a dummy hash when there is
/// no account, taking the same time either way.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, ApiError> {
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

    /// More hashes than the cores can do within the deadline: the excess is
    /// refused as busy, quickly, rather than queued.
    #[tokio::test(start_paused = true)]
    async fn a_flood_past_the_queue_deadline_is_refused_as_busy() {
        let permits = Arc::new(Semaphore::new(2));
        // Every permit taken, as by a flood of sign-ins.
        let held = permits.clone().acquire_many_owned(2).await.unwrap();
        let started = tokio::time::Instant::now();
        let refused = limited(permits.clone(), QUEUE_DEADLINE, || 1).await;
        assert!(matches!(refused, Err(ApiError::Busy { retry_after_secs: 1 })), "{refused:?}");
        assert_eq!(
            started.elapsed(),
            QUEUE_DEADLINE,
            "it waited its turn until the deadline, no longer"
        );
        drop(held);
        assert_eq!(
            limited(permits, QUEUE_DEADLINE, || 2).await.unwrap(),
            2,
            "served once a core is free"
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_minimum_cost() {
        let h = hash("Correct-horse-9".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("Correct-horse-9".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
