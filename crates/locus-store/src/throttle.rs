//! Fixed-window failure counters with a short lock, stored in the database so
//! that every instance sees the same counts (an attacker cannot spread guesses
//! over instances). A lock never outlives `lock_ms` from the failure that set
//! it, so nobody can lock a victim out for longer than that at a time.

use crate::row::Cols;
use crate::{Result, Store};

/// One limit: at most `max_hits` within `window_ms`; reaching it locks the
/// subject for `lock_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub scope: &'static str,
    pub max_hits: i64,
    pub window_ms: i64,
    pub lock_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleVerdict {
    Open,
    /// Locked for this many more milliseconds.
    Locked {
        retry_after_ms: i64,
    },
}

impl Store {
    /// Whether `subject` is locked under `throttle` right now.
    pub async fn throttle_check(&self, throttle: &Throttle, subject: &str, now: i64) -> Result<ThrottleVerdict> {
        let row = self
            .read("SELECT locked_until FROM throttles WHERE scope = $1 AND subject = $2")
            .bind(throttle.scope)
            .bind(subject)
            .fetch_optional()
            .await?;
        let locked_until: i64 = match row {
            Some(row) => row.int("locked_until")?,
            None => 0,
        };
        Ok(if locked_until > now {
            ThrottleVerdict::Locked {
                retry_after_ms: locked_until - now,
            }
        } else {
            ThrottleVerdict::Open
        })
    }

    /// Counts one hit against `subject`; returns the verdict after counting.
    /// Hits while locked are not counted, so hammering cannot extend a lock.
    pub async fn throttle_hit(&self, throttle: &Throttle, subject: &str, now: i64) -> Result<ThrottleVerdict> {
        Ok(self.throttle_count(throttle, subject, now).await?.1)
    }

    /// Counts one attempt against `subject` before it is made: `None` when it
    /// was counted (the subject was not locked; this attempt may go ahead,
    /// even when it is the one that reaches the limit and sets the lock),
    /// the lock's verdict when the subject was locked already. Attempts are
    /// counted one after the other, so that of any number made at once at
    /// most `max_hits` go ahead per window.
    pub async fn throttle_attempt(&self, throttle: &Throttle, subject: &str, now: i64) -> Result<Option<ThrottleVerdict>> {
        let (counted, verdict) = self.throttle_count(throttle, subject, now).await?;
        Ok((!counted).then_some(verdict))
    }

    /// Counts a hit: whether it was counted, and the verdict after it.
    async fn throttle_count(&self, throttle: &Throttle, subject: &str, now: i64) -> Result<(bool, ThrottleVerdict)> {
        self.write(|mut tx| async move {
            // The row must exist before it can be locked: on PostgreSQL, concurrent first
            // hits would otherwise each insert a count of one. The row lock then makes
            // concurrent hits count one after the other (SQLite's BEGIN IMMEDIATE already does).
            tx.query(
                "INSERT INTO throttles (scope, subject, window_start, hits) VALUES ($1, $2, $3, 0) ON CONFLICT (scope, subject) DO NOTHING",
            )
            .bind(throttle.scope)
            .bind(subject)
            .bind(now)
            .execute()
            .await?;
            let lock = if self.backend == crate::Backend::Postgres {
                " FOR UPDATE"
            } else {
                ""
            };
            let row = tx
                .query(&format!(
                    "SELECT window_start, hits, locked_until FROM throttles WHERE scope = $1 AND subject = $2{lock}"
                ))
                .bind(throttle.scope)
                .bind(subject)
                .fetch_optional()
                .await?;
            let (window_start, hits, locked_until) = match &row {
                Some(r) => (r.int("window_start")?, r.int("hits")?, r.int("locked_until")?),
                None => (now, 0, 0),
            };
            if locked_until > now {
                tx.commit().await?;
                return Ok((
                    false,
                    ThrottleVerdict::Locked {
                        retry_after_ms: locked_until - now,
                    },
                ));
            }
            let (window_start, hits) = if now - window_start >= throttle.window_ms {
                (now, 1)
            } else {
                (window_start, hits + 1)
            };
            let (hits, locked_until) = if hits >= throttle.max_hits {
                (0, now + throttle.lock_ms)
            } else {
                (hits, 0)
            };
            tx.query(
                "INSERT INTO throttles (scope, subject, window_start, hits, locked_until) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (scope, subject) DO UPDATE SET window_start = $3, hits = $4, locked_until = $5",
            )
            .bind(throttle.scope)
            .bind(subject)
            .bind(window_start)
            .bind(hits)
            .bind(locked_until)
            .execute()
            .await?;
            tx.commit().await?;
            let verdict = if locked_until > now {
                ThrottleVerdict::Locked {
                    retry_after_ms: locked_until - now,
                }
            } else {
                ThrottleVerdict::Open
            };
            Ok((true, verdict))
        })
        .await
    }

    /// Takes back one hit counted against `subject` (an attempt counted before
    /// it was checked, which then succeeded). A lock already set stays.
    pub async fn throttle_refund(&self, throttle: &Throttle, subject: &str) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query("UPDATE throttles SET hits = hits - 1 WHERE scope = $1 AND subject = $2 AND hits > 0")
                .bind(throttle.scope)
                .bind(subject)
                .execute()
                .await?;
            tx.commit().await
        })
        .await
    }

    /// Forgets `subject`'s failures (after a successful sign-in).
    pub async fn throttle_clear(&self, throttle: &Throttle, subject: &str) -> Result<()> {
        self.write(|mut tx| async move {
            tx.query("DELETE FROM throttles WHERE scope = $1 AND subject = $2")
                .bind(throttle.scope)
                .bind(subject)
                .execute()
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Deletes what can no longer matter: expired sessions, used or expired reset
    /// links, and throttle counters idle for a day. Run by the maintenance task.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let day_ago = now.saturating_sub(24 * 3600 * 1000);
        let mut removed = 0;
        self.write(|mut tx| async move {
            for (sql, cutoff) in [
                ("DELETE FROM sessions WHERE expires_at <= $1", now),
                ("DELETE FROM public_sessions WHERE expires_at <= $1", now),
                ("DELETE FROM password_resets WHERE expires_at <= $1 OR used_at IS NOT NULL", now),
                ("DELETE FROM throttles WHERE locked_until <= $1 AND window_start <= $1", day_ago),
            ] {
                removed += tx.query(sql).bind(cutoff).execute().await?;
            }
            tx.commit().await?;
            Ok(removed)
        })
        .await
    }
}
