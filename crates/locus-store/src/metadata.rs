//! Metadata objects and the links between them. A link is resolved to its
//! target's id when the object is written: a missing target refuses the write,
//! and an object something links to cannot be deleted (nor renamed, since links
//! by name would break). A dataset property's `foreignKey` is such a link too,
//! so a dataset another one names as a foreign key cannot be deleted either
//! (api-contract.md §9.5: referential integrity is enforced); what it needs of
//! its target (`LinkNeeds`: a dwh dataset) is checked when the link is
//! resolved, and again when the target changes. Any change to an object ends
//! the Studio shares whose view hierarchy contains it. Every change records
//! its audit event.

use crate::audit::record;
use crate::public::REACHABLE;
use crate::row::Cols;
use crate::{Actor, Page, PageRequest, Result, Store, StoreError, Tx};
use locus_core::metadata::{LinkNeeds, LinkTarget, MdLink, MdType};

/// A stored metadata object.
#[derive(Debug, Clone)]
pub struct MdObject {
    pub project_id: String,
    pub id: String,
    pub md_type: MdType,
    pub name: String,
    pub title: Option<String>,
    /// The object's JSON text as sent, without the keys the server sets (kept
    /// as text: a list answers it as it is, without parsing it).
    pub body: String,
    pub version: i64,
    /// Created without `md.create_all`: its creator owns it (a personal view).
    pub personal: bool,
    pub created_by_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub modified_by: String,
    pub modified_at: i64,
}

impl MdObject {
    /// The object's JSON, parsed.
    pub fn body_json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).map_err(|e| StoreError::Corrupt(format!("metadata body: {e}")))
    }
}

/// An object to write, already validated; `links` are the ones it makes.
#[derive(Debug)]
pub struct MdWrite<'a> {
    pub md_type: MdType,
    pub name: &'a str,
    pub title: Option<&'a str>,
    pub body: &'a serde_json::Value,
    pub links: &'a [MdLink],
}

/// Who writes: the account and the e-mail `accessInfo` shows.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    pub account_id: &'a str,
    pub email: &'a str,
}

