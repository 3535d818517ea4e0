//! The audit log. Every change in the store records its event through
//! [`record`] inside the change's own transaction: no change without its
//! event, no event without its change. Nothing here updates or deletes events
//! (the database refuses it too, with triggers).

use crate::row::Cols;
use crate::{Result, Store, Tx};
use rand::Rng;

/// Who makes a change, and through which request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account_id: Option<String>,
    /// 16 characters `[a-z0-9]`, also sent to the client as `X-Request-Id`.
    pub request_id: String,
    pub remote_host: String,
}

impl Actor {
    /// An operator command run on this machine (`locus admin`).
    pub fn operator_cli() -> Actor {
        Actor {
            account_id: None,
            request_id: locus_core::ids::random_lower36(16),
            remote_host: "locus-admin".to_owned(),
        }
    }
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub event_id: String,
    pub project_id: Option<String>,
    pub account_id: Option<String>,
    pub request_id: String,
    pub remote_host: String,
    pub event_type: String,
    pub created_at: i64,
    /// The event's parameters as stored JSON: pages of events pass it on
    /// without building a tree of every event.
    pub content: Box<serde_json::value::RawValue>,
}

impl AuditEvent {
    /// The event's parameters, parsed.
    pub fn content_json(&self) -> serde_json::Value {
        serde_json::from_str(self.content.get()).unwrap_or(serde_json::Value::Null)
    }
}

/// Filters for reading events; `after` is the keyset cursor (an event id).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub project_id: Option<String>,
    pub account_id: Option<String>,
    pub event_types: Vec<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub after: Option<String>,
    pub ascending: bool,
    pub limit: i64,
}

/// 56 digits that sort by time: microseconds since the epoch (20 digits),
/// then 36 random digits so that instances never collide.
fn event_id(now_micros: i64) -> String {
    let mut rng = rand::thread_rng();
    let random: String = (0..36).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
    format!("{:020}{random}", now_micros.max(0))
}

fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// Writes one event inside the caller's transaction.
pub(crate) async fn record(
    tx: &mut Tx,
    actor: &Actor,
    project_id: Option<&str>,
    event_type: &str,
    content: serde_json::Value,
) -> Result<()> {
    let micros = now_micros();
    tx.query(INSERT_EVENT)
        .bind(event_id(micros))
        // '' for none: on SQLite the project leads the table's key (0007_audit_clustered.sql).
        .bind(project_id.unwrap_or_default())
        .bind(actor.account_id.as_deref())
        .bind(&actor.request_id)
        .bind(&actor.remote_host)
        .bind(event_type)
        .bind(micros / 1000)
        .bind(content.to_string())
        .execute()
        .await?;
    Ok(())
}

const INSERT_EVENT: &str = "INSERT INTO audit_events \
    (event_id, project_id, account_id, request_id, remote_host, event_type, created_at, content) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

fn event_from_row(row: &impl Cols) -> Result<AuditEvent> {
    Ok(AuditEvent {
        event_id: row.text("event_id")?,
        project_id: row.opt_text("project_id")?.filter(|p| !p.is_empty()),
        account_id: row.opt_text("account_id")?,
        request_id: row.text("request_id")?,
        remote_host: row.text("remote_host")?,
        event_type: row.text("event_type")?,
        created_at: row.int("created_at")?,
        content: serde_json::value::RawValue::from_string(row.text("content")?)
            .map_err(|e| crate::StoreError::Corrupt(format!("audit event content: {e}")))?,
    })
}

const COLUMNS: &str = "event_id, project_id, account_id, request_id, remote_host, event_type, created_at, content";

impl Store {
    /// Records an event that is not part of a change (a denied request, a failed sign-in).
    pub async fn record_event(&self, actor: &Actor, project_id: Option<&str>, event_type: &str, content: serde_json::Value) -> Result<()> {
        self.write(|mut tx| async move {
            record(&mut tx, actor, project_id, event_type, content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Reads events by keyset: those after `query.after` in the asked order.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        // Placeholders are numbered in the order conditions are added.
        let mut conditions = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if let Some(p) = &query.project_id {
            conditions.push(format!("project_id = {}", next()));
            texts.push(p.clone());
        }
        if let Some(a) = &query.account_id {
            conditions.push(format!("account_id = {}", next()));
            texts.push(a.clone());
        }
        if !query.event_types.is_empty() {
            let list: Vec<String> = query.event_types.iter().map(|_| next()).collect();
            conditions.push(format!("event_type IN ({})", list.join(", ")));
            texts.extend(query.event_types.iter().cloned());
        }
        if let Some(after) = &query.after {
            conditions.push(format!("event_id {} {}", if query.ascending { ">" } else { "<" }, next()));
            texts.push(after.clone());
        }
        if let Some(from) = query.from {
            conditions.push(format!("created_at >= {}", next()));
            ints.push(from);
        }
        if let Some(to) = query.to {
            conditions.push(format!("created_at <= {}", next()));
            ints.push(to);
        }
        let limit = next();
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let order = if query.ascending { "ASC" } else { "DESC" };
        let sql = format!("SELECT {COLUMNS} FROM audit_events {where_clause} ORDER BY event_id {order} LIMIT {limit}");
        let mut q = self.read(&sql);
        for t in &texts {
            q = q.bind(t);
        }
        for i in &ints {
            q = q.bind(*i);
        }
        let rows = q.bind(query.limit).fetch_all().await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Removes events older than `cutoff` (Unix ms), for a configured retention.
    /// The cutoff only moves forward; the database refuses any other deletion.
    pub async fn purge_audit(&self, cutoff: i64) -> Result<u64> {
        self.write(|mut tx| async move {
            tx.query("UPDATE audit_retention SET cutoff = $1 WHERE id = 1 AND cutoff < $1")
                .bind(cutoff)
                .execute()
                .await?;
            let done = tx
                .query("DELETE FROM audit_events WHERE created_at < $1")
                .bind(cutoff)
                .execute()
                .await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// One event of a project.
    pub async fn audit_event(&self, project_id: &str, event_id: &str) -> Result<Option<AuditEvent>> {
        let row = self
            .read(&format!(
                "SELECT {COLUMNS} FROM audit_events WHERE project_id = $1 AND event_id = $2"
            ))
            .bind(project_id)
            .bind(event_id)
            .fetch_optional()
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_ids_are_56_digits_and_sort_by_time() {
        let a = super::event_id(1_700_000_000_000_000);
        let b = super::event_id(1_700_000_000_000_001);
        assert_eq!(a.len(), 56);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert!(a < b);
    }
}
