use crate::{contract, TestDb};
use locus_core::metadata::{validate, MdType};
use locus_store::{AuditQuery, Author, MdKey, MdWrite, NewProject, PageRequest, StoreError, Visibility};
use serde_json::{json, Value};

contract!(metadata: objects_are_found_by_id_and_by_name_and_names_are_unique, links_must_resolve_and_referenced_objects_stay,
    updates_need_the_current_version, personal_views_show_to_their_owner_until_they_are_default_views,
    shares_end_when_the_view_hierarchy_changes, stories_and_bookmarks, a_project_takes_its_content_with_it);

pub(crate) struct Fixture {
    pub db: TestDb,
    pub pid: String,
    pub ann: String,
    pub vic: String,
}

pub(crate) async fn fixture(db: TestDb) -> Fixture {
    let ann = crate::account(&db, "ann@example.org").await;
    let vic = crate::account(&db, "vic@example.org").await;
    let new = NewProject {
        title: "Shops".into(),
        description: None,
        organization_id: ann.default_organization_id.clone(),
    };
    let pid = db.store.create_project(&crate::actor(), &ann.id, &new).await.unwrap().0.id;
    Fixture {
        db,
        pid,
        ann: ann.id,
        vic: vic.id,
    }
}

impl Fixture {
    fn author(&self, who: &str) -> Author<'static> {
        let email = if who == self.ann { "ann@example.org" } else { "vic@example.org" };
        Author {
            account_id: Box::leak(who.to_owned().into_boxed_str()),
            email,
        }
    }

    /// Validates `body` like the server does and creates it.
    pub(crate) async fn create(
        &self,
        md_type: MdType,
        body: Value,
        who: &str,
        personal: bool,
    ) -> Result<locus_store::MdObject, StoreError> {
        let links = validate(md_type, &body, false, &self.pid).unwrap_or_else(|p| panic!("{body}: {p:?}"));
        let write = MdWrite {
            md_type,
            name: body["name"].as_str().unwrap(),
            title: body["title"].as_str(),
            body: &body,
            links: &links,
        };
        self.db
            .store
            .create_md(&crate::actor(), &self.pid, self.author(who), &write, personal)
            .await
    }

    async fn update(&self, md_type: MdType, id: &str, version: i64, body: Value) -> Result<locus_store::MdObject, StoreError> {
        let links = validate(md_type, &body, false, &self.pid).unwrap();
        let write = MdWrite {
            md_type,
            name: body["name"].as_str().unwrap(),
            title: body["title"].as_str(),
            body: &body,
            links: &links,
        };
        let author = self.author(&self.ann);
        self.db
            .store
            .update_md(&crate::actor(), &self.pid, id, version, author, &write)
            .await
    }
}

pub(crate) fn metric(name: &str) -> Value {
    json!({"name": name, "type": "metric", "content": {"type": "function_sum", "content": [{"type": "property", "value": "baskets.amount"}]}})
}

fn indicator(name: &str, metric: &str) -> Value {
    json!({"name": name, "type": "indicator", "title": "Sales", "description": "Turnover",
        "content": {"metric": format!("/rest/projects/$projectId/md/metrics?name={metric}")}})
}

pub(crate) fn dashboard(name: &str) -> Value {
    json!({"name": name, "type": "dashboard", "content": {"blockRows": []}})
}

pub(crate) fn view(name: &str, title: &str, dashboard: &str) -> Value {
    json!({"name": name, "type": "view", "title": title, "description": "A view",
        "content": {"dashboard": format!("/rest/projects/$projectId/md/dashboards?name={dashboard}")}})
}