/// How an object is named in a request: `/md/T/{idOrName}` tries the id first.
#[derive(Debug, Clone, Copy)]
pub enum MdKey<'a> {
    Id(&'a str),
    Name(&'a str),
    IdOrName(&'a str),
}

/// Which personal objects a list or read may show.
#[derive(Debug, Clone, Copy)]
pub enum Visibility<'a> {
    /// Every object (members with `md.update_all`, who may publish personal views).
    All,
    /// Shared views, default views, and this account's own personal views.
    /// Only views are hidden: the personal dashboard of a published view is
    /// needed by whoever opens the view.
    OwnPersonal(&'a str),
    /// A public token that names its views: only those views and the objects
    /// they reach through links (`public::REACHABLE`).
    Reachable { token_id: &'a str },
}

const MD_COLUMNS: &str = "o.project_id, o.id, o.md_type, o.name, o.title, o.body, o.version, o.personal, \
     o.created_by_id, o.created_by, o.created_at, o.modified_by, o.modified_at";

fn md_from_row(row: &impl Cols) -> Result<MdObject> {
    let md_type = row.text("md_type")?;
    let body = row.text("body")?;
    if !body.starts_with('{') {
        return Err(StoreError::Corrupt("metadata body is not a JSON object".into()));
    }
    Ok(MdObject {
        project_id: row.text("project_id")?,
        id: row.text("id")?,
        md_type: MdType::from_segment(&md_type).ok_or_else(|| StoreError::Corrupt(format!("metadata type {md_type:?}")))?,
        name: row.text("name")?,
        title: row.opt_text("title")?,
        body,
        version: row.int("version")?,
        personal: row.int("personal")? != 0,
        created_by_id: row.opt_text("created_by_id")?,
        created_by: row.text("created_by")?,
        created_at: row.int("created_at")?,
        modified_by: row.text("modified_by")?,
        modified_at: row.int("modified_at")?,
    })
}

/// `projectSettings.content.defaultViews` as the store sees it: the links
/// from the settings object whose path starts so, with their order. (CROSS
/// JOIN makes SQLite start from the settings object and read only its links;
/// PostgreSQL plans it as any inner join.)
const DEFAULT_VIEWS: &str = "SELECT l.to_id, l.ordinal FROM md_objects s CROSS JOIN md_links l \
     WHERE s.project_id = $1 AND s.md_type = 'projectSettings' AND l.project_id = s.project_id AND l.from_id = s.id \
     AND l.path LIKE 'content.defaultViews%'";

impl Store {
    /// Creates an object. `personal` when the author created it through a
    /// `md.<type>.create` permission rather than `md.create_all`.
    pub async fn create_md(
        &self,
        actor: &Actor,
        project_id: &str,
        author: Author<'_>,
        write: &MdWrite<'_>,
        personal: bool,
    ) -> Result<MdObject> {
        self.write(|mut tx| async move {
            let created = insert_md(&mut tx, actor, project_id, author, write, personal).await?;
            insert_links(&mut tx, project_id, &created.id, write.links).await?;
            tx.commit().await?;
            Ok(created)
        })
        .await
    }

    /// Saves a Studio state as a new view: personal, or a project view that
    /// is appended to projectSettings.defaultViews in the same transaction
    /// (`NotFound` when the project has no projectSettings).
    pub async fn save_view(
        &self,
        actor: &Actor,
        project_id: &str,
        author: Author<'_>,
        write: &MdWrite<'_>,
        project_view: bool,
    ) -> Result<MdObject> {
        self.write(|mut tx| async move {
            let created = insert_md(&mut tx, actor, project_id, author, write, !project_view).await?;
            insert_links(&mut tx, project_id, &created.id, write.links).await?;
            if project_view {
                let settings = fetch_settings(&mut tx, project_id).await?.ok_or(StoreError::NotFound)?;
                let mut body = settings.body_json()?;
                let link = format!(
                    "/rest/projects/{}/md/views?name={}",
                    locus_core::metadata::PROJECT_PLACEHOLDER,
                    created.name
                );
                let defaults = body
                    .get_mut("content")
                    .and_then(serde_json::Value::as_object_mut)
                    .ok_or_else(|| StoreError::Corrupt("projectSettings without content".into()))?
                    .entry("defaultViews")
                    .or_insert_with(|| serde_json::json!([]));
                let list = defaults
                    .as_array_mut()
                    .ok_or_else(|| StoreError::Corrupt("defaultViews is not a list".into()))?;
                let position = list.len();
                list.push(serde_json::Value::String(link));
                let ordinal = tx
                    .query("SELECT MAX(ordinal) AS last FROM md_links WHERE project_id = $1 AND from_id = $2")
                    .bind(project_id)
                    .bind(&settings.id)
                    .fetch_one()
                    .await?
                    .opt_int("last")?;
                tx.query("INSERT INTO md_links (project_id, from_id, to_id, path, ordinal) VALUES ($1, $2, $3, $4, $5)")
                    .bind(project_id)
                    .bind(&settings.id)
                    .bind(&created.id)
                    .bind(format!("content.defaultViews[{position}]"))
                    .bind(ordinal.map_or(0, |o| o + 1))
                    .execute()
                    .await?;
                tx.query("UPDATE md_objects SET body = $1, version = version + 1, modified_by = $2, modified_at = $3 WHERE project_id = $4 AND id = $5")
                    .bind(body.to_string())
                    .bind(author.email)
                    .bind(crate::now_millis())
                    .bind(project_id)
                    .bind(&settings.id)
                    .execute()
                    .await?;
                let content = event(MdType::ProjectSettings, &settings.name, &settings.id, settings.version + 1);
                record(&mut tx, actor, Some(project_id), "update_metadata", content).await?;
            }
            tx.commit().await?;
            Ok(created)
        })
        .await
    }
}

async fn fetch_settings(tx: &mut Tx, project_id: &str) -> Result<Option<MdObject>> {
    let row = tx
        .query(&format!(
            "SELECT {MD_COLUMNS} FROM md_objects o WHERE o.project_id = $1 AND o.md_type = 'projectSettings'"
        ))
        .bind(project_id)
        .fetch_optional()
        .await?;
    row.as_ref().map(md_from_row).transpose()
}

/// Inserts an object and its event; the caller inserts its links.
async fn insert_md(
    tx: &mut Tx,
    actor: &Actor,
    project_id: &str,
    author: Author<'_>,
    write: &MdWrite<'_>,
    personal: bool,
) -> Result<MdObject> {
    let now = crate::now_millis();
    let id = locus_core::ids::random_lower36(16);
    if write.md_type == MdType::ProjectSettings {
        let existing = tx
            .query("SELECT COUNT(*) AS n FROM md_objects WHERE project_id = $1 AND md_type = 'projectSettings'")
            .bind(project_id)
            .fetch_one()
            .await?
            .int("n")?;
        if existing > 0 {
            return Err(StoreError::Conflict("projectSettings"));
        }
    }
    tx.query(
            "INSERT INTO md_objects (project_id, id, md_type, name, title, body, version, personal, created_by_id, created_by, created_at, modified_by, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $9, $10)",
        )
        .bind(project_id)
        .bind(&id)
        .bind(write.md_type.segment())
        .bind(write.name)
        .bind(write.title)
        .bind(write.body.to_string())
        .bind(i64::from(personal))
        .bind(author.account_id)
        .bind(author.email)
        .bind(now)
        .execute()
        .await
        .map_err(|e| StoreError::unique(e, "name"))?;
    record(
        tx,
        actor,
        Some(project_id),
        "create_metadata",
        event(write.md_type, write.name, &id, 1),
    )
    .await?;
    fetch(tx, project_id, MdKey::Id(&id), write.md_type)
        .await?
        .ok_or(StoreError::NotFound)
}

impl Store {
    /// Replaces object `id` if it is still at `expected_version`.
    pub async fn update_md(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        expected_version: i64,
        author: Author<'_>,
        write: &MdWrite<'_>,
    ) -> Result<MdObject> {
        self.write(|mut tx| async move {
            let current = fetch(&mut tx, project_id, MdKey::Id(id), write.md_type)
                .await?
                .ok_or(StoreError::NotFound)?;
            if current.version != expected_version {
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            let updated = replace_md(&mut tx, actor, project_id, &current, author, write).await?;
            insert_links(&mut tx, project_id, id, write.links).await?;
            check_links_to(&mut tx, project_id, id, write).await?;
            tx.commit().await?;
            Ok(updated)
        })
        .await
    }

    /// Deletes an object nothing links to.
    pub async fn delete_md(&self, actor: &Actor, project_id: &str, md_type: MdType, id: &str) -> Result<MdObject> {
        self.write(|mut tx| async move {
            let current = fetch(&mut tx, project_id, MdKey::Id(id), md_type)
                .await?
                .ok_or(StoreError::NotFound)?;
            if let Some(by) = first_referrer(&mut tx, project_id, id).await? {
                return Err(StoreError::Referenced { by });
            }
            end_shares_of(&mut tx, project_id, id).await?;
            tx.query("DELETE FROM md_objects WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(id)
                .execute()
                .await?;
            record(
                &mut tx,
                actor,
                Some(project_id),
                "delete_metadata",
                event(md_type, &current.name, id, current.version),
            )
            .await?;
            tx.commit().await?;
            Ok(current)
        })
        .await
    }

    /// One object of `md_type`, by id or name.
    pub async fn md_object(&self, project_id: &str, md_type: MdType, key: MdKey<'_>) -> Result<Option<MdObject>> {
        for (sql, value) in lookups(key) {
            let row = self
                .read(&sql)
                .bind(project_id)
                .bind(md_type.segment())
                .bind(value)
                .fetch_optional()
                .await?;
            if let Some(row) = row {
                return md_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// Whether a personal object may be shown to `visibility`: its owner, or
    /// anyone once it is a default view.
    pub async fn md_visible(&self, object: &MdObject, visibility: Visibility<'_>) -> Result<bool> {
        match visibility {
            Visibility::All => Ok(true),
            Visibility::OwnPersonal(_) if !object.personal || object.md_type != MdType::Views => Ok(true),
            Visibility::OwnPersonal(account) if object.created_by_id.as_deref() == Some(account) => Ok(true),
            Visibility::Reachable { token_id } => {
                let sql = format!("{REACHABLE} SELECT 0 AS defaults, COUNT(*) AS total FROM reach WHERE id = $3");
                let (_, n) = self.md_counts(&sql, &[&object.project_id, token_id, &object.id]).await?;
                Ok(n > 0)
            }
            Visibility::OwnPersonal(_) => {
                let defaults = self.read(DEFAULT_VIEWS).bind(&object.project_id).fetch_all().await?;
                Ok(defaults.iter().any(|r| r.text("to_id").is_ok_and(|id| id == object.id)))
            }
        }
    }

    /// A page of objects of `md_type`. Views come as the project page shows
    /// them: default views first in defaultViews order, then the rest by title;
    /// other types by name.
    pub async fn md_list(
        &self,
        project_id: &str,
        md_type: MdType,
        visibility: Visibility<'_>,
        page: PageRequest,
    ) -> Result<Page<MdObject>> {
        if let Visibility::Reachable { token_id } = visibility {
            let within = "FROM md_objects o WHERE o.project_id = $1 AND o.md_type = $3 AND o.id IN (SELECT id FROM reach)";
            let count = format!("{REACHABLE} SELECT 0 AS defaults, COUNT(*) AS total {within}");
            let rows = format!("{REACHABLE} SELECT {MD_COLUMNS} {within} ORDER BY o.title, o.name LIMIT $4 OFFSET $5");
            let params = [project_id, token_id, md_type.segment()];
            let (_, total) = self.md_counts(&count, &params).await?;
            let items = self.md_rows(&rows, &params, page.size, page.offset()).await?;
            return Ok(Page { items, total });
        }
        if md_type != MdType::Views {
            // Every other list is one indexed range: nothing else is personal to someone.
            let count = "SELECT 0 AS defaults, COUNT(*) AS total FROM md_objects o WHERE o.project_id = $1 AND o.md_type = $2";
            let rows = format!(
                "SELECT {MD_COLUMNS} FROM md_objects o WHERE o.project_id = $1 AND o.md_type = $2 ORDER BY o.name LIMIT $3 OFFSET $4"
            );
            let (_, total) = self.md_counts(count, &[project_id, md_type.segment()]).await?;
            let items = self
                .md_rows(&rows, &[project_id, md_type.segment()], page.size, page.offset())
                .await?;
            return Ok(Page { items, total });
        }
        // Views: first the default views in their order (a handful), then the
        // others the caller may see, by title, each part one indexed read.
        let viewer = match visibility {
            Visibility::All | Visibility::Reachable { .. } => "",
            Visibility::OwnPersonal(account) => account,
        };
        let defaults = format!("SELECT d.to_id, MIN(d.ordinal) AS position FROM ({DEFAULT_VIEWS}) d GROUP BY d.to_id");
        let rest_filter = format!(
            "o.project_id = $1 AND o.md_type = 'views' AND ($2 = '' OR o.personal = 0 OR o.created_by_id = $2) \
             AND o.id NOT IN (SELECT dv.to_id FROM ({defaults}) dv)"
        );
        // Both counts in one round trip.
        let counts = format!(
            "SELECT (SELECT COUNT(*) FROM ({defaults}) dv) AS defaults, (SELECT COUNT(*) FROM md_objects o WHERE {rest_filter}) AS total"
        );
        let (default_count, rest_count) = self.md_counts(&counts, &[project_id, viewer]).await?;
        let mut items = Vec::new();
        if page.offset() < default_count {
            let sql = format!(
                "SELECT {MD_COLUMNS} FROM ({defaults}) dv JOIN md_objects o ON o.project_id = $1 AND o.id = dv.to_id \
                 ORDER BY dv.position LIMIT $2 OFFSET $3"
            );
            items = self.md_rows(&sql, &[project_id], page.size, page.offset()).await?;
        }
        let wanted = page.size - i64::try_from(items.len()).unwrap_or(0);
        if wanted > 0 {
            let offset = (page.offset() - default_count).max(0);
            let sql = format!("SELECT {MD_COLUMNS} FROM md_objects o WHERE {rest_filter} ORDER BY o.title, o.name LIMIT $3 OFFSET $4");
            items.extend(self.md_rows(&sql, &[project_id, viewer], wanted, offset).await?);
        }
        Ok(Page {
            items,
            total: default_count + rest_count,
        })
    }

    /// A query answering two counts, `defaults` and `total`, with text parameters `$1…`.
    async fn md_counts(&self, sql: &str, params: &[&str]) -> Result<(i64, i64)> {
        let mut query = self.read(sql);
        for p in params {
            query = query.bind(*p);
        }
        let row = query.fetch_one().await?;
        Ok((row.int("defaults")?, row.int("total")?))
    }

    /// Objects from a query with text parameters `$1…` followed by a limit and an offset.
    async fn md_rows(&self, sql: &str, params: &[&str], limit: i64, offset: i64) -> Result<Vec<MdObject>> {
        let mut query = self.read(sql);
        for p in params {
            query = query.bind(*p);
        }
        let rows = query.bind(limit).bind(offset).fetch_all().await?;
        rows.iter().map(md_from_row).collect()
    }

    /// Every object of the project, for dumps and the data model.
    pub async fn md_all(&self, project_id: &str, md_type: Option<MdType>) -> Result<Vec<MdObject>> {
        let rows = self
            .read(&format!(
                "SELECT {MD_COLUMNS} FROM md_objects o WHERE o.project_id = $1 AND ($2 = '' OR o.md_type = $2) ORDER BY o.md_type, o.name"
            ))
            .bind(project_id)
            .bind(md_type.map_or("", MdType::segment))
            .fetch_all()
            .await?;
        rows.iter().map(md_from_row).collect()
    }
}

fn event(md_type: MdType, name: &str, id: &str, version: i64) -> serde_json::Value {
    serde_json::json!({"type": md_type.type_value(), "name": name, "id": id, "version": version})
}

/// The queries that find an object by `key`, in the order to try them, each
/// with the value of its `$3` (`$1` is the project, `$2` the type).
fn lookups(key: MdKey<'_>) -> Vec<(String, &str)> {
    let by = |column: &str, value| {
        let sql = format!("SELECT {MD_COLUMNS} FROM md_objects o WHERE o.project_id = $1 AND o.md_type = $2 AND o.{column} = $3");
        (sql, value)
    };
    match key {
        MdKey::Id(id) => vec![by("id", id)],
        MdKey::Name(name) => vec![by("name", name)],
        MdKey::IdOrName(s) => vec![by("id", s), by("name", s)],
    }
}

/// Reads one object inside a transaction.
async fn fetch(tx: &mut Tx, project_id: &str, key: MdKey<'_>, md_type: MdType) -> Result<Option<MdObject>> {
    for (sql, value) in lookups(key) {
        let row = tx
            .query(&sql)
            .bind(project_id)
            .bind(md_type.segment())
            .bind(value)
            .fetch_optional()
            .await?;
        if let Some(row) = row {
            return md_from_row(&row).map(Some);
        }
    }
    Ok(None)
}

/// Replaces `current` with `write`: a new version, its links removed (the
/// caller inserts the new ones), its shares ended.
async fn replace_md(
    tx: &mut Tx,
    actor: &Actor,
    project_id: &str,
    current: &MdObject,
    author: Author<'_>,
    write: &MdWrite<'_>,
) -> Result<MdObject> {
    let id = current.id.as_str();
    if current.name != write.name {
        if let Some(by) = first_referrer(tx, project_id, id).await? {
            return Err(StoreError::Referenced { by });
        }
    }
    tx.query(
        "UPDATE md_objects SET name = $1, title = $2, body = $3, version = version + 1, modified_by = $4, modified_at = $5 \
         WHERE project_id = $6 AND id = $7",
    )
    .bind(write.name)
    .bind(write.title)
    .bind(write.body.to_string())
    .bind(author.email)
    .bind(crate::now_millis())
    .bind(project_id)
    .bind(id)
    .execute()
    .await
    .map_err(|e| StoreError::unique(e, "name"))?;
    tx.query("DELETE FROM md_links WHERE project_id = $1 AND from_id = $2")
        .bind(project_id)
        .bind(id)
        .execute()
        .await?;
    end_shares_of(tx, project_id, id).await?;
    let version = current.version + 1;
    record(
        tx,
        actor,
        Some(project_id),
        "update_metadata",
        event(write.md_type, write.name, id, version),
    )
    .await?;
    fetch(tx, project_id, MdKey::Id(id), write.md_type)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Resolves and stores the links of object `from_id`; a missing target, or
/// one that is not what the link needs, is refused.
async fn insert_links(tx: &mut Tx, project_id: &str, from_id: &str, links: &[MdLink]) -> Result<()> {
    for (ordinal, link) in links.iter().enumerate() {
        let (column, value) = match &link.target {
            LinkTarget::Id(id) => ("id", id.as_str()),
            LinkTarget::Name(name) => ("name", name.as_str()),
        };
        // The body is read only when the link needs something of it.
        let columns = if link.needs == LinkNeeds::Nothing { "id" } else { "id, name, body" };
        let target = tx
            .query(&format!(
                "SELECT {columns} FROM md_objects WHERE project_id = $1 AND md_type = $2 AND {column} = $3"
            ))
            .bind(project_id)
            .bind(link.md_type.segment())
            .bind(value)
            .fetch_optional()
            .await?;
        let Some(target) = target else {
            return Err(StoreError::LinkMissing {
                path: link.path.clone(),
                target: format!("{} {value}", link.md_type.type_value()),
            });
        };
        let to_id = target.text("id")?;
        if link.needs != LinkNeeds::Nothing {
            let body = serde_json::from_str(&target.text("body")?).map_err(|e| StoreError::Corrupt(format!("metadata body: {e}")))?;
            link.needs
                .check(&target.text("name")?, &body)
                .map_err(|message| StoreError::LinkUnfit {
                    path: link.path.clone(),
                    message,
                })?;
        }
        tx.query("INSERT INTO md_links (project_id, from_id, to_id, path, ordinal) VALUES ($1, $2, $3, $4, $5)")
            .bind(project_id)
            .bind(from_id)
            .bind(&to_id)
            .bind(&link.path)
            .bind(i64::try_from(ordinal).unwrap_or(i64::MAX))
            .execute()
            .await?;
    }
    Ok(())
}

/// After dataset `id` became `write` (its links in place): every link to it
/// that needs something of it (a foreign key, a dwh dataset) still finds it.
/// What a link needs is not stored; it is what validating the linking
/// dataset answers again. Only datasets make such links.
async fn check_links_to(tx: &mut Tx, project_id: &str, id: &str, write: &MdWrite<'_>) -> Result<()> {
    if write.md_type != MdType::Datasets {
        return Ok(());
    }
    let rows = tx
        .query(
            "SELECT o.name, o.body, l.path FROM md_links l JOIN md_objects o ON o.project_id = l.project_id AND o.id = l.from_id \
             WHERE l.project_id = $1 AND l.to_id = $2 AND o.md_type = 'datasets' ORDER BY o.name, l.path",
        )
        .bind(project_id)
        .bind(id)
        .fetch_all()
        .await?;
    for row in rows {
        let (name, path) = (row.text("name")?, row.text("path")?);
        let body: serde_json::Value =
            serde_json::from_str(&row.text("body")?).map_err(|e| StoreError::Corrupt(format!("metadata body: {e}")))?;
        // A stored dataset that no longer validates makes no claims.
        let Ok(links) = locus_core::metadata::validate(MdType::Datasets, &body, false, project_id) else {
            continue;
        };
        for link in links.iter().filter(|l| l.path == path) {
            link.needs
                .check(write.name, write.body)
                .map_err(|message| StoreError::ReferencedAs {
                    by: format!("dataset {name}"),
                    path: path.clone(),
                    message,
                })?;
        }
    }
    Ok(())
}

/// The first object that links to `id`, as `type name`.
async fn first_referrer(tx: &mut Tx, project_id: &str, id: &str) -> Result<Option<String>> {
    let row = tx
        .query(
            "SELECT o.md_type, o.name FROM md_links l JOIN md_objects o ON o.project_id = l.project_id AND o.id = l.from_id \
         WHERE l.project_id = $1 AND l.to_id = $2 AND l.from_id <> $2 ORDER BY o.md_type, o.name LIMIT 1",
        )
        .bind(project_id)
        .bind(id)
        .fetch_optional()
        .await?;
    row.map(|r| {
        let md_type = r.text("md_type")?;
        let name = r.text("name")?;
        let type_value = match MdType::from_segment(&md_type) {
            Some(t) => t.type_value().to_owned(),
            None => md_type,
        };
        Ok(format!("{type_value} {name}"))
    })
    .transpose()
}

/// Ends the shares whose view hierarchy contains object `id`.
async fn end_shares_of(tx: &mut Tx, project_id: &str, id: &str) -> Result<()> {
    tx.query(
        "DELETE FROM md_shares WHERE project_id = $1 AND id IN \
         (SELECT share_id FROM md_share_objects WHERE project_id = $1 AND object_id = $2)",
    )
    .bind(project_id)
    .bind(id)
    .execute()
    .await?;
    Ok(())
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl Store {
    /// Applies a whole set of objects in one transaction, all or nothing:
    /// each one is created, or replaces the object of its type and name
    /// (whatever its version), or is left alone when identical. The objects
    /// are written first and their links resolved after, so they may link to
    /// each other in any order, in cycles too (two datasets that name each
    /// other as foreign keys). A failure names the object:
    /// `InObject { object: "views/shops", .. }`.
    pub async fn push_md(&self, actor: &Actor, project_id: &str, author: Author<'_>, writes: &[MdWrite<'_>]) -> Result<PushSummary> {
        self.write(|mut tx| async move {
            let mut summary = PushSummary::default();
            let in_object = |write: &MdWrite<'_>, error: StoreError| StoreError::InObject {
                object: format!("{}/{}", write.md_type.segment(), write.name),
                error: Box::new(error),
            };
            // (id, write, whether it replaced an object) of what was written.
            let mut written = Vec::with_capacity(writes.len());
            for write in writes {
                match fetch(&mut tx, project_id, MdKey::Name(write.name), write.md_type).await? {
                    None => {
                        let created = insert_md(&mut tx, actor, project_id, author, write, false)
                            .await
                            .map_err(|e| in_object(write, e))?;
                        written.push((created.id, write, false));
                        summary.created += 1;
                    }
                    Some(existing) if existing.body_json().ok().as_ref() == Some(write.body) => summary.unchanged += 1,
                    Some(existing) => {
                        replace_md(&mut tx, actor, project_id, &existing, author, write)
                            .await
                            .map_err(|e| in_object(write, e))?;
                        written.push((existing.id, write, true));
                        summary.updated += 1;
                    }
                }
            }
            for (id, write, _) in &written {
                insert_links(&mut tx, project_id, id, write.links)
                    .await
                    .map_err(|e| in_object(write, e))?;
            }
            for (id, write, _) in written.iter().filter(|(_, _, replaced)| *replaced) {
                check_links_to(&mut tx, project_id, id, write)
                    .await
                    .map_err(|e| in_object(write, e))?;
            }
            let content = serde_json::json!({"created": summary.created, "updated": summary.updated, "unchanged": summary.unchanged});
            record(&mut tx, actor, Some(project_id), "push_metadata", content).await?;
            tx.commit().await?;
            Ok(summary)
        })
        .await
    }
}
