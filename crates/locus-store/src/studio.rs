//! What people keep of a project besides its metadata: Studio shares (a view
//! state anyone in the project can open, until the view's hierarchy changes),
//! bookmarks (private named states) and stories. Every change is audited.

use crate::audit::record;
use crate::metadata::Author;
use crate::row::Cols;
use crate::{Actor, Page, PageRequest, Result, Store, StoreError};
use locus_core::metadata::MdType;

#[derive(Debug, Clone)]
pub struct Share {
    pub id: String,
    pub project_id: String,
    pub view_id: String,
    pub view_name: String,
    pub state: serde_json::Value,
    pub created_by_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Bookmark {
    pub id: String,
    pub project_id: String,
    pub account_id: String,
    pub name: String,
    pub title: String,
    pub state: serde_json::Value,
    pub created_at: i64,
    pub modified_at: i64,
}

#[derive(Debug, Clone)]
pub struct Story {
    pub id: String,
    pub project_id: String,
    pub title: String,
    pub description: Option<String>,
    pub blocks: serde_json::Value,
    pub version: i64,
    pub created_by: String,
    pub created_at: i64,
    pub modified_by: String,
    pub modified_at: i64,
}

fn json(row: &impl Cols, col: &str) -> Result<serde_json::Value> {
    serde_json::from_str(&row.text(col)?).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn bookmark_from_row(row: &impl Cols) -> Result<Bookmark> {
    Ok(Bookmark {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        account_id: row.text("account_id")?,
        name: row.text("name")?,
        title: row.text("title")?,
        state: json(row, "state")?,
        created_at: row.int("created_at")?,
        modified_at: row.int("modified_at")?,
    })
}

fn story_from_row(row: &impl Cols) -> Result<Story> {
    Ok(Story {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        title: row.text("title")?,
        description: row.opt_text("description")?,
        blocks: json(row, "blocks")?,
        version: row.int("version")?,
        created_by: row.text("created_by")?,
        created_at: row.int("created_at")?,
        modified_by: row.text("modified_by")?,
        modified_at: row.int("modified_at")?,
    })
}

const BOOKMARK_COLUMNS: &str = "id, project_id, account_id, name, title, state, created_at, modified_at";
const STORY_COLUMNS: &str = "id, project_id, title, description, blocks, version, created_by, created_at, modified_by, modified_at";

impl Store {
    /// Shares a state of view `view_id`. The share lives until the view or
    /// any object under it (but datasets and exports) changes or goes.
    pub async fn create_share(
        &self,
        actor: &Actor,
        project_id: &str,
        view_id: &str,
        account_id: &str,
        state: &serde_json::Value,
    ) -> Result<Share> {
        let share_id = locus_core::ids::random_lower36(16);
        let id = share_id.as_str();
        let now = crate::now_millis();
        let view_name = self
            .write(|mut tx| async move {
                let view_name = tx
                    .query("SELECT name FROM md_objects WHERE project_id = $1 AND id = $2 AND md_type = 'views'")
                    .bind(project_id)
                    .bind(view_id)
                    .fetch_optional()
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .text("name")?;
                tx.query(
                    "INSERT INTO md_shares (project_id, id, view_id, state, created_by_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(project_id)
                .bind(id)
                .bind(view_id)
                .bind(state.to_string())
                .bind(account_id)
                .bind(now)
                .execute()
                .await?;
                // The view's hierarchy: everything reachable through links, but datasets and exports.
                let mut hierarchy = vec![view_id.to_owned()];
                let mut next = 0;
                while let Some(from) = hierarchy.get(next).cloned() {
                    next += 1;
                    let rows = tx
                    .query(
                        "SELECT l.to_id, o.md_type FROM md_links l JOIN md_objects o ON o.project_id = l.project_id AND o.id = l.to_id \
                     WHERE l.project_id = $1 AND l.from_id = $2",
                    )
                    .bind(project_id)
                    .bind(&from)
                    .fetch_all()
                    .await?;
                    for row in rows {
                        let to = row.text("to_id")?;
                        let md_type = row.text("md_type")?;
                        let outside = [MdType::Datasets.segment(), MdType::Exports.segment()].contains(&md_type.as_str());
                        if !outside && !hierarchy.contains(&to) {
                            hierarchy.push(to);
                        }
                    }
                }
                for object_id in &hierarchy {
                    tx.query("INSERT INTO md_share_objects (project_id, share_id, object_id) VALUES ($1, $2, $3)")
                        .bind(project_id)
                        .bind(id)
                        .bind(object_id)
                        .execute()
                        .await?;
                }
                let content = serde_json::json!({"share_id": id, "view": view_name, "objects": hierarchy.len()});
                record(&mut tx, actor, Some(project_id), "create_share", content).await?;
                tx.commit().await?;
                Ok(view_name)
            })
            .await?;
        Ok(Share {
            id: share_id,
            project_id: project_id.to_owned(),
            view_id: view_id.to_owned(),
            view_name,
            state: state.clone(),
            created_by_id: Some(account_id.to_owned()),
            created_at: now,
        })
    }

    /// A live share.
    pub async fn share(&self, project_id: &str, id: &str) -> Result<Option<Share>> {
        let row = self
            .read(
                "SELECT s.id, s.project_id, s.view_id, o.name AS view_name, s.state, s.created_by_id, s.created_at \
             FROM md_shares s JOIN md_objects o ON o.project_id = s.project_id AND o.id = s.view_id WHERE s.project_id = $1 AND s.id = $2",
            )
            .bind(project_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| {
            Ok(Share {
                id: r.text("id")?,
                project_id: r.text("project_id")?,
                view_id: r.text("view_id")?,
                view_name: r.text("view_name")?,
                state: json(&r, "state")?,
                created_by_id: r.opt_text("created_by_id")?,
                created_at: r.int("created_at")?,
            })
        })
        .transpose()
    }

    pub async fn create_bookmark(
        &self,
        actor: &Actor,
        project_id: &str,
        account_id: &str,
        name: &str,
        title: &str,
        state: &serde_json::Value,
    ) -> Result<Bookmark> {
        let new_id = locus_core::ids::random_lower36(16);
        let id = &new_id;
        let now = crate::now_millis();
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO bookmarks (project_id, id, account_id, name, title, state, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(project_id)
            .bind(id)
            .bind(account_id)
            .bind(name)
            .bind(title)
            .bind(state.to_string())
            .bind(now)
            .execute()
            .await
            .map_err(|e| StoreError::unique(e, "name"))?;
            record(
                &mut tx,
                actor,
                Some(project_id),
                "create_bookmark",
                serde_json::json!({"id": id, "name": name}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok(Bookmark {
            id: new_id.clone(),
            project_id: project_id.to_owned(),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            title: title.to_owned(),
            state: state.clone(),
            created_at: now,
            modified_at: now,
        })
    }

    /// The account's bookmarks in the project, by name.
    pub async fn bookmarks(&self, project_id: &str, account_id: &str) -> Result<Vec<Bookmark>> {
        let rows = self
            .read(&format!(
                "SELECT {BOOKMARK_COLUMNS} FROM bookmarks WHERE project_id = $1 AND account_id = $2 ORDER BY name"
            ))
            .bind(project_id)
            .bind(account_id)
            .fetch_all()
            .await?;
        rows.iter().map(bookmark_from_row).collect()
    }

    pub async fn bookmark(&self, project_id: &str, account_id: &str, id: &str) -> Result<Option<Bookmark>> {
        let row = self
            .read(&format!(
                "SELECT {BOOKMARK_COLUMNS} FROM bookmarks WHERE project_id = $1 AND account_id = $2 AND id = $3"
            ))
            .bind(project_id)
            .bind(account_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(bookmark_from_row).transpose()
    }

    pub async fn update_bookmark(
        &self,
        actor: &Actor,
        project_id: &str,
        account_id: &str,
        id: &str,
        title: &str,
        state: &serde_json::Value,
    ) -> Result<Bookmark> {
        self.write(|mut tx| async move {
            let done = tx
                .query(
                    "UPDATE bookmarks SET title = $1, state = $2, modified_at = $3 WHERE project_id = $4 AND account_id = $5 AND id = $6",
                )
                .bind(title)
                .bind(state.to_string())
                .bind(crate::now_millis())
                .bind(project_id)
                .bind(account_id)
                .bind(id)
                .execute()
                .await?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            record(&mut tx, actor, Some(project_id), "update_bookmark", serde_json::json!({"id": id})).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.bookmark(project_id, account_id, id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn delete_bookmark(&self, actor: &Actor, project_id: &str, account_id: &str, id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let sql = "DELETE FROM bookmarks WHERE project_id = $1 AND account_id = $2 AND id = $3";
            if tx.query(sql).bind(project_id).bind(account_id).bind(id).execute().await? == 0 {
                return Err(StoreError::NotFound);
            }
            record(&mut tx, actor, Some(project_id), "delete_bookmark", serde_json::json!({"id": id})).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn create_story(
        &self,
        actor: &Actor,
        project_id: &str,
        author: Author<'_>,
        title: &str,
        description: Option<&str>,
        blocks: &serde_json::Value,
    ) -> Result<Story> {
        let new_id = locus_core::ids::random_lower36(16);
        let id = &new_id;
        let now = crate::now_millis();
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO stories (project_id, id, title, description, blocks, version, created_by_id, created_by, created_at, modified_by, modified_at) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $7, $8)",
            )
            .bind(project_id)
            .bind(id)
            .bind(title)
            .bind(description)
            .bind(blocks.to_string())
            .bind(author.account_id)
            .bind(author.email)
            .bind(now)
            .execute()
            .await?;
            record(
                &mut tx,
                actor,
                Some(project_id),
                "create_story",
                serde_json::json!({"id": id, "title": title, "version": 1}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.story(project_id, id).await?.ok_or(StoreError::NotFound)
    }

    /// The project's stories, by title.
    pub async fn stories(&self, project_id: &str, page: PageRequest) -> Result<Page<Story>> {
        let total: i64 = self
            .read("SELECT COUNT(*) FROM stories WHERE project_id = $1")
            .bind(project_id)
            .fetch_int()
            .await?;
        let rows = self
            .read(&format!(
                "SELECT {STORY_COLUMNS} FROM stories WHERE project_id = $1 ORDER BY title, id LIMIT $2 OFFSET $3"
            ))
            .bind(project_id)
            .bind(page.size)
            .bind(page.offset())
            .fetch_all()
            .await?;
        Ok(Page {
            items: rows.iter().map(story_from_row).collect::<Result<_>>()?,
            total,
        })
    }

    pub async fn story(&self, project_id: &str, id: &str) -> Result<Option<Story>> {
        let row = self
            .read(&format!("SELECT {STORY_COLUMNS} FROM stories WHERE project_id = $1 AND id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.as_ref().map(story_from_row).transpose()
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn update_story(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        expected_version: i64,
        author: Author<'_>,
        title: &str,
        description: Option<&str>,
        blocks: &serde_json::Value,
    ) -> Result<Story> {
        self.write(|mut tx| async move {
            let current = tx
                .query("SELECT version FROM stories WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(id)
                .fetch_optional()
                .await?
                .ok_or(StoreError::NotFound)?
                .int("version")?;
            if current != expected_version {
                return Err(StoreError::VersionMismatch { current });
            }
            tx.query(
                "UPDATE stories SET title = $1, description = $2, blocks = $3, version = version + 1, modified_by = $4, modified_at = $5 \
                 WHERE project_id = $6 AND id = $7",
            )
            .bind(title)
            .bind(description)
            .bind(blocks.to_string())
            .bind(author.email)
            .bind(crate::now_millis())
            .bind(project_id)
            .bind(id)
            .execute()
            .await?;
            record(
                &mut tx,
                actor,
                Some(project_id),
                "update_story",
                serde_json::json!({"id": id, "title": title, "version": current + 1}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.story(project_id, id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn delete_story(&self, actor: &Actor, project_id: &str, id: &str) -> Result<()> {
        self.write(|mut tx| async move {
            let sql = "DELETE FROM stories WHERE project_id = $1 AND id = $2";
            if tx.query(sql).bind(project_id).bind(id).execute().await? == 0 {
                return Err(StoreError::NotFound);
            }
            record(&mut tx, actor, Some(project_id), "delete_story", serde_json::json!({"id": id})).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
