//! Incremental loads replace rows by primary key.

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use locus_data::{read_all, upsert, CsvOptions, DatasetDef, RecordBatch, StorePath};
use serde_json::json;

use crate::load::load;
use crate::{pairs, temp_store};

fn rows(batches: &[RecordBatch]) -> Vec<(i64, Option<String>)> {
    let mut out: Vec<_> = batches
        .iter()
        .flat_map(|b| {
            let ids = b.column(0).as_primitive::<Int64Type>().clone();
            let names = b.column(1).as_string::<i32>().clone();
            (0..b.num_rows()).map(move |i| (ids.value(i), names.is_valid(i).then(|| names.value(i).to_owned())))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn upsert_replaces_by_key_and_keeps_the_rest() {
    let (_dir, store) = temp_store();
    let def = pairs();
    let opts = CsvOptions::default();
    load(&store, &def, &opts, "id,name\n1,one\n2,two\n3,three\n", "v1").await.unwrap();
    load(&store, &def, &opts, "id,name\n2,TWO\n4,four\n3,\n", "new").await.unwrap();

    let (v1, new, v2) = (StorePath::from("v1"), StorePath::from("new"), StorePath::from("v2"));
    let written = upsert(store.clone(), &def, Some(&v1), &new, &v2).await.unwrap();
    assert_eq!(written, 4);
    let got = rows(&read_all(store.clone(), &v2).await.unwrap());
    assert_eq!(
        got,
        [
            (1, Some("one".into())),
            (2, Some("TWO".into())),
            (3, None),
            (4, Some("four".into())),
        ]
    );
    // The result keeps the dataset's schema, key non-null included.
    let batches = read_all(store.clone(), &v2).await.unwrap();
    assert_eq!(batches[0].schema(), def.arrow_schema());

    // Without a previous version the result is the new rows.
    let first = StorePath::from("first");
    assert_eq!(upsert(store.clone(), &def, None, &new, &first).await.unwrap(), 3);
}

#[tokio::test]
async fn an_older_version_without_a_new_property_reads_it_as_null() {
    let (_dir, store) = temp_store();
    load(&store, &pairs(), &CsvOptions::default(), "id,name\n1,one\n2,two\n", "v1")
        .await
        .unwrap();
    let wider = DatasetDef::from_metadata(
        "pairs",
        &json!({"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [
            {"name": "id", "column": "id", "type": "integer"},
            {"name": "name", "column": "name", "type": "string"},
            {"name": "size", "column": "size", "type": "decimal"}
        ]}),
    )
    .unwrap();
    load(&store, &wider, &CsvOptions::default(), "id,name,size\n2,TWO,2.5\n", "new")
        .await
        .unwrap();
    let out = StorePath::from("v2");
    upsert(store.clone(), &wider, Some(&StorePath::from("v1")), &StorePath::from("new"), &out)
        .await
        .unwrap();
    let batches = read_all(store, &out).await.unwrap();
    let batch = arrow::compute::concat_batches(&wider.arrow_schema(), &batches).unwrap();
    let mut got: Vec<(i64, Option<f64>)> = (0..batch.num_rows())
        .map(|i| {
            let size = batch.column(2).as_primitive::<arrow::datatypes::Float64Type>();
            (
                batch.column(0).as_primitive::<Int64Type>().value(i),
                size.is_valid(i).then(|| size.value(i)),
            )
        })
        .collect();
    got.sort_by_key(|r| r.0);
    assert_eq!(got, [(1, None), (2, Some(2.5))]);
}
