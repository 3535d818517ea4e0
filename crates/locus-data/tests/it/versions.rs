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

/// Written files are flushed before a switch: on a local directory a file
/// in new directories syncs, and a file that is not there is an error (the
/// job then fails rather than making a missing file current); a store whose
/// writes are durable on completion has nothing to flush.
#[tokio::test]
async fn written_files_are_made_durable_or_the_switch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let (v1, v2) = (
        DataStore::version_path("p1", "shops", "v1"),
        DataStore::version_path("p1", "zones", "v2"),
    );
    for v in [&v1, &v2] {
        data.store.put(v, b"rows".to_vec().into()).await.unwrap();
    }
    data.make_durable(&[v1.clone(), v2.clone()]).await.unwrap();
    let missing = DataStore::version_path("p1", "shops", "gone");
    let err = data.make_durable(&[v1, missing.clone()]).await.unwrap_err();
    assert!(
        matches!(err, locus_data::DataError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    let memory = DataStore::new(std::sync::Arc::new(object_store::memory::InMemory::new()));
    memory.make_durable(&[missing]).await.unwrap();
}

#[test]
fn s3_urls_are_parsed() {
    let data = DataStore::open("s3://bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=eu-central-1");
    assert!(data.is_ok(), "{data:?}");
    let err = DataStore::open("s3://bucket?colour=blue").unwrap_err();
    assert!(err.to_string().contains("unknown parameter colour"), "{err}");
}

/// An upload's parts read back as one stream, from the local store (the
/// files themselves) and through a remote-like stream (an in-memory store),
/// empty parts included, and a download of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_read_back_in_order_as_one_stream_and_download_whole() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let local = DataStore::open(dir.path().to_str().unwrap()).unwrap().store;
    let memory: std::sync::Arc<dyn ObjectStore> = std::sync::Arc::new(object_store::memory::InMemory::new());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let parts: [&[u8]; 3] = [b"id,name\n1,a\n", b"", &big];
    let want: Vec<u8> = parts.concat();
    for store in [local, memory] {
        let mut paths = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let path = StorePath::from(format!("uploads/u/{i}"));
            store.put(&path, part.to_vec().into()).await.unwrap();
            paths.push(path);
        }
        let reader = locus_data::transfer::read_files(store.clone(), paths.clone());
        let got = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut got = Vec::new();
            reader.read_to_end(&mut got).map(|_| got)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(got == want, "{} bytes read, {} written", got.len(), want.len());
        let chunks: Vec<bytes::Bytes> = locus_data::transfer::file_stream(store.clone(), &paths[2])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.concat() == big, "the download differs");
    }
}
