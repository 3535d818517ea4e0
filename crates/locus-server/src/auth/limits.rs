//! The brute-force limits, in one place. Counters live in the database (see
//! `locus_store::Throttle`), so every instance shares them. Locks are short:
//! they slow a guesser down to a few attempts a minute without locking the
//! account's owner out for more than `lock` at a time.

use crate::error::ApiError;
use locus_store::{Store, Throttle, ThrottleVerdict};
use std::time::Duration;

/// Tunable limits (`Settings::limits`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failed sign-ins per account before its lock.
    pub signin_per_account: i64,
    /// Failed sign-ins or token exchanges per client address before its lock.
    pub signin_per_address: i64,
    /// Sign-ups per client address within the window.
    pub signup_per_address: i64,
    /// Password-reset e-mails per account within the window.
    pub reset_per_account: i64,
    /// Password-reset requests per client address within the window.
    pub reset_per_address: i64,
    /// `GET /rest/accounts?email=` lookups per caller within the window.
    pub lookups_per_account: i64,
    pub window: Duration,
    pub lock: Duration,
    /// Invitations sent per project within `invitation_window`.
    pub invitations_per_project: i64,
    /// Invitations sent by one inviter within `invitation_window`.
    pub invitations_per_inviter: i64,
    pub invitation_window: Duration,
    /// Public-token exchanges per client address a minute (per instance).
    pub public_exchanges_per_minute: u32,
    /// Requests with public bearers per client address a minute (per instance).
    pub public_requests_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            signin_per_account: 10,
            signin_per_address: 50,
            signup_per_address: 20,
            reset_per_account: 3,
            reset_per_address: 20,
            lookups_per_account: 60,
            window: Duration::from_secs(15 * 60),
            lock: Duration::from_secs(5 * 60),
            invitations_per_project: 500,
            invitations_per_inviter: 200,
            invitation_window: Duration::from_secs(3600),
            public_exchanges_per_minute: 30,
            public_requests_per_minute: 600,
        }
    }
}

impl Limits {
    fn throttle(&self, scope: &'static str, max_hits: i64) -> Throttle {
        Throttle {
            scope,
            max_hits,
            window_ms: i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX),
            lock_ms: i64::try_from(self.lock.as_millis()).unwrap_or(i64::MAX),
        }
    }

    pub fn signin_account(&self) -> Throttle {
        self.throttle("signin.account", self.signin_per_account)
    }
    pub fn signup_address(&self) -> Throttle {
        self.throttle("signup.address", self.signup_per_address)
    }
    pub fn signin_address(&self) -> Throttle {
        self.throttle("signin.address", self.signin_per_address)
    }
    pub fn reset_account(&self) -> Throttle {
        self.throttle("reset.account", self.reset_per_account)
    }
    /// Verification mails per account: the reset limit (both mail a link to
    /// an address that may not want it).
    pub fn verification_account(&self) -> Throttle {
        self.throttle("verify.account", self.reset_per_account)
    }
    pub fn reset_address(&self) -> Throttle {
        self.throttle("reset.address", self.reset_per_address)
    }
    /// Invitation limits lock for the rest of their window.
    pub fn invitations_project(&self) -> Throttle {
        let window = i64::try_from(self.invitation_window.as_millis()).unwrap_or(i64::MAX);
        Throttle {
            scope: "invite.project",
            max_hits: self.invitations_per_project,
            window_ms: window,
            lock_ms: window,
        }
    }
    pub fn invitations_inviter(&self) -> Throttle {
        let window = i64::try_from(self.invitation_window.as_millis()).unwrap_or(i64::MAX);
        Throttle {
            scope: "invite.inviter",
            max_hits: self.invitations_per_inviter,
            window_ms: window,
            lock_ms: window,
        }
    }
    pub fn lookups(&self) -> Throttle {
        self.throttle("lookup.account", self.lookups_per_account)
    }
}

pub fn too_many(verdict: ThrottleVerdict) -> Result<(), ApiError> {
    match verdict {
        ThrottleVerdict::Open => Ok(()),
        ThrottleVerdict::Locked { retry_after_ms } => Err(ApiError::TooManyRequests {
            retry_after_secs: u64::try_from((retry_after_ms + 999) / 1000).unwrap_or(1).max(1),
        }),
    }
}

/// Refuses with 429 when any of the subjects is locked.
pub async fn ensure_open(store: &Store, checks: &[(Throttle, &str)]) -> Result<(), ApiError> {
    let now = locus_store::now_millis();
    for (throttle, subject) in checks {
        too_many(store.throttle_check(throttle, subject, now).await?)?;
    }
    Ok(())
}

/// Counts one attempt against each subject before it is checked, so that
/// parallel attempts cannot all pass a check made before any was counted:
/// refused with 429 when a subject is locked already (the attempt that
/// reaches the limit is still made, and locks the ones after it). On success
/// the caller takes the hits back ([`refund`]).
pub async fn count_attempt(store: &Store, checks: &[(Throttle, &str)]) -> Result<(), ApiError> {
    ensure_open(store, checks).await?;
    let now = locus_store::now_millis();
    for (throttle, subject) in checks {
        if let Some(locked) = store.throttle_attempt(throttle, subject, now).await? {
            too_many(locked)?;
        }
    }
    Ok(())
}

/// Takes back the hits of an attempt that succeeded.
pub async fn refund(store: &Store, checks: &[(Throttle, &str)]) -> Result<(), ApiError> {
    for (throttle, subject) in checks {
        store.throttle_refund(throttle, subject).await?;
    }
    Ok(())
}

/// Counts one failure against each subject.
pub async fn count_failure(store: &Store, checks: &[(Throttle, &str)]) -> Result<(), ApiError> {
    let now = locus_store::now_millis();
    for (throttle, subject) in checks {
        store.throttle_hit(throttle, subject, now).await?;
    }
    Ok(())
}
