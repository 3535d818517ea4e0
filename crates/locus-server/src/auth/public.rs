//! What public access needs beside the access check: per-address rate limits
//! on token exchanges and on public requests, and the per-token use counters
//! that go to the audit log once a window (an hour by default) instead of one
//! event per request.
//!
//! Both live in the process. A rate limit is a brake, not a grant: an attacker
//! spreading requests over several instances gets each instance's allowance,
//! which the operator sizes for that. Counters are written as one event per
//! token, window and instance, and flushed on shutdown too.

use crate::error::ApiError;
use locus_store::{Actor, Store};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` hits per key in each fixed window.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hits: Mutex<Windows>,
}

#[derive(Debug)]
struct Windows {
    by_key: HashMap<String, (Instant, u32)>,
    last_sweep: Instant,
}

/// Keys kept before idle ones are swept out, at most once a second (so that a
/// flood of addresses cannot make every hit pay for a sweep).
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            hits: Mutex::new(Windows {
                by_key: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Counts a hit for `key`, or answers 429 when its window is full.
    pub fn hit(&self, key: &str) -> Result<(), ApiError> {
        self.hit_at(key, Instant::now())
    }

    fn hit_at(&self, key: &str, now: Instant) -> Result<(), ApiError> {
        let mut hits = self.hits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if hits.by_key.len() >= SWEEP_AT && now.duration_since(hits.last_sweep) >= Duration::from_secs(1) {
            hits.by_key.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            hits.last_sweep = now;
        }
        let entry = hits.by_key.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(ApiError::TooManyRequests {
                retry_after_secs: left.as_secs().max(1),
            });
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Uses of public tokens, counted per token and window.
#[derive(Debug)]
pub struct UsageCounter {
    window_ms: i64,
    /// (token id, project id, window start) -> uses.
    counts: Mutex<HashMap<(String, String, i64), u64>>,
}

impl UsageCounter {
    pub fn new(window: Duration) -> UsageCounter {
        UsageCounter {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one use of `token_id` (an exchange or a request) at `now`.
    pub fn count(&self, token_id: &str, project_id: &str, now: i64) {
        let start = now - now.rem_euclid(self.window_ms);
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry((token_id.to_owned(), project_id.to_owned(), start)).or_insert(0) += 1;
    }

    /// Writes one `public_access` event per token for every window that ended
    /// by `now` (every window at all when `now` is `None`, at shutdown).
    pub async fn flush(&self, store: &Store, now: Option<i64>) -> Result<(), locus_store::StoreError> {
        let due: Vec<((String, String, i64), u64)> = {
            let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let ended: Vec<_> = counts
                .keys()
                .filter(|(_, _, start)| now.is_none_or(|now| start.saturating_add(self.window_ms) <= now))
                .cloned()
                .collect();
            ended.into_iter().filter_map(|k| counts.remove_entry(&k)).collect()
        };
        for ((token_id, project_id, start), uses) in due {
            let content = serde_json::json!({
                "public_token_id": token_id,
                "requests": uses,
                "from": crate::wire::timestamp(start),
                "to": crate::wire::timestamp(start.saturating_add(self.window_ms)),
            });
            let actor = Actor {
                account_id: None,
                request_id: locus_core::ids::random_lower36(16),
                remote_host: "public".to_owned(),
            };
            store.record_event(&actor, Some(&project_id), "public_access", content).await?;
        }
        Ok(())
    }
}

/// The public-access state of one server process.
#[derive(Debug)]
pub struct PublicAccess {
    pub exchanges: RateLimiter,
    pub requests: RateLimiter,
    pub usage: UsageCounter,
}

impl PublicAccess {
    pub fn new(limits: &super::limits::Limits, usage_window: Duration) -> PublicAccess {
        PublicAccess {
            exchanges: RateLimiter::new(limits.public_exchanges_per_minute, Duration::from_secs(60)),
            requests: RateLimiter::new(limits.public_requests_per_minute, Duration::from_secs(60)),
            usage: UsageCounter::new(usage_window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_answers_429_per_key() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        assert!(matches!(limiter.hit("a"), Err(ApiError::TooManyRequests { retry_after_secs }) if retry_after_secs >= 1));
        assert!(limiter.hit("b").is_ok(), "another address has its own window");
    }

    #[test]
    fn idle_addresses_are_swept_out() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..SWEEP_AT {
            assert!(limiter.hit_at(&format!("10.0.{}.{}", i / 256, i % 256), start).is_ok());
        }
        let later = start + Duration::from_secs(61);
        assert!(limiter.hit_at("fresh", later).is_ok());
        let kept = limiter.hits.lock().unwrap().by_key.len();
        assert_eq!(kept, 1, "only the live window stays");
    }

    #[test]
    fn a_new_window_starts_afresh() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        let start = Instant::now();
        assert!(limiter.hit_at("a", start).is_ok());
        assert!(limiter.hit_at("a", start + Duration::from_secs(59)).is_err());
        assert!(limiter.hit_at("a", start + Duration::from_secs(60)).is_ok());
    }
}
