//! Dumping a version to CSV and loading the dump back.

use locus_data::{dump_csv, read_all, CsvOptions, StorePath};

use crate::load::load;
use crate::{everything, temp_store};

#[tokio::test]
async fn dump_then_load_gives_the_same_rows() {
    let (_dir, store) = temp_store();
    // Without the calculated column, so that the dump loads back as it is.
    let mut def = everything();
    def.properties.retain(|p| !p.calculated);
    let csv = "id,name,big,price,open,day,lat,lng,shape\n\
        1,\"a, \"\"quoted\"\"\nname\",-7,0.1,true,2024-02-29,50.5,-14.25,\"LINESTRING(1 2,3 4)\"\n\
        2,\"\",,,,,,,\n";
    load(&store, &def, &CsvOptions::default(), csv, "v1").await.unwrap();

    let mut out = Vec::new();
    let rows = dump_csv(store.clone(), &def, Some(&StorePath::from("v1")), &mut out).await.unwrap();
    assert_eq!(rows, 2);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "id,name,big,price,open,day,lat,lng,shape\n\
         1,\"a, \"\"quoted\"\"\nname\",-7,0.1,true,2024-02-29,50.5,-14.25,\"LINESTRING(1 2,3 4)\"\n\
         2,\"\",,,,,,,\n"
    );

    load(&store, &def, &CsvOptions::default(), &text, "v2").await.unwrap();
    let (a, b) = (
        read_all(store.clone(), &StorePath::from("v1")).await,
        read_all(store, &StorePath::from("v2")).await,
    );
    assert_eq!(a.unwrap(), b.unwrap());
}
