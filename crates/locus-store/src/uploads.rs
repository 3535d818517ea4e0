//! Upload links (api-contract.md §8.1). The bytes go to the object store; this
//! keeps who may send them (the hash of the link's secret, the expiry, the
//! project) and which parts arrived.

use crate::audit::{record, Actor};
use crate::row::Cols;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub project_id: String,
    pub created_by: Option<String>,
    pub secret_hash: String,
    /// 0 for a single upload, else the number of parts asked for.
    pub parts: i64,
    /// The part numbers of the finished upload, in order; None until then.
    pub part_list: Option<Vec<i64>>,
    pub bytes: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

impl Upload {
    pub fn is_multipart(&self) -> bool {
        self.parts > 0
    }
}

/// One received part (a single upload has part 1).
#[derive(Debug, Clone)]
pub struct UploadPart {
    pub part_number: i64,
    pub etag: String,
    pub bytes: i64,
}

const COLUMNS: &str = "id, project_id, created_by, secret_hash, parts, part_list, bytes, created_at, expires_at, completed_at";

fn upload_from_row(row: &impl Cols) -> Result<Upload> {
    let part_list = match row.opt_text("part_list")? {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("upload part list: {e}")))?),
        None => None,
    };
    Ok(Upload {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        created_by: row.opt_text("created_by")?,
        secret_hash: row.text("secret_hash")?,
        parts: row.int("parts")?,
        part_list,
        bytes: row.int("bytes")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        completed_at: row.opt_int("completed_at")?,
    })
}

impl Store {
    /// Records a new upload link (its id and secret hash made by the caller).
    pub async fn create_upload(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        secret_hash: &str,
        parts: i64,
        expires_at: i64,
    ) -> Result<Upload> {
        let now = crate::now_millis();
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO uploads (id, project_id, created_by, secret_hash, parts, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(project_id)
            .bind(actor.account_id.as_deref())
            .bind(secret_hash)
            .bind(parts)
            .bind(now)
            .bind(expires_at)
            .execute()
            .await?;
            record(
                &mut tx,
                actor,
                Some(project_id),
                "create_upload",
                serde_json::json!({"upload_id": id, "parts": parts}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.upload(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE id = $1");
        self.read(&sql)
            .bind(id)
            .fetch_optional()
            .await?
            .map(|r| upload_from_row(&r))
            .transpose()
    }

    pub async fn upload_parts(&self, id: &str) -> Result<Vec<UploadPart>> {
        let rows = self
            .read("SELECT part_number, etag, bytes FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
            .bind(id)
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UploadPart {
                    part_number: r.int("part_number")?,
                    etag: r.text("etag")?,
                    bytes: r.int("bytes")?,
                })
            })
            .collect()
    }

    /// Records a received part; a single upload (`complete`) is finished with
    /// it. Fails with `Conflict` when the upload was completed meanwhile.
    pub async fn put_upload_part(&self, id: &str, part: &UploadPart, complete: bool) -> Result<()> {
        let now = crate::now_millis();
        self.write(|mut tx| async move {
            let open = tx
                .query("SELECT COUNT(*) FROM uploads WHERE id = $1 AND completed_at IS NULL")
                .bind(id)
                .fetch_int()
                .await?;
            if open != 1 {
                return Err(StoreError::Conflict("upload (it is complete)"));
            }
            tx.query("DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
                .bind(id)
                .bind(part.part_number)
                .execute()
                .await?;
            tx.query("INSERT INTO upload_parts (upload_id, part_number, etag, bytes) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(part.part_number)
                .bind(&part.etag)
                .bind(part.bytes)
                .execute()
                .await?;
            if complete {
                tx.query("UPDATE uploads SET part_list = $1, bytes = $2, completed_at = $3 WHERE id = $4")
                    .bind(format!("[{}]", part.part_number))
                    .bind(part.bytes)
                    .bind(now)
                    .bind(id)
                    .execute()
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Finishes a multipart upload with these parts, in this order.
    pub async fn complete_upload(&self, id: &str, parts: &[i64], bytes: i64) -> Result<()> {
        let now = crate::now_millis();
        let list = serde_json::to_string(parts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let list = &list;
        self.write(|mut tx| async move {
            let n = tx
                .query("UPDATE uploads SET part_list = $1, bytes = $2, completed_at = $3 WHERE id = $4 AND completed_at IS NULL")
                .bind(list.as_str())
                .bind(bytes)
                .bind(now)
                .bind(id)
                .execute()
                .await?;
            if n != 1 {
                return Err(StoreError::Conflict("upload (it is complete)"));
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Forgets expired uploads; returns their ids, whose files the caller deletes.
    pub async fn expire_uploads(&self, now: i64) -> Result<Vec<(String, String)>> {
        self.write(|mut tx| async move {
            let rows = tx
                .query("DELETE FROM uploads WHERE expires_at <= $1 RETURNING id, project_id")
                .bind(now)
                .fetch_all()
                .await?;
            tx.commit().await?;
            rows.iter().map(|r| Ok((r.text("project_id")?, r.text("id")?))).collect()
        })
        .await
    }
}
