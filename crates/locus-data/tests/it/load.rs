//! CSV → Parquet loads: values, NULLs, problems, and all-or-nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use futures::TryStreamExt;
use locus_data::{load_csv, read_all, CsvOptions, DataError, DatasetDef, LoadOutcome, ObjectStore, Problem, StorePath};
use object_store::ObjectStoreExt;

use crate::{everything, pairs, temp_store};

pub async fn load(
    store: &Arc<dyn ObjectStore>,
    def: &DatasetDef,
    opts: &CsvOptions,
    csv: &str,
    path: &str,
) -> Result<LoadOutcome, DataError> {
    let input = std::io::Cursor::new(csv.as_bytes().to_vec());
    load_csv(input, def, opts, store.clone(), &StorePath::from(path), Default::default(), |_| {}).await
}

async fn problems(def: &DatasetDef, opts: &CsvOptions, csv: &str) -> (Vec<Problem>, u64, usize) {
    let (_dir, store) = temp_store();
    let err = load(&store, def, opts, csv, "out.parquet").await.unwrap_err();
    let objects: Vec<_> = store.list(None).try_collect().await.unwrap();
    match err {
        DataError::Invalid { problems, total } => (problems, total, objects.len()),
        other => panic!("{other:?}"),
    }
}

fn p(line: u64, column: &str, value: &str, expected: &str) -> Problem {
    Problem {
        line,
        column: column.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

#[tokio::test]
async fn every_type_round_trips() {
    let (_dir, store) = temp_store();
    let csv = "id,name,big,price,open,day,lat,lng,shape\n\
        1,Ann,9007199254740993,1.5,TRUE,2024-02-29,50.08,14.42,\"POLYGON((0 0,1 0,1 1,0 0))\"\n\
        2,\"\",-3,1e3,0,1969-12-31,-90,180,\"{\"\"type\"\":\"\"LineString\"\",\"\"coordinates\"\":[[1,2],[3,4]]}\"\n\
        3,,,,,,,,\n";
    let outcome = load(&store, &everything(), &CsvOptions::default(), csv, "a/b.parquet")
        .await
        .unwrap();
    assert_eq!((outcome.rows, outcome.bytes), (3, csv.len() as u64));
    let head = store.head(&StorePath::from("a/b.parquet")).await.unwrap();
    assert_eq!(outcome.parquet_bytes, head.size);

    let batches = read_all(store, &StorePath::from("a/b.parquet")).await.unwrap();
    let batch = arrow::compute::concat_batches(&everything().arrow_schema(), &batches).unwrap();
    assert_eq!(batch.num_rows(), 3);
    let int = |c: &str| batch.column_by_name(c).unwrap().as_primitive::<Int64Type>().clone();
    let float = |c: &str| batch.column_by_name(c).unwrap().as_primitive::<Float64Type>().clone();
    assert_eq!(int("id").values().to_vec(), [1, 2, 3]);
    let name = batch.column_by_name("name").unwrap().as_string::<i32>();
    assert_eq!((name.value(0), name.value(1), name.is_null(2)), ("Ann", "", true));
    assert_eq!(
        (int("big").value(0), int("big").value(1), int("big").is_null(2)),
        (9_007_199_254_740_993, -3, true)
    );
    assert_eq!((float("price").value(0), float("price").value(1)), (1.5, 1000.0));
    let open = batch.column_by_name("open").unwrap().as_boolean();
    assert_eq!((open.value(0), open.value(1), open.is_null(2)), (true, false, true));
    let day = batch.column_by_name("day").unwrap().as_primitive::<Date32Type>();
    assert_eq!((day.value(0), day.value(1)), (19_782, -1));
    assert_eq!((float("lat").value(1), float("lng").value(1)), (-90.0, 180.0));
    let shape = batch.column_by_name("shape").unwrap().as_binary::<i32>();
    let wkt = locus_data::geometry::wkb_to_wkt(shape.value(0)).unwrap();
    assert_eq!(wkt, "POLYGON((0 0,1 0,1 1,0 0))");
    assert!(shape.is_null(2));
    // Calculated: stored, all NULL until the area mapper exists.
    assert_eq!(batch.column_by_name("zone").unwrap().null_count(), 3);
}

#[tokio::test]
async fn type_errors_name_line_property_and_value() {
    let csv = "id,name,big,price,open,day,lat,lng,shape\n\
        1,a,x1,1.5,true,2024-01-01,1,1,\n\
        2,b,1,1,1,2024-02-30,91,-181,POLYGON\n\
        3,\"\nc\",1.5,NaN,yes,,,,\n";
    let (problems, total, objects) = problems(&everything(), &CsvOptions::default(), csv).await;
    assert_eq!(
        problems,
        [
            p(2, "big", "x1", "an integer"),
            p(3, "day", "2024-02-30", "a date (YYYY-MM-DD)"),
            p(3, "lat", "91", "a latitude (a number from -90 to 90)"),
            p(3, "lng", "-181", "a longitude (a number from -180 to 180)"),
            p(3, "shape", "POLYGON", "a geometry (WKT or GeoJSON)"),
            p(4, "big", "1.5", "an integer"),
            p(4, "price", "NaN", "a decimal number"),
            p(4, "open", "yes", "a boolean (true, false, 1 or 0)"),
        ]
    );
    assert_eq!((total, objects), (8, 0));
}

#[tokio::test]
async fn column_counts_and_utf8_are_checked_per_record() {
    let csv: &[u8] = b"id,name\n1,a\n2\n3,c,extra\n\"4x\n\",d\n5,\xff\n";
    let (_dir, store) = temp_store();
    let err = load_csv(
        csv,
        &pairs(),
        &CsvOptions::default(),
        store,
        &StorePath::from("x"),
        Default::default(),
        |_| {},
    )
    .await;
    match err.unwrap_err() {
        DataError::Invalid { problems, total } => {
            assert_eq!(total, 4);
            assert_eq!(problems[0], p(3, "", "1 field", "2 fields"));
            assert_eq!(problems[1], p(4, "", "3 fields", "2 fields"));
            // "4x\n" is no integer; the record starts on line 5.
            assert_eq!(problems[2], p(5, "id", "4x\n", "an integer"));
            assert_eq!(problems[3], p(7, "name", "\u{fffd}", "UTF-8 text"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn primary_keys_are_present_and_unique() {
    let csv = "id,name\n1,a\n,b\n01,c\n2,d\n2,e\n";
    let (problems, total, objects) = problems(&pairs(), &CsvOptions::default(), csv).await;
    assert_eq!(
        problems,
        [
            p(3, "id", "", "a value (the primary key cannot be null)"),
            p(4, "id", "01", "a unique value (the primary key repeats)"),
            p(6, "id", "2", "a unique value (the primary key repeats)"),
        ]
    );
    assert_eq!((total, objects), (3, 0));
}

#[tokio::test]
async fn a_failed_load_leaves_nothing_even_after_parts_were_uploaded() {
    // Enough rows for several row groups (multipart parts) before the bad one.
    let mut csv = String::from("id,name\n");
    for i in 0..600_000 {
        csv.push_str(&format!("{i},name number {i} with some padding to make it longer\n"));
    }
    csv.push_str("oops,z\n");
    let (problems, total, objects) = problems(&pairs(), &CsvOptions::default(), &csv).await;
    assert_eq!(problems, [p(600_002, "id", "oops", "an integer")]);
    assert_eq!((total, objects), (1, 0));
}

#[tokio::test]
async fn only_the_first_100_problems_are_kept_but_all_are_counted() {
    let mut csv = String::from("id,name\n");
    for i in 0..250 {
        csv.push_str(&format!("x{i},a\n"));
    }
    let (problems, total, _) = problems(&pairs(), &CsvOptions::default(), &csv).await;
    assert_eq!((problems.len(), total), (100, 250));
    assert_eq!(problems[99], p(101, "id", "x99", "an integer"));
}

#[tokio::test]
async fn null_text_applies_everywhere_or_in_force_null_columns() {
    let three = DatasetDef::from_metadata(
        "t",
        &serde_json::json!({"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [
            {"name": "id", "column": "id", "type": "integer"},
            {"name": "a", "column": "col_a", "type": "string"},
            {"name": "b", "column": "b", "type": "string"}
        ]}),
    )
    .unwrap();
    let names = |batches: &[arrow::array::RecordBatch], c: &str| -> Vec<Option<String>> {
        let col = batches[0].column_by_name(c).unwrap().as_string::<i32>();
        col.iter().map(|v| v.map(str::to_owned)).collect()
    };
    let csv = "id,a,b\n1,NA,NA\n2,\"\",\"\"\n3,\"NA\",x\n";
    let (_dir, store) = temp_store();

    let everywhere = CsvOptions {
        null: Some("NA".into()),
        ..CsvOptions::default()
    };
    load(&store, &three, &everywhere, csv, "1").await.unwrap();
    let batches = read_all(store.clone(), &StorePath::from("1")).await.unwrap();
    assert_eq!(names(&batches, "a"), [None, Some(String::new()), None]);
    assert_eq!(names(&batches, "b"), [None, Some(String::new()), Some("x".into())]);

    // By column name or property name; quoted empty becomes NULL there too.
    let only_a = CsvOptions {
        force_null: Some(vec!["col_a".into()]),
        ..everywhere.clone()
    };
    load(&store, &three, &only_a, csv, "2").await.unwrap();
    let batches = read_all(store.clone(), &StorePath::from("2")).await.unwrap();
    assert_eq!(names(&batches, "a"), [None, Some(String::new()), None]);
    assert_eq!(names(&batches, "b"), [Some("NA".into()), Some(String::new()), Some("x".into())]);

    let force_alone = CsvOptions {
        force_null: Some(vec!["b".into()]),
        ..CsvOptions::default()
    };
    load(&store, &three, &force_alone, csv, "3").await.unwrap();
    let batches = read_all(store.clone(), &StorePath::from("3")).await.unwrap();
    assert_eq!(names(&batches, "a"), [Some("NA".into()), Some(String::new()), Some("NA".into())]);
    assert_eq!(names(&batches, "b"), [Some("NA".into()), None, Some("x".into())]);

    let unknown = CsvOptions {
        force_null: Some(vec!["zzz".into()]),
        ..CsvOptions::default()
    };
    let err = load(&store, &three, &unknown, csv, "4").await.unwrap_err();
    assert!(matches!(err, DataError::CsvOption { field: "forceNull", .. }), "{err:?}");
}

#[tokio::test]
async fn without_header_and_with_progress() {
    let (_dir, store) = temp_store();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let opts = CsvOptions {
        header: false,
        ..CsvOptions::default()
    };
    let csv = "1,a\n2,b\n";
    let input = std::io::Cursor::new(csv.as_bytes().to_vec());
    let outcome = load_csv(
        input,
        &pairs(),
        &opts,
        store.clone(),
        &StorePath::from("p"),
        Default::default(),
        move |p| {
            counter.store(p.rows * 1000 + p.bytes, Ordering::SeqCst);
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.rows, 2);
    assert_eq!(seen.load(Ordering::SeqCst), 2008);
}
