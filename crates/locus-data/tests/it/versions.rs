//! The object-store layout of versions.

use futures::TryStreamExt;
use locus_data::{DataStore, ObjectStore, StorePath};
use object_store::ObjectStoreExt;

#[test]
fn version_paths_follow_the_layout_and_encode_odd_names() {
    let path = DataStore::version_path("abcdefgh12345678", "shops", "v1");
    assert_eq!(path.as_ref(), "projects/abcdefgh12345678/datasets/shops/v1.parquet");
    let odd = DataStore::version_path("p", "a/b", "x");
    assert_eq!(odd.as_ref(), "projects/p/datasets/a%2Fb/x.parquet");
}

#[tokio::test]
async fn copy_list_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataStore::open(dir.path().join("new/dir").to_str().unwrap()).unwrap();
    let store = data.store.clone();
    let v1 = DataStore::version_path("p1", "shops", "v1");
    store.put(&v1, b"not really parquet".to_vec().into()).await.unwrap();
    store
        .put(&DataStore::version_path("p1", "zones", "v9"), b"z".to_vec().into())
        .await
        .unwrap();
    store
        .put(&DataStore::version_path("p2", "shops", "v0"), b"other".to_vec().into())
        .await
        .unwrap();

    let copied = data.copy_version(&v1, "p3", "shops", "v7").await.unwrap();
    assert_eq!(copied, DataStore::version_path("p3", "shops", "v7"));
    let bytes = store.get(&copied).await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"not really parquet");
    assert_eq!(data.list_versions("p3", "shops").await.unwrap(), ["v7"]);

    data.delete_version("p3", "shops", "v7").await.unwrap();
    data.delete_version("p3", "shops", "v7").await.unwrap(); // already gone: fine
    assert!(data.list_versions("p3", "shops").await.unwrap().is_empty());

    assert_eq!(data.delete_project("p1").await.unwrap(), 2);
    let left: Vec<StorePath> = store.list(None).map_ok(|o| o.location).try_collect().await.unwrap();
    assert_eq!(left, [DataStore::version_path("p2", "shops", "v0")]);
}

#[test]
fn s3_urls_are_parsed() {
    let data = DataStore::open("s3://bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=eu-central-1");
    assert!(data.is_ok(), "{data:?}");
    let err = DataStore::open("s3://bucket?colour=blue").unwrap_err();
    assert!(err.to_string().contains("unknown parameter colour"), "{err}");
}