async fn objects_are_found_by_id_and_by_name_and_names_are_unique(db: TestDb) {
    let f = fixture(db).await;
    let m = f.create(MdType::Metrics, metric("sales"), &f.ann, false).await.unwrap();
    assert_eq!((m.id.len(), m.version, m.created_by.as_str()), (16, 1, "ann@example.org"));
    let store = &f.db.store;
    for key in [
        MdKey::Id(&m.id),
        MdKey::Name("sales"),
        MdKey::IdOrName(&m.id),
        MdKey::IdOrName("sales"),
    ] {
        let found = store.md_object(&f.pid, MdType::Metrics, key).await.unwrap().unwrap();
        assert_eq!(found.id, m.id, "{key:?}");
    }
    assert!(
        store
            .md_object(&f.pid, MdType::Indicators, MdKey::Name("sales"))
            .await
            .unwrap()
            .is_none(),
        "per type"
    );
    assert!(matches!(
        f.create(MdType::Metrics, metric("sales"), &f.ann, false).await,
        Err(StoreError::Conflict("name"))
    ));
    let settings = json!({"name": "settings", "type": "projectSettings", "content": {"geoSearchProviders": ["Mapbox"]}});
    f.create(MdType::ProjectSettings, settings.clone(), &f.ann, false).await.unwrap();
    let mut second = settings;
    second["name"] = json!("settings_two");
    assert!(matches!(
        f.create(MdType::ProjectSettings, second, &f.ann, false).await,
        Err(StoreError::Conflict("projectSettings"))
    ));
    let events = store
        .audit_events(&AuditQuery {
            project_id: Some(f.pid.clone()),
            event_types: vec!["create_metadata".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "refused creations leave no event");
    assert!(events
        .iter()
        .any(|e| e.content_json()["name"] == "sales" && e.content_json()["type"] == "metric" && e.content_json()["version"] == 1));
}

async fn links_must_resolve_and_referenced_objects_stay(db: TestDb) {
    let f = fixture(db).await;
    let err = f
        .create(MdType::Indicators, indicator("sales_indicator", "sales"), &f.ann, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::LinkMissing { path, .. } if path == "content.metric"),
        "{err:?}"
    );
    let m = f.create(MdType::Metrics, metric("sales"), &f.ann, false).await.unwrap();
    let i = f
        .create(MdType::Indicators, indicator("sales_indicator", "sales"), &f.ann, false)
        .await
        .unwrap();
    let store = &f.db.store;
    let err = store.delete_md(&crate::actor(), &f.pid, MdType::Metrics, &m.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Referenced { by } if by == "indicator sales_indicator"),
        "{err:?}"
    );
    let err = f.update(MdType::Metrics, &m.id, 1, metric("renamed")).await.unwrap_err();
    assert!(matches!(err, StoreError::Referenced { .. }), "renaming would break links by name");
    store.delete_md(&crate::actor(), &f.pid, MdType::Indicators, &i.id).await.unwrap();
    store.delete_md(&crate::actor(), &f.pid, MdType::Metrics, &m.id).await.unwrap();
    assert!(store.md_object(&f.pid, MdType::Metrics, MdKey::Id(&m.id)).await.unwrap().is_none());
    assert!(matches!(
        store.delete_md(&crate::actor(), &f.pid, MdType::Metrics, &m.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn updates_need_the_current_version(db: TestDb) {
    let f = fixture(db).await;
    let m = f.create(MdType::Metrics, metric("sales"), &f.ann, false).await.unwrap();
    let mut changed = metric("sales");
    changed["description"] = json!("Sum of baskets");
    let v2 = f.update(MdType::Metrics, &m.id, 1, changed.clone()).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.body_json().unwrap()["description"], "Sum of baskets");
    assert!(matches!(
        f.update(MdType::Metrics, &m.id, 1, changed.clone()).await,
        Err(StoreError::VersionMismatch { current: 2 })
    ));
    let as_indicator = MdWrite {
        md_type: MdType::Indicators,
        name: "sales",
        title: None,
        body: &changed,
        links: &[],
    };
    let wrong_type =
        f.db.store
            .update_md(&crate::actor(), &f.pid, &m.id, 2, f.author(&f.ann), &as_indicator)
            .await;
    assert!(matches!(wrong_type, Err(StoreError::NotFound)), "the id is a metric's");
}

async fn personal_views_show_to_their_owner_until_they_are_default_views(db: TestDb) {
    let f = fixture(db).await;
    f.create(MdType::Dashboards, dashboard("main"), &f.ann, false).await.unwrap();
    f.create(MdType::Views, view("zeta", "Zeta", "main"), &f.ann, false).await.unwrap();
    f.create(MdType::Views, view("alpha", "Alpha", "main"), &f.ann, false)
        .await
        .unwrap();
    let mine = f
        .create(MdType::Views, view("vics", "Vic's corner", "main"), &f.vic, true)
        .await
        .unwrap();
    let store = &f.db.store;
    let page = PageRequest { page: 0, size: 100 };
    let names = |p: locus_store::Page<locus_store::MdObject>| p.items.into_iter().map(|o| o.name).collect::<Vec<_>>();
    let for_ann_without_update_all = store
        .md_list(&f.pid, MdType::Views, Visibility::OwnPersonal(&f.ann), page)
        .await
        .unwrap();
    assert_eq!(names(for_ann_without_update_all), ["alpha", "zeta"]);
    let for_vic = store
        .md_list(&f.pid, MdType::Views, Visibility::OwnPersonal(&f.vic), page)
        .await
        .unwrap();
    assert_eq!(names(for_vic), ["alpha", "vics", "zeta"], "by title");
    assert!(!store.md_visible(&mine, Visibility::OwnPersonal(&f.ann)).await.unwrap());
    assert!(store.md_visible(&mine, Visibility::All).await.unwrap());

    let settings = json!({"name": "settings", "type": "projectSettings", "content": {"geoSearchProviders": ["Mapbox"],
        "defaultViews": ["/rest/projects/$projectId/md/views?name=zeta", "/rest/projects/$projectId/md/views?name=vics"]}});
    f.create(MdType::ProjectSettings, settings, &f.ann, false).await.unwrap();
    let for_ann = store
        .md_list(&f.pid, MdType::Views, Visibility::OwnPersonal(&f.ann), page)
        .await
        .unwrap();
    assert_eq!(for_ann.total, 3);
    assert_eq!(names(for_ann), ["zeta", "vics", "alpha"], "default views first, in their order");
    assert!(store.md_visible(&mine, Visibility::OwnPersonal(&f.ann)).await.unwrap());
}

async fn shares_end_when_the_view_hierarchy_changes(db: TestDb) {
    let f = fixture(db).await;
    let d = f.create(MdType::Dashboards, dashboard("main"), &f.ann, false).await.unwrap();
    let v = f
        .create(MdType::Views, view("shops", "Shops", "main"), &f.ann, false)
        .await
        .unwrap();
    let unrelated = f.create(MdType::Metrics, metric("other"), &f.ann, false).await.unwrap();
    let store = &f.db.store;
    let state = json!({"zoom": 9});
    let share = store.create_share(&crate::actor(), &f.pid, &v.id, &f.vic, &state).await.unwrap();
    assert_eq!(store.share(&f.pid, &share.id).await.unwrap().unwrap().state, state);
    f.update(MdType::Metrics, &unrelated.id, 1, metric("other")).await.unwrap();
    assert!(store.share(&f.pid, &share.id).await.unwrap().is_some(), "outside the hierarchy");
    let mut changed = dashboard("main");
    changed["description"] = json!("Changed");
    f.update(MdType::Dashboards, &d.id, 1, changed).await.unwrap();
    assert!(
        store.share(&f.pid, &share.id).await.unwrap().is_none(),
        "the dashboard is under the view"
    );
    assert!(
        matches!(
            store.create_share(&crate::actor(), &f.pid, &d.id, &f.vic, &state).await,
            Err(StoreError::NotFound)
        ),
        "only views are shared"
    );
}

async fn stories_and_bookmarks(db: TestDb) {
    let f = fixture(db).await;
    let store = &f.db.store;
    let blocks = json!([{"type": "text", "text": "Hello"}]);
    let s = store
        .create_story(&crate::actor(), &f.pid, f.author(&f.ann), "Q3", Some("Review"), &blocks)
        .await
        .unwrap();
    assert_eq!((s.version, s.blocks.clone()), (1, blocks));
    let s2 = store
        .update_story(&crate::actor(), &f.pid, &s.id, 1, f.author(&f.vic), "Q3 review", None, &json!([]))
        .await
        .unwrap();
    assert_eq!(
        (s2.version, s2.title.as_str(), s2.modified_by.as_str()),
        (2, "Q3 review", "vic@example.org")
    );
    assert!(matches!(
        store
            .update_story(&crate::actor(), &f.pid, &s.id, 1, f.author(&f.ann), "x", None, &json!([]))
            .await,
        Err(StoreError::VersionMismatch { current: 2 })
    ));
    assert_eq!(store.stories(&f.pid, PageRequest { page: 0, size: 10 }).await.unwrap().total, 1);
    store.delete_story(&crate::actor(), &f.pid, &s.id).await.unwrap();
    assert!(store.story(&f.pid, &s.id).await.unwrap().is_none());

    let b = store
        .create_bookmark(&crate::actor(), &f.pid, &f.vic, "north", "North", &json!({"zoom": 3}))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_bookmark(&crate::actor(), &f.pid, &f.vic, "north", "Again", &json!({}))
            .await,
        Err(StoreError::Conflict("name"))
    ));
    store
        .create_bookmark(&crate::actor(), &f.pid, &f.ann, "north", "Ann's", &json!({}))
        .await
        .unwrap();
    assert_eq!(store.bookmarks(&f.pid, &f.vic).await.unwrap().len(), 1, "private to their owner");
    assert!(store.bookmark(&f.pid, &f.ann, &b.id).await.unwrap().is_none());
    assert!(matches!(
        store.delete_bookmark(&crate::actor(), &f.pid, &f.ann, &b.id).await,
        Err(StoreError::NotFound)
    ));
    let b2 = store
        .update_bookmark(&crate::actor(), &f.pid, &f.vic, &b.id, "Far north", &json!({"zoom": 2}))
        .await
        .unwrap();
    assert_eq!((b2.title.as_str(), b2.state["zoom"].as_i64()), ("Far north", Some(2)));
    store.delete_bookmark(&crate::actor(), &f.pid, &f.vic, &b.id).await.unwrap();
}

async fn a_project_takes_its_content_with_it(db: TestDb) {
    let f = fixture(db).await;
    f.create(MdType::Dashboards, dashboard("main"), &f.ann, false).await.unwrap();
    let v = f
        .create(MdType::Views, view("shops", "Shops", "main"), &f.ann, false)
        .await
        .unwrap();
    let store = &f.db.store;
    store
        .create_share(&crate::actor(), &f.pid, &v.id, &f.ann, &json!({}))
        .await
        .unwrap();
    store
        .create_story(&crate::actor(), &f.pid, f.author(&f.ann), "S", None, &json!([]))
        .await
        .unwrap();
    store
        .create_bookmark(&crate::actor(), &f.pid, &f.ann, "b", "B", &json!({}))
        .await
        .unwrap();
    store.delete_project(&crate::actor(), &f.pid).await.unwrap();
    assert!(store.md_all(&f.pid, None).await.unwrap().is_empty());
    assert_eq!(store.stories(&f.pid, PageRequest { page: 0, size: 10 }).await.unwrap().total, 0);
    assert!(store.bookmarks(&f.pid, &f.ann).await.unwrap().is_empty());
}
